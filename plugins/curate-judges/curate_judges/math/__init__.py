"""`judge.math`: ground truth for math answers, as Nemotron-4 and Llama 3 use it to label sampled
responses correct or incorrect.

The modules, in the order a row goes through them:

* :mod:`.extract` — the final answer a response commits to (``\\boxed{}``, ``####``, "the answer
  is", a concluding sentence) and the answer inside a GSM8K, MATH or bare reference;
* :mod:`.normalize` — LaTeX presentation, units, currency, thousands separators, text answers;
* :mod:`.expression` — a safe, size-bounded parser from LaTeX or plain text to sympy;
* :mod:`.answer` — the shape of an answer: value, equation, tuple/set, interval, choice, text;
* :mod:`.equivalence` — when two answers are the same (the rules are in its docstring);
* :mod:`.limits` — the time and size bounds;
* :mod:`.judge` — :func:`judge_answer` for one pair and the stage :class:`MathJudge`.

sympy is imported when the first answer is judged (never when the plugin loads); plain numbers
are compared without it.
"""

from curate_judges.math.equivalence import Rules
from curate_judges.math.extract import final_answers, reference_answer
from curate_judges.math.judge import MathJudge, MathParams, Verdict, judge_answer

__all__ = ["MathJudge", "MathParams", "Rules", "Verdict", "final_answers", "judge_answer", "reference_answer"]
