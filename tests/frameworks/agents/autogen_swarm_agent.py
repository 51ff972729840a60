"""An AutoGen Swarm: ``triage`` looks the order up and hands off to ``weather`` (a ``transfer_to_weather``
tool call), which answers: the hand-off shows as the triage run's last tool."""

from __future__ import annotations

import asyncio

from _harness import get_weather, lookup_order, main, question
from autogen_agent import MODEL_INFO
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.teams import Swarm
from autogen_ext.models.openai import OpenAIChatCompletionClient


def run(args, i: int) -> str:
    async def go() -> str:
        client = OpenAIChatCompletionClient(model="agent", base_url=args.llm, api_key="test", model_info=MODEL_INFO)
        triage = AssistantAgent(
            "triage", model_client=client, tools=[lookup_order], handoffs=["weather"], max_tool_iterations=1
        )
        weather = AssistantAgent("weather", model_client=client, tools=[get_weather], max_tool_iterations=1)
        done = TextMentionTermination("ships Monday", sources=["weather"]) | MaxMessageTermination(12)
        result = await Swarm([triage, weather], termination_condition=done).run(task=question(i))
        await client.close()
        return str(result.messages[-1].content)

    return asyncio.run(go())


if __name__ == "__main__":
    main(run)
