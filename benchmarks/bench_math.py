"""judge.math beside math-verify: accuracy on the table of tricky cases, and rows per second.

1. Accuracy, per category, on tests/plugins/curate_judges/data/math_cases.jsonl. math-verify is
   run two ways: on the reference as the table gives it (`raw`: GSM8K `#### 42`, MATH solutions,
   bare LaTeX), and on the reference answer extracted by judge.math and wrapped in `$...$`
   (`gold`: how math-verify expects a gold answer — the fairer figure).
2. Speed: rows/second of judge.math (`MathJudge.process_batch`, one batch) and of math-verify
   (`verify(parse(gold), parse(response))` per row) over the same generated rows, measured one
   after the other in this process, and the ratio. Two workloads: GSM8K-style (chain of thought,
   `#### n`, numeric references) and MATH-style (the table's cases again and again with their
   numbers changed, every row distinct, so that caches do not flatter either side).

    pip install math-verify                # optional: without it only judge.math is measured
    python benchmarks/bench_math.py            # 1,000 rows per workload
    python benchmarks/bench_math.py --rows 200 # quicker
"""

from __future__ import annotations

import argparse
import json
import random
import re
import time
import warnings
from collections import defaultdict
from pathlib import Path

import polars as pl

from curate_judges.math import MathJudge, judge_answer, reference_answer

CASES = Path(__file__).resolve().parents[1] / "tests/plugins/curate_judges/data/math_cases.jsonl"


def load_math_verify():
    try:
        from math_verify import parse, verify
    except ImportError:
        return None
    warnings.filterwarnings("ignore")

    def label(response: str, reference: str, gold: bool) -> bool:
        if gold:
            answer = reference_answer(reference) or ""
            reference = answer if answer.startswith("$") else f"${answer}$"
        try:
            return bool(verify(parse(reference), parse(response)))
        except Exception:  # noqa: BLE001 - a checker that raises counts as "incorrect"
            return False

    return label


# --- accuracy ---------------------------------------------------------------------------------------

def accuracy(cases: list[dict], label) -> dict[str, tuple[int, int]]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for case in cases:
        got = label(case["response"], str(case["reference"]))
        tally[case["category"]][0] += got is case["expected"]
        tally[case["category"]][1] += 1
    return {k: (v[0], v[1]) for k, v in tally.items()}


def print_accuracy(cases: list[dict], math_verify) -> None:
    columns = {"judge.math": accuracy(cases, lambda r, ref: judge_answer(r, ref).correct)}
    if math_verify is not None:
        columns["math-verify raw"] = accuracy(cases, lambda r, ref: math_verify(r, ref, gold=False))
        columns["math-verify gold"] = accuracy(cases, lambda r, ref: math_verify(r, ref, gold=True))
    names = list(columns)
    print(f"accuracy on {len(cases)} cases ({CASES.name})")
    print(f"{'category':<20}{'cases':>6}" + "".join(f"{n:>18}" for n in names))
    for cat in sorted(columns["judge.math"]):
        total = columns["judge.math"][cat][1]
        print(f"{cat:<20}{total:>6}" + "".join(f"{columns[n][cat][0] / total:>18.2f}" for n in names))
    overall = {n: sum(r for r, _ in t.values()) / sum(c for _, c in t.values()) for n, t in columns.items()}
    print(f"{'overall':<20}{len(cases):>6}" + "".join(f"{overall[n]:>18.3f}" for n in names))


# --- speed ------------------------------------------------------------------------------------------

def gsm8k_rows(n: int, rng: random.Random) -> list[tuple[str, str]]:
    rows = []
    for _ in range(n):
        a, b, price = rng.randint(2, 500), rng.randint(2, 500), rng.randint(2, 20)
        total = (a + b) * price
        response = (f"She buys {a} apples and then {b} more, so {a} + {b} = {a + b} apples.\n"
                    f"Each costs ${price}, so she pays {a + b} * {price} = ${total:,}.\n#### {total}")
        reference = f"{a} + {b} = <<{a}+{b}={a + b}>>{a + b}\n#### {total if rng.random() < 0.7 else total + 1}"
        rows.append((response, reference))
    return rows


def math_rows(n: int, cases: list[dict], rng: random.Random) -> list[tuple[str, str]]:
    """Up to ``n`` distinct rows: the cases again and again with new numbers (a case without
    numbers comes once)."""
    rows: dict[tuple[str, str], None] = {}
    for k in range(n * 20):
        if len(rows) == n:
            break
        case = cases[k % len(cases)]
        shift = {}

        def new_number(m: re.Match) -> str:  # the same number changes the same way in both texts
            return shift.setdefault(m.group(), str(int(m.group()) + rng.randint(1, 9)))

        response = re.sub(r"(?<![\d.])\d{1,3}(?![\d.])", new_number, case["response"])
        reference = re.sub(r"(?<![\d.])\d{1,3}(?![\d.])", new_number, str(case["reference"]))
        rows[(response, reference)] = None
    return list(rows)


def rows_per_second(rows: list[tuple[str, str]], math_verify) -> dict[str, tuple[float, float]]:
    """name -> (rows per wall-clock second, rows per CPU second of this process)."""
    df = pl.DataFrame({"response": [r for r, _ in rows], "reference": [g for _, g in rows]})
    stage = MathJudge()

    def timed(work) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        return len(rows) / (time.perf_counter() - wall), len(rows) / (time.process_time() - cpu)

    speeds = {"judge.math": timed(lambda: stage.process_batch(df))}
    if math_verify is not None:
        speeds["math-verify"] = timed(lambda: [math_verify(r, g, gold=True) for r, g in rows])
    return speeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="rows per speed workload")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cases = [json.loads(line) for line in CASES.read_text().splitlines() if line.strip()]
    math_verify = load_math_verify()
    if math_verify is None:
        print("math-verify is not installed (pip install math-verify): judge.math alone\n")
    judge_answer("\\boxed{x}", "x")  # import sympy outside the timings
    if math_verify is not None:
        math_verify("\\boxed{x}", "x", gold=True)
    print_accuracy(cases, math_verify)

    rng = random.Random(args.seed)
    print(f"\nspeed, {args.rows} rows per workload (one process, one after the other)")
    for name, rows in (("GSM8K-style", gsm8k_rows(args.rows, rng)), ("MATH-style", math_rows(args.rows, cases, rng))):
        speeds = rows_per_second(rows, math_verify)
        (wall, cpu) = speeds["judge.math"]
        line = f"{name:<12} {len(rows):>5} rows  judge.math {wall:7.0f} rows/s ({cpu:.0f} per CPU s)"
        if "math-verify" in speeds:
            (mv_wall, mv_cpu) = speeds["math-verify"]
            line += (f"   math-verify {mv_wall:6.0f} rows/s ({mv_cpu:.0f} per CPU s)"
                     f"   ratio {wall / mv_wall:.1f}x wall, {cpu / mv_cpu:.1f}x CPU")
        print(line)


if __name__ == "__main__":
    main()
