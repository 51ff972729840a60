"""A DSPy ReAct program with two tools on ``dspy.LM`` (LiteLLM engine) against the loopback server; then
an optimizer compiles it, evaluating in DSPy's worker threads — which must leave no trace."""

from __future__ import annotations

import dspy
from _harness import get_weather, lookup_order, main, question
from dspy.teleprompt import Teleprompter

_compiled = False


class EvaluatingOptimizer(Teleprompter):
    """What optimizers do (MIPROv2, COPRO…): evaluate the program in DSPy's worker threads."""

    def compile(self, student: dspy.Module, *, trainset: list[dspy.Example], **kwargs: object) -> dspy.Module:
        dspy.Evaluate(devset=trainset, metric=lambda e, p, trace=None: True, num_threads=2)(student)
        return student


def run(args, i: int) -> str:
    global _compiled
    lm = dspy.LM("openai/agent", api_base=args.llm, api_key="test", cache=False)
    dspy.configure(lm=lm)
    react = dspy.ReAct("question -> answer", tools=[lookup_order, get_weather], max_iters=5)
    answer = react(question=question(i)).answer
    if not _compiled:  # once, between the runs: nothing of it may become a run
        trainset = [
            dspy.Example(question=f"[compile-{k}] Where is order 42?").with_inputs("question") for k in range(2)
        ]
        EvaluatingOptimizer().compile(react, trainset=trainset)
        _compiled = True
    return answer


if __name__ == "__main__":
    main(run)
