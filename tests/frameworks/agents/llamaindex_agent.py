"""A LlamaIndex FunctionAgent with two tools, on OpenAILike against the loopback server."""

from __future__ import annotations

import asyncio
import os

os.environ.setdefault("OPENINFERENCE_HIDE_EMBEDDING_VECTORS", "true")

from _harness import get_weather, lookup_order, main, question
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.tools import FunctionTool
from llama_index.llms.openai_like import OpenAILike


def run(args, i: int) -> str:
    llm = OpenAILike(
        model="agent",
        api_base=args.llm,
        api_key="test",
        is_chat_model=True,
        is_function_calling_model=True,
        context_window=8000,
    )
    agent = FunctionAgent(
        name="order_agent",
        description="Answers questions about orders",
        tools=[FunctionTool.from_defaults(fn=lookup_order), FunctionTool.from_defaults(fn=get_weather)],
        llm=llm,
        system_prompt="You answer questions about orders.",
        streaming=False,
    )

    async def go() -> str:
        return str(await agent.run(user_msg=question(i)))

    return asyncio.run(go())


if __name__ == "__main__":
    main(run)
