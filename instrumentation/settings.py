"""Environment variables the instrumentation reads, parsed once into typed settings.

Why one place: whether message content leaves the process is a privacy decision. It is made once, at
``setup()`` / ``instrument()`` time, from ``capture_content=`` or the standard
``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`` (both the older contrib form ``true``/``false``
and the current ``opentelemetry-util-genai`` modes), and wrappers only ever see the result. A value
that cannot be understood means no content, with a warning — never more content than asked for.
"""

from __future__ import annotations

import enum
import logging
import os
from dataclasses import dataclass

log = logging.getLogger(__name__)

CAPTURE_MESSAGE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""``true``/``false`` (older contrib form) or ``NO_CONTENT`` / ``SPAN_ONLY`` / ``EVENT_ONLY`` /
``SPAN_AND_EVENT`` (current ``opentelemetry-util-genai`` form)."""

SCRUB_PII = "DRIFTLINE_SCRUB_PII"
"""``true`` to blank emails, IBANs, phone numbers, IP addresses and card numbers in any captured
content before it is put on a span or event."""


class ContentMode(enum.Enum):
    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"

    @property
    def on_spans(self) -> bool:
        return self in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT)

    @property
    def as_events(self) -> bool:
        return self in (ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT)


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off", ""}


def parse_content_mode(raw: str | None) -> ContentMode:
    value = (raw or "").strip()
    if value.lower() in _TRUE:
        return ContentMode.SPAN_ONLY
    if value.lower() in _FALSE:
        return ContentMode.NO_CONTENT
    try:
        return ContentMode(value.upper())
    except ValueError:
        log.warning(
            "%s=%r is not understood (use true, false, NO_CONTENT, SPAN_ONLY, EVENT_ONLY or "
            "SPAN_AND_EVENT); capturing no content",
            CAPTURE_MESSAGE_CONTENT,
            raw,
        )
        return ContentMode.NO_CONTENT


@dataclass(frozen=True)
class Settings:
    content: ContentMode = ContentMode.NO_CONTENT
    scrub_pii: bool = False


def load(capture_content: bool | str | None = None) -> Settings:
    """Settings from arguments first, then the environment."""
    if capture_content is None:
        mode = parse_content_mode(os.environ.get(CAPTURE_MESSAGE_CONTENT))
    elif isinstance(capture_content, bool):
        mode = ContentMode.SPAN_ONLY if capture_content else ContentMode.NO_CONTENT
    else:
        mode = parse_content_mode(capture_content)
    scrub = os.environ.get(SCRUB_PII, "").strip().lower() in _TRUE
    return Settings(content=mode, scrub_pii=scrub)
