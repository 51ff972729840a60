"""The words of an answer as stored or sent: what is embedded, by the receiver and by the diff alike."""

from __future__ import annotations

import json
from typing import Any


def answer_text(stored: str) -> str:
    """The text parts of GenAI/OpenAI message JSON (``gen_ai.output.messages`` and the like), else the
    stored string itself. Embedding the JSON would add the same keys to every answer and dilute what
    differs."""
    if stored[:1] not in ("[", "{"):
        return stored
    try:
        doc = json.loads(stored)
    except ValueError:
        return stored
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("content", "text") and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(doc)
    return "\n".join(parts) if parts else stored


def question_text(stored: str) -> str:
    """The question of a stored input: the text of the last user message of GenAI/OpenAI message JSON
    (the system prompt and earlier turns are not the question), else ``answer_text`` of it."""
    if stored[:1] == "[":
        try:
            messages = json.loads(stored)
        except ValueError:
            return stored
        users = (
            [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            if isinstance(messages, list)
            else []
        )
        if users:
            return answer_text(json.dumps(users[-1]))
    return answer_text(stored)
