"""`judge.math`: label each response correct or incorrect against a reference answer."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

import polars as pl
from pydantic import Field

import curate
from curate_judges.math import limits
from curate_judges.math.answer import Choice, Unparsed, leading_choice, parse_answer
from curate_judges.math.equivalence import DEFAULT_RULES, Rules, equivalent
from curate_judges.math.extract import Candidate, final_answers, reference_answer

_SHOWN = 60  # characters of an answer quoted in a reason


@dataclass(frozen=True)
class Verdict:
    """The judgement of one response: the final answer found (``None`` when there is none, or
    two), whether it is correct (``None`` when the reference cannot be used), and why not."""

    answer: str | None
    correct: bool | None
    reason: str | None


def judge_answer(response: str | None, reference: str | None, *, rules: Rules = DEFAULT_RULES,
                 concluding_sentence: bool = True, timeout_s: float | None = 2.0) -> Verdict:
    """Extract the response's final answer and compare it with the reference's.

    Never raises for bad input: a missing or unreadable reference gives ``correct=None``, a
    response without one final answer gives ``False``, each with its reason. The work is bounded
    by ``timeout_s`` (see :mod:`curate_judges.math.limits`)."""
    import sympy  # noqa: F401 - imported outside the timer: an import cut short would break sympy

    checking = "the reference"
    answer: str | None = None
    try:
        with limits.time_limit(timeout_s):
            ref_text = reference_answer(reference)
            ref = parse_answer(ref_text) if ref_text else None
            checking = "the answer"
            answers = _distinct(final_answers(response or "", concluding_sentence), ref, rules)
            answer = answers[0] if len(answers) == 1 else None
            if ref_text is None:
                return Verdict(answer, None, "no reference answer")
            if isinstance(ref, Unparsed):
                return Verdict(answer, None, f"reference unparseable: {_quote(ref_text)} ({ref.error})")
            if not answers:
                return Verdict(None, False, "no final answer")
            if len(answers) > 1:
                count = "two" if len(answers) == 2 else str(len(answers))
                return Verdict(None, False, f"{count} different final answers: " + ", ".join(map(_quote, answers)))
            if equivalent(_parse_for(answer, ref), ref, rules):
                return Verdict(answer, True, None)
            return Verdict(answer, False, _mismatch(answer, ref_text, ref))
    except limits.TimeLimit:
        if checking == "the reference":
            return Verdict(None, None, f"reference unparseable: took longer than {timeout_s:g} s")
        return Verdict(answer, False, f"could not check {checking} within {timeout_s:g} s")
    except Exception as exc:  # noqa: BLE001 - sympy's arithmetic on untrusted input: label, never crash
        if checking == "the reference":
            return Verdict(None, None, f"reference unparseable: {type(exc).__name__}: {exc}")
        return Verdict(answer, False, f"could not compare {checking}: {type(exc).__name__}: {exc}")


def _parse_for(text: str, reference: Any):
    """An answer as read against this reference: a choice letter when the reference is one."""
    if isinstance(reference, Choice) and (letter := leading_choice(text)):
        return Choice(letter, text)
    return parse_answer(text)


def _distinct(candidates: list[Candidate], reference: Any, rules: Rules) -> list[str]:
    """The candidates that state different answers (the first text of each). Against a choice
    reference, a response that names a letter is judged by its letters alone (its boxed value
    beside "the answer is (B)" is the option's content, not a second answer)."""
    parsed = [(cand.text, _parse_for(cand.text, reference)) for cand in candidates]
    if isinstance(reference, Choice) and any(isinstance(p, Choice) for _, p in parsed):
        parsed = [(text, p) for text, p in parsed if isinstance(p, Choice)]
    kept: list[tuple[str, Any]] = []
    for text, answer in parsed:
        if not any(equivalent(answer, other, rules) for _, other in kept):
            kept.append((text, answer))
    return [text for text, _ in kept]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN else text[:_SHOWN - 3] + "..."


def _mismatch(answer: str, ref_text: str, ref: Any) -> str:
    parsed = parse_answer(answer)
    if isinstance(ref, Choice) and not leading_choice(answer):
        return f"answer {_quote(answer)} is not a choice letter (reference {_quote(ref_text)})"
    if isinstance(parsed, Unparsed):
        return f"answer {_quote(answer)} unparseable ({parsed.error}) and differs from reference {_quote(ref_text)}"
    return f"answer {_quote(answer)} does not match reference {_quote(ref_text)}"


# --- the stage -----------------------------------------------------------------------------------

class MathParams(curate.Params):
    response_column: str = Field("response", description="Column with the response to judge.")
    reference_column: str = Field(
        "reference", description="Column with the reference: a bare answer, a GSM8K solution (`... #### 42`) "
                                 "or a MATH solution (its last `\\boxed{}`); numbers are read as text.")
    concluding_sentence: bool = Field(
        True, description="When a response has no explicit final answer (`\\boxed{}`, `####`, \"the answer "
                          "is\"), take the answer of its last sentence with a number or math; `false`: "
                          "such a response has no final answer.")
    percent_as_fraction: bool = Field(
        True, description="`50%` matches `0.5` as well as `50`; `false`: only `50` (the unit dropped).")
    rounded_irrationals: bool = Field(
        True, description="A decimal matches an irrational exact answer (`\\sqrt 2`, `\\pi`) when it is that "
                          "value rounded or truncated to the digits it gives; `false`: never.")
    min_significant_digits: int = Field(
        3, ge=1, description="Significant digits a decimal needs to match an irrational value "
                             "(`1.41` matches `\\sqrt 2`, `1.4` does not).")
    unordered_lists: bool = Field(
        True, description="A bare list (`1, 2`) matches another bare list or a set in any order (the "
                          "roots of an equation); `false`: bare lists are ordered. Tuples are always ordered.")
    timeout_s: float | None = Field(
        2.0, gt=0, description="Seconds one row may take to parse and compare (sympy can be slow on "
                               "adversarial input); a row that runs out is labelled with the reason. "
                               "`null`: no timer (numbers stay bounded in size either way).")


class MathJudge(curate.Judge):
    """Label each response correct or incorrect against a reference math answer (ground truth).

    Writes `math_answer` (the response's final answer as written; null when it has none or two),
    `math_correct` (null when the reference cannot be read) and `math_reason` (why it is null or
    false). Keeps every row."""

    name = "judge.math"
    Params = MathParams
    writes = ("math_answer", "math_correct", "math_reason")
    batch_size = 10_000  # pure CPU work: any batch, so progress and checkpoints come in steps

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.response_column, self.params.reference_column]

    def cache_key(self) -> dict[str, Any]:
        return {"sympy": metadata.version("sympy")}  # equivalence depends on sympy's arithmetic

    def rules(self) -> Rules:
        p = self.params
        return Rules(percent_as_fraction=p.percent_as_fraction, rounded_irrationals=p.rounded_irrationals,
                     min_significant_digits=p.min_significant_digits, unordered_lists=p.unordered_lists)

    def process_batch(self, df: pl.DataFrame) -> pl.DataFrame:
        p = self.params
        responses = curate.text_of(df, p.response_column, where=self.where).to_list()
        references = curate.text_of(df, p.reference_column, where=self.where, numbers=True).to_list()
        rules = self.rules()
        seen: dict[tuple[str | None, str | None], Verdict] = {}
        verdicts = []
        with limits.alarm_handler():
            for pair in zip(responses, references):
                if pair not in seen:
                    seen[pair] = judge_answer(*pair, rules=rules, concluding_sentence=p.concluding_sentence,
                                              timeout_s=p.timeout_s)
                verdicts.append(seen[pair])
        if self.ctx is not None:
            for key, value in (("correct", True), ("incorrect", False), ("unjudged", None)):
                self.ctx.count(key, sum(v.correct is value for v in verdicts))
        return df.with_columns(
            pl.Series("math_answer", [v.answer for v in verdicts], dtype=pl.String),
            pl.Series("math_correct", [v.correct for v in verdicts], dtype=pl.Boolean),
            pl.Series("math_reason", [v.reason for v in verdicts], dtype=pl.String),
        )
