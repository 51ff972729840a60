"""A smolagents ToolCallingAgent with two tools, on OpenAIServerModel against the loopback server."""

from __future__ import annotations

from _harness import main, question
from smolagents import OpenAIServerModel, ToolCallingAgent, tool


@tool
def lookup_order(order_id: int) -> str:
    """Look up the status of an order.

    Args:
        order_id: the order's numeric id.
    """
    return "shipped Monday" if int(order_id) == 42 else "unknown order"


@tool
def get_weather(city: str) -> str:
    """Get today's weather in a city.

    Args:
        city: the city's name.
    """
    return f"sunny in {city}"


def run(args, i: int) -> str:
    model = OpenAIServerModel(model_id="agent", api_base=args.llm, api_key="test")
    agent = ToolCallingAgent(
        tools=[lookup_order, get_weather], model=model, name="order_agent", max_steps=6, verbosity_level=0
    )
    return str(agent.run(question(i)))


if __name__ == "__main__":
    main(run)
