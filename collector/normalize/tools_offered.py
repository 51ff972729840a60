"""The names of the tools a model call offered, from the conventions that list them as JSON.

Why: which tools an agent is *offered* is configuration (a tool added or removed changes behaviour
before any tool call does), so it belongs in the configuration fingerprint beside models and prompts.
Driftline's instrumentors send the names as a list (``driftline.request.tool_names``, mapped by the
convention table); GenAI semconv's ``gen_ai.tool.definitions`` (a JSON array) and OpenInference's
``llm.tools.<i>.tool.json_schema`` (one JSON object per tool) carry whole definitions, read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

GENAI_DEFINITIONS = "gen_ai.tool.definitions"
_OPENINFERENCE_TOOL = re.compile(r"^llm\.tools\.(\d+)\.tool\.json_schema$")


def _name(definition: Any) -> str | None:
    if not isinstance(definition, dict):
        return None
    function = definition.get("function")
    name = function.get("name") if isinstance(function, dict) else definition.get("name")
    return name if isinstance(name, str) and name else None


def _parsed(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def names(attributes: Iterable[tuple[str, Any]]) -> list[str] | None:
    """The offered tools' names in the order listed, or None when no definition names one."""
    genai: list[str] = []
    indexed: dict[int, str] = {}
    for key, value in attributes:
        if key == GENAI_DEFINITIONS:
            listed = _parsed(value)
            for definition in listed if isinstance(listed, list) else ():
                name = _name(definition)
                if name:
                    genai.append(name)
        elif key.startswith("llm.tools."):  # cheap test first: this runs for every model call's attributes
            found = _OPENINFERENCE_TOOL.match(key)
            if found:
                name = _name(_parsed(value))
                if name:
                    indexed[int(found.group(1))] = name
    found_names = genai or [indexed[i] for i in sorted(indexed)]
    return found_names or None
