"""judge.math on the table of tricky cases (data/math_cases.jsonl): accuracy per category.

The table has, per category, answers a good checker must accept and near misses a sloppy one
accepts (0.33 vs 1/3, 12 vs 1.2, (1, 2) vs {2, 1}). `python3 -m pytest -s` prints the scores;
benchmarks/bench_math.py prints them beside math-verify's.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

from curate_judges.math import judge_answer

CASES = [json.loads(line) for line in (Path(__file__).parent / "data" / "math_cases.jsonl").read_text().splitlines()
         if line.strip()]
MIN_OVERALL, MIN_CATEGORY = 0.95, 0.9


def scores(label) -> tuple[dict[str, tuple[int, int]], list[dict]]:
    """Per category (right, total) of ``label(response, reference) -> bool``, and the misses."""
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    misses = []
    for case in CASES:
        reference = None if case["reference"] is None else str(case["reference"])
        right = label(case["response"], reference) is case["expected"]
        tally[case["category"]][0] += right
        tally[case["category"]][1] += 1
        if not right:
            misses.append(case)
    return {k: (v[0], v[1]) for k, v in tally.items()}, misses


def table(tally: dict[str, tuple[int, int]]) -> str:
    lines = [f"{cat:<20} {right:>3}/{total:<3} {right / total:.2f}" for cat, (right, total) in sorted(tally.items())]
    right, total = (sum(v[i] for v in tally.values()) for i in (0, 1))
    return "\n".join(lines + [f"{'overall':<20} {right:>3}/{total:<3} {right / total:.2f}"])


def meets_thresholds(tally: dict[str, tuple[int, int]]) -> bool:
    right, total = (sum(v[i] for v in tally.values()) for i in (0, 1))
    return right / total >= MIN_OVERALL and all(r / t >= MIN_CATEGORY for r, t in tally.values())


def test_the_table_is_big_and_balanced():
    by_category = defaultdict(list)
    for case in CASES:
        assert set(case) >= {"response", "reference", "expected", "category"}
        assert isinstance(case["expected"], bool)
        by_category[case["category"]].append(case["expected"])
    assert len(CASES) >= 150
    assert len(by_category) >= 12
    for category, expected in by_category.items():
        assert len(expected) >= 10, category
        assert True in expected and False in expected, f"{category}: needs accepted and rejected cases"


def test_judge_math_meets_the_accuracy_thresholds():
    tally, misses = scores(lambda response, reference: judge_answer(response, reference).correct)
    print("\njudge.math on data/math_cases.jsonl\n" + table(tally))
    detail = "\n".join(f"  [{m['category']}] {m['response']!r} vs {m['reference']!r}: expected {m['expected']}"
                       for m in misses)
    assert meets_thresholds(tally), table(tally) + "\nmisses:\n" + detail


def _last_number(text: str) -> str | None:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text.replace(",", ""))
    return numbers[-1] if numbers else None


@pytest.mark.parametrize("name, sloppy", [
    ("same text", lambda response, reference: response.strip() == (reference or "").strip()),
    ("last number", lambda response, reference: _last_number(response) is not None
     and _last_number(response) == _last_number(reference or "")),
    ("always right", lambda response, reference: True),
])
def test_sloppy_checkers_fail_the_table(name, sloppy):
    """The thresholds discriminate: checkers a careless pipeline might use score below them."""
    tally, _ = scores(sloppy)
    assert not meets_thresholds(tally), f"{name} passes:\n{table(tally)}"
