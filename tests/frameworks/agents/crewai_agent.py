"""A CrewAI crew of one agent and one task with two tools, on an OpenAI-compatible LLM on loopback.

Run with CREWAI_DISABLE_TELEMETRY=true, CREWAI_TRACING_ENABLED=false and CREWAI_DISABLE_VERSION_CHECK=true
(the test sets them), so CrewAI calls no one but the loopback server; never OTEL_SDK_DISABLED, which
would switch off the spans themselves.
"""

from __future__ import annotations

from _harness import main, question
from crewai import LLM, Agent, Crew, Task
from crewai.tools import tool


@tool("lookup_order")
def lookup_order(order_id: int) -> str:
    """Look up the status of an order by its numeric id."""
    return "shipped Monday" if int(order_id) == 42 else "unknown order"


@tool("get_weather")
def get_weather(city: str) -> str:
    """Get today's weather in a city."""
    return f"sunny in {city}"


def run(args, i: int) -> str:
    llm = LLM(model="openai/agent", base_url=args.llm, api_key="test")
    agent = Agent(
        role="order_agent",
        goal="Answer questions about orders",
        backstory="You work in customer support.",
        tools=[lookup_order, get_weather],
        llm=llm,
        verbose=False,
    )
    task = Task(description=question(i), expected_output="The order's status and the weather.", agent=agent)
    return str(Crew(agents=[agent], tasks=[task], verbose=False).kickoff())


if __name__ == "__main__":
    main(run)
