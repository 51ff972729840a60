"""An AutoGen (autogen-agentchat 0.4+) AssistantAgent with two tools, on OpenAIChatCompletionClient."""

from __future__ import annotations

import asyncio

from _harness import get_weather, lookup_order, main, question
from autogen_agentchat.agents import AssistantAgent
from autogen_ext.models.openai import OpenAIChatCompletionClient

MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": False,
    "structured_output": False,
    "family": "unknown",
}


def run(args, i: int) -> str:
    async def go() -> str:
        client = OpenAIChatCompletionClient(model="agent", base_url=args.llm, api_key="test", model_info=MODEL_INFO)
        agent = AssistantAgent(
            "order_agent",
            model_client=client,
            tools=[lookup_order, get_weather],
            system_message="You answer questions about orders.",
            max_tool_iterations=5,
        )
        result = await agent.run(task=question(i))
        await client.close()
        return str(result.messages[-1].content)

    return asyncio.run(go())


if __name__ == "__main__":
    main(run)
