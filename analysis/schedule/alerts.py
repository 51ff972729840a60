"""Alert sinks — a generic JSON webhook, a Slack-compatible webhook, a command hook — with retries.

Why retries with backoff and no exception escaping: an alert endpoint that is down must not stop the
scheduler or lose the report; each failure is logged and retried a bounded number of times.
"""

from __future__ import annotations

import json
import logging
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

from driftline.analysis import plugins

log = logging.getLogger("driftline.alerts")
TYPES = ("webhook", "slack", "command")
EMOJI = {
    "stable": ":large_green_circle:",
    "review": ":large_yellow_circle:",
    "block": ":red_circle:",
    "insufficient": ":large_blue_circle:",
}


def validate(sinks: dict[str, dict[str, Any]]) -> None:
    for name, sink in sinks.items():
        kind = sink.get("type")
        extra = plugins.alert_sinks()
        if kind not in TYPES and kind not in extra:
            raise ValueError(f"[alerts.{name}]: type must be one of {', '.join((*TYPES, *sorted(extra)))}")
        if kind in ("webhook", "slack") and not str(sink.get("url", "")).startswith(("http://", "https://")):
            raise ValueError(f'[alerts.{name}]: needs url = "https://…"')
        if kind == "command" and not sink.get("command"):
            raise ValueError(f'[alerts.{name}]: needs command = "…"')


def payload(event: dict[str, Any]) -> dict[str, Any]:
    """The generic webhook body (documented in the README)."""
    return event


def slack_body(event: dict[str, Any]) -> dict[str, Any]:
    v = event["verdict"]
    head = (
        f"{EMOJI.get(v, '')} Driftline *{event['report']}*: *{v.upper()}* "
        f"(was {event['previous_verdict'] or 'n/a'}) — score {event['score']:.2f} "
        f"(95% CI {event['score_low']:.2f}–{event['score_high']:.2f})"
    )
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"{event['baseline']} → {event['candidate']} · {event['reason']}"}],
        },
    ]
    if event["hypotheses"]:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": "\n".join(f"{i}. {h}" for i, h in enumerate(event["hypotheses"], 1)),
                },
            }
        )
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Report: {event['report_path']}"}]})
    return {"text": head, "blocks": blocks}


def _post(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float) -> None:
    data = json.dumps(body).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/json", **headers},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status >= 300:
            raise OSError(f"HTTP {response.status}")


def _send_once(sink: dict[str, Any], event: dict[str, Any]) -> None:
    timeout = float(sink.get("timeout", 10))
    if sink["type"] == "webhook":
        _post(sink["url"], payload(event), dict(sink.get("headers", {})), timeout)
    elif sink["type"] == "slack":
        _post(sink["url"], slack_body(event), {}, timeout)
    elif sink["type"] in (extra := plugins.alert_sinks()):  # a plugin's sink: it raises to be retried
        extra[sink["type"]](dict(sink), payload(event))
    else:
        command = sink["command"]
        argv = shlex.split(command) if isinstance(command, str) else list(command)
        env_vars = {
            "DRIFTLINE_REPORT": event["report"],
            "DRIFTLINE_VERDICT": event["verdict"],
            "DRIFTLINE_SCORE": f"{event['score']:.4f}",
            "DRIFTLINE_REPORT_PATH": event["report_path"],
        }
        import os

        done = subprocess.run(
            argv,
            input=json.dumps(event).encode(),
            env={**os.environ, **env_vars},
            timeout=timeout,
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            raise OSError(f"command exited {done.returncode}: {done.stderr.decode(errors='replace')[:200]}")


def send(name: str, sink: dict[str, Any], event: dict[str, Any]) -> bool:
    """Deliver with up to ``retries`` attempts and exponential backoff; never raises."""
    attempts = int(sink.get("retries", 3))
    delay = float(sink.get("backoff", 1.0))
    for attempt in range(1, attempts + 1):
        try:
            _send_once(sink, event)
            log.info("alert %s delivered to %s (attempt %d)", event["report"], name, attempt)
            return True
        except (OSError, urllib.error.URLError, subprocess.SubprocessError, ValueError) as exc:
            log.warning("alert %s to %s failed (attempt %d/%d): %s", event["report"], name, attempt, attempts, exc)
            if attempt < attempts:
                time.sleep(delay * 2 ** (attempt - 1))
    log.error("alert %s to %s not delivered after %d attempts", event["report"], name, attempts)
    return False
