"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for instrumentation tests.

The real ``openai`` client talks to it over a socket. The model name scripts the answer:
``error-429`` / ``error-500`` fail with that status; a request offering tools gets a tool call unless
the conversation already holds a tool result; ``stream: true`` answers as server-sent events.

Model ``agent`` scripts a small agent for the framework tests: each conversation (keyed by a
``[run-N]`` marker in its text, since frameworks rephrase history differently) calls every offered tool
once, in name order, with arguments made from the tool's JSON schema, and then answers — by calling a
``final_answer`` tool when one is offered (smolagents), else in text. DSPy asks for its output fields
in text (``[[ ## next_tool_name ## ]]``…) and lists its tools in the system prompt: the same script
answers in that format, ending with DSPy's ``finish`` tool.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

USAGE = {
    "prompt_tokens": 57,
    "completion_tokens": 17,
    "total_tokens": 74,
    "prompt_tokens_details": {"cached_tokens": 32},
    "completion_tokens_details": {"reasoning_tokens": 5},
}


ANSWER = "Order 42 ships Monday."
FINAL_ANSWER = "final_answer"
_RUN_MARKER = re.compile(r"\[run-\d+\]")


def _example(schema: dict[str, Any]) -> Any:
    """A value of the JSON schema's type (what a model would fill in)."""
    kind = schema.get("type")
    if kind is None and schema.get("anyOf"):
        kind = next((s.get("type") for s in schema["anyOf"] if s.get("type") != "null"), "string")
    return {"integer": 42, "number": 42, "boolean": True, "array": [], "object": {}}.get(kind, "42")


def _arguments(tool: dict[str, Any]) -> dict[str, Any]:
    params = tool.get("function", {}).get("parameters") or {}
    props = params.get("properties") or {}
    names = params.get("required") or list(props)
    if tool["function"]["name"] == FINAL_ANSWER:
        return {name: ANSWER for name in names}
    return {name: _example(props.get(name, {})) for name in names}


class _AgentScript:
    """Per conversation: how many turns it has had (the next tool to call)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.turns: dict[str, int] = {}

    def turn(self, body: dict[str, Any]) -> int:
        """This conversation's turn number (0 first), counted per ``[run-N]`` marker."""
        text = json.dumps(body.get("messages", []))
        marker = _RUN_MARKER.search(text)
        key = marker.group(0) if marker else text[:200]
        with self.lock:
            turn = self.turns.get(key, 0)
            self.turns[key] = turn + 1
        return turn

    def next_call(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The tool to call on this turn, or None to answer."""
        turn = self.turn(body)
        tools = sorted(body.get("tools") or [], key=lambda t: t["function"]["name"])
        work = [t for t in tools if t["function"]["name"] != FINAL_ANSWER]
        if turn < len(work):
            return work[turn]
        final = [t for t in tools if t["function"]["name"] == FINAL_ANSWER]
        return final[0] if final and turn == len(work) else None


_DSPY_FIELDS = re.compile(r"^\d+\. `(\w+)`", re.M)
_DSPY_TOOLS = re.compile(r"\(\d+\) (\w+), whose description is .*?It takes arguments (\{.*?\})\.", re.S)


def _dspy_text(body: dict[str, Any], script: _AgentScript) -> str | None:
    """DSPy's ChatAdapter: the requested output fields, in its ``[[ ## field ## ]]`` format."""
    system = next((m.get("content") or "" for m in body["messages"] if m.get("role") == "system"), "")
    if "Your output fields are:" not in system:
        return None
    outputs = _DSPY_FIELDS.findall(system.split("Your output fields are:", 1)[1].split("All interactions", 1)[0])
    values: dict[str, str] = {}
    if "next_tool_name" in outputs:
        tools = {name: ast.literal_eval(args) for name, args in _DSPY_TOOLS.findall(system)}
        work = sorted(n for n in tools if n != "finish")
        turn = script.turn(body)
        name = work[turn] if turn < len(work) else "finish"
        args = {k: _example(v) for k, v in tools.get(name, {}).items()}
        values = {"next_thought": f"I call {name}.", "next_tool_name": name, "next_tool_args": json.dumps(args)}
    parts = [f"[[ ## {field} ## ]]\n{values.get(field, ANSWER)}" for field in outputs]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


def _chat(body: dict[str, Any], script: _AgentScript | None = None) -> dict[str, Any]:
    dspy_text = _dspy_text(body, script or _AgentScript()) if body.get("model") == "agent" else None
    if dspy_text is not None:
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"] + "-2024-08-06",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": dspy_text}, "finish_reason": "stop"}],
            "usage": USAGE,
        }
    if body.get("model") == "agent":
        tool = (script or _AgentScript()).next_call(body)
        wants_tool = tool is not None
    else:
        tool = (body.get("tools") or [None])[0]
        wants_tool = body.get("tools") and not any(m.get("role") == "tool" for m in body["messages"])
    if wants_tool and tool is not None and body.get("model") == "agent":
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": f"call_{tool['function']['name']}",
                    "type": "function",
                    "function": {"name": tool["function"]["name"], "arguments": json.dumps(_arguments(tool))},
                }
            ],
        }
        finish = "tool_calls"
    elif wants_tool:
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_abc",
                    "type": "function",
                    "function": {"name": body["tools"][0]["function"]["name"], "arguments": '{"order_id": 42}'},
                }
            ],
        }
        finish = "tool_calls"
    else:
        message, finish = {"role": "assistant", "content": ANSWER}, "stop"
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body["model"] + "-2024-08-06",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": USAGE,
    }


def _chat_chunks(body: dict[str, Any], script: _AgentScript | None = None) -> list[dict[str, Any]]:
    full = _chat(body, script)
    base = {"id": "chatcmpl-s", "object": "chat.completion.chunk", "created": full["created"], "model": full["model"]}
    message, finish = full["choices"][0]["message"], full["choices"][0]["finish_reason"]
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    if message.get("tool_calls"):
        call = message["tool_calls"][0]
        chunks.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [
                                {
                                    "index": 0,
                                    "id": call["id"],
                                    "type": "function",
                                    "function": {"name": call["function"]["name"], "arguments": ""},
                                }
                            ]
                        },
                    }
                ],
            }
        )
        chunks.append(
            {
                **base,
                "choices": [
                    {
                        "index": 0,
                        "delta": {
                            "tool_calls": [{"index": 0, "function": {"arguments": call["function"]["arguments"]}}]
                        },
                    }
                ],
            }
        )
    else:
        for word in message["content"].split(" "):
            chunks.append({**base, "choices": [{"index": 0, "delta": {"content": word + " "}}]})
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    if (body.get("stream_options") or {}).get("include_usage"):
        chunks.append({**base, "choices": [], "usage": USAGE})
    return chunks


def _responses(body: dict[str, Any]) -> dict[str, Any]:
    output: list[dict[str, Any]]
    if body.get("tools"):
        output = [
            {
                "type": "function_call",
                "id": "fc_1",
                "call_id": "call_r1",
                "name": body["tools"][0]["name"],
                "arguments": "{}",
                "status": "completed",
            }
        ]
    else:
        output = [
            {
                "type": "message",
                "id": "msg_1",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Hello", "annotations": []}],
            }
        ]
    return {
        "id": "resp_1",
        "object": "response",
        "created_at": time.time(),
        "model": body["model"] + "-2025",
        "status": "completed",
        "output": output,
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": body.get("tools", []),
        "usage": {
            "input_tokens": 20,
            "output_tokens": 5,
            "total_tokens": 25,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens_details": {"reasoning_tokens": 2},
        },
    }


ANTHROPIC_USAGE = {
    "input_tokens": 40,
    "output_tokens": 12,
    "cache_read_input_tokens": 30,
    "cache_creation_input_tokens": 5,
}


def _anthropic(body: dict[str, Any]) -> dict[str, Any]:
    answered = any(
        isinstance(m.get("content"), list) and any(b.get("type") == "tool_result" for b in m["content"])
        for m in body["messages"]
    )
    if body.get("tools") and not answered:
        content = [{"type": "tool_use", "id": "toolu_1", "name": body["tools"][0]["name"], "input": {"order_id": 42}}]
        stop = "tool_use"
    else:
        content, stop = [{"type": "text", "text": "Order 42 ships Monday."}], "end_turn"
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": body["model"] + "-20241022",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": ANTHROPIC_USAGE,
    }


def _anthropic_events(body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    full = _anthropic(body)
    start = {**full, "content": [], "stop_reason": None, "usage": {**ANTHROPIC_USAGE, "output_tokens": 1}}
    events: list[tuple[str, dict[str, Any]]] = [("message_start", {"type": "message_start", "message": start})]
    block = full["content"][0]
    if block["type"] == "tool_use":
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {**block, "input": {}}},
            )
        )
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])},
                },
            )
        )
    else:
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            )
        )
        for word in block["text"].split(" "):
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word + " "}},
                )
            )
    events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": full["stop_reason"], "stop_sequence": None},
                "usage": {"output_tokens": 12},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return events


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[dict[str, Any]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.close_connection = True

    def _named_sse(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for name, event in events:
            self.wfile.write(f"event: {name}\ndata: {json.dumps(event)}\n\n".encode())
        self.close_connection = True

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append((self.path, body))  # type: ignore[attr-defined]
        model = body.get("model", "")
        if model.startswith("error-") and self.path.endswith("/messages"):
            status = int(model.split("-")[1])
            self._json(status, {"type": "error", "error": {"type": "api_error", "message": f"scripted {status}"}})
        elif self.path.endswith("/messages"):
            if body.get("stream"):
                self._named_sse(_anthropic_events(body))
            else:
                self._json(200, _anthropic(body))
        elif model.startswith("error-"):
            status = int(model.split("-")[1])
            self._json(status, {"error": {"message": f"scripted {status}", "type": "scripted", "code": None}})
        elif self.path.endswith("/chat/completions"):
            script = self.server.agent_script  # type: ignore[attr-defined]
            if body.get("stream"):
                self._sse(_chat_chunks(body, script))
            else:
                self._json(200, _chat(body, script))
        elif self.path.endswith("/embeddings"):
            self._json(
                200,
                {
                    "object": "list",
                    "model": model,
                    "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2, 0.3]}],
                    "usage": {"prompt_tokens": 4, "total_tokens": 4},
                },
            )
        elif self.path.endswith("/responses"):
            self._json(200, _responses(body))
        else:
            self._json(404, {"error": {"message": "no such route"}})


class LLMServer:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.requests = []  # type: ignore[attr-defined]
        self.server.agent_script = _AgentScript()  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def requests(self) -> list[tuple[str, dict[str, Any]]]:
        return self.server.requests  # type: ignore[attr-defined]

    def __enter__(self) -> LLMServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
