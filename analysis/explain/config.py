"""``[rca]`` in driftline.toml: which OpenAI-compatible endpoint and model explain reports."""

from __future__ import annotations

import os
from dataclasses import dataclass

KEYS = ("endpoint", "model", "api_key_env", "timeout", "max_texts", "otlp_endpoint")


@dataclass(frozen=True)
class RcaConfig:
    endpoint: str | None = None  # base URL, e.g. http://localhost:11434/v1 (Ollama) or https://api.openai.com/v1
    model: str | None = None
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key (none needed locally)
    timeout: float = 30.0  # seconds for the whole call; slower is treated as unreachable
    max_texts: int = 6  # representative answers sent along (stored content only)
    otlp_endpoint: str | None = None  # where the explainer's own spans go (default: OTEL_EXPORTER_OTLP_ENDPOINT)

    @property
    def configured(self) -> bool:
        return bool(self.endpoint and self.model)

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) or None


def config_from(section: dict[str, object] | None) -> RcaConfig:
    """The ``[rca]`` table as a config; unknown keys and wrong types are errors naming the key."""
    section = dict(section or {})
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ValueError(f"[rca]: unknown key(s) {', '.join(unknown)}; known: {', '.join(KEYS)}")
    for key in ("endpoint", "model", "api_key_env", "otlp_endpoint"):
        if key in section and not isinstance(section[key], str):
            raise ValueError(f"[rca] {key}: expected a string, got {section[key]!r}")
    timeout = section.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"[rca] timeout: expected a positive number of seconds, got {timeout!r}")
    max_texts = section.get("max_texts", 6)
    if isinstance(max_texts, bool) or not isinstance(max_texts, int) or max_texts < 0:
        raise ValueError(f"[rca] max_texts: expected a whole number >= 0, got {max_texts!r}")
    endpoint = section.get("endpoint")
    if isinstance(endpoint, str) and not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"[rca] endpoint: expected an http(s) URL, got {endpoint!r}")
    return RcaConfig(
        endpoint=endpoint,  # type: ignore[arg-type]
        model=section.get("model"),  # type: ignore[arg-type]
        api_key_env=str(section.get("api_key_env", "OPENAI_API_KEY")),
        timeout=float(timeout),
        max_texts=max_texts,
        otlp_endpoint=section.get("otlp_endpoint"),  # type: ignore[arg-type]
    )
