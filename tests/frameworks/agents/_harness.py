"""What every framework agent script shares: arguments, Driftline's setup, the two tools, the question.

Each script runs inside its framework's own environment (``.envs/<env>``, made by ``make frameworks``),
so it imports nothing from the test suite: only this file, Driftline and the framework.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any

from driftline.instrumentation import setup, shutdown

ORDERS = {42: "shipped Monday"}


def lookup_order(order_id: int) -> str:
    """Look up the status of an order by its numeric id."""
    return ORDERS.get(int(order_id), "unknown order")


def get_weather(city: str) -> str:
    """Get today's weather in a city."""
    return f"sunny in {city}"


def question(i: int) -> str:
    """The user's question for run ``i``: the marker keys the loopback server's script per conversation."""
    return f"[run-{i}] Where is order 42, and what is the weather in Paris?"


def main(run: Callable[[argparse.Namespace, int], Any]) -> None:
    """Parse the arguments, turn Driftline on with instrument="auto", run the agent ``--runs`` times."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--llm", required=True, help="base URL of the OpenAI-compatible server (…/v1)")
    parser.add_argument("--endpoint", required=True, help="the receiver's OTLP/HTTP endpoint")
    parser.add_argument("--version", default="v1")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--zero-code", action="store_true", help="run under opentelemetry-instrument: no setup()")
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(name)s: %(message)s")
    if args.zero_code:  # the OTEL_* variables and the instrumentors' entry points do everything
        for i in range(args.runs):
            print(run(args, i), flush=True)
        return
    setup(
        service_name="framework-agent",
        version=args.version,
        endpoint=args.endpoint,
        protocol="http",
        capture_content=False,
        instrument="auto",
    )
    try:
        for i in range(args.runs):
            print(run(args, i), flush=True)
    finally:
        shutdown()
