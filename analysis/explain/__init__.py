"""Explanations of a drift report by an LLM (``[rca]`` in driftline.toml), with the rules as fallback.

Flow: ``evidence`` turns a report into the facts an explanation may cite (each with an id) and the
request's payload; ``llm`` sends it to an OpenAI-compatible endpoint (instrumented: the call lands as a
run of agent ``driftline-explain`` where OTLP is configured); ``answer`` validates what comes back;
``rules`` writes the explanation from the report's own hypotheses whenever the LLM cannot (not
configured, unreachable, slow, an error status, or an answer that fails validation) and says why.
"""
