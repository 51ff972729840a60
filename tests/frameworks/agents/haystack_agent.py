"""A Haystack Agent with two tools, on OpenAIChatGenerator against the loopback server."""

from __future__ import annotations

from _harness import get_weather, lookup_order, main, question
from haystack.components.agents import Agent
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.dataclasses import ChatMessage
from haystack.tools import create_tool_from_function
from haystack.utils import Secret


def run(args, i: int) -> str:
    generator = OpenAIChatGenerator(model="agent", api_base_url=args.llm, api_key=Secret.from_token("test"))
    tools = [create_tool_from_function(lookup_order), create_tool_from_function(get_weather)]
    agent = Agent(chat_generator=generator, tools=tools, system_prompt="You answer questions about orders.")
    agent.warm_up()
    result = agent.run(messages=[ChatMessage.from_user(question(i))])
    return result["messages"][-1].text or ""


if __name__ == "__main__":
    main(run)
