"""An AG2 1.x Agent with two tools, on OpenAIConfig against the loopback server."""

from __future__ import annotations

import asyncio

from _harness import get_weather, lookup_order, main, question
from ag2 import Agent
from ag2.config.openai import OpenAIConfig


def run(args, i: int) -> str:
    async def go() -> str:
        agent = Agent(
            "order_agent",
            "You answer questions about orders.",
            config=OpenAIConfig(model="agent", base_url=args.llm, api_key="test"),
            tools=[lookup_order, get_weather],
        )
        reply = await agent.ask(question(i))
        return str(await reply.content())

    return asyncio.run(go())


if __name__ == "__main__":
    main(run)
