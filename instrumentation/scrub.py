"""PII scrubbing of message content: emails, IBANs, card numbers, IP addresses, phone numbers.

Why here, in the base package: it runs in two places with one definition — inside the user's app
(``DRIFTLINE_SCRUB_PII=true``: nothing personal leaves the process) and in the collector behind the
write-ahead log (``--store-content``: nothing personal reaches Parquet). The collector may import the
base package; the base package imports neither of the others. Card numbers are checked with the Luhn
sum so that order numbers and timestamps are not blanked.
"""

from __future__ import annotations

import re

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,3})?\b")
_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
_IPV6 = re.compile(r"\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b|\b(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4})?\b")
# International numbers start with "+"; national ones need separators (123-456-7890, (123) 456 7890),
# so that bare digit runs such as order numbers are left alone.
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]?\d{2,4}){2,4}"
    r"|\(?\d{3}\)?[ .-]\d{3}[ .-]\d{4})\b"
)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[CARD]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


def scrub(text: str) -> str:
    """Replace emails, IBANs, card numbers, IP addresses and phone numbers with placeholders."""
    text = _EMAIL.sub("[EMAIL]", text)
    text = _IBAN.sub("[IBAN]", text)
    text = _CARD.sub(_card, text)
    text = _IPV4.sub("[IP]", text)
    text = _IPV6.sub("[IP]", text)
    return _PHONE.sub("[PHONE]", text)
