"""filter.decontaminate: exact and n-gram matches against benchmark files, the overlap column,
and benchmark files checked at validation."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing import run_stage

GSM = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May."
MATH = "What is the sum of the first one hundred positive integers?"


@pytest.fixture
def bench(tmp_path) -> Path:
    path = tmp_path / "gsm.jsonl"
    path.write_text("".join(json.dumps({"question": q, "answer": "x"}) + "\n" for q in (GSM, "What is 2+2?")))
    return path


def test_exact_and_ngram_overlap(bench, tmp_path):
    df = pl.DataFrame({
        "prompt": [GSM.upper(), "what is 2 + 2", "Tell me about clips and friends.",
                   "Natalia sold clips to 48 of her friends in April and then she went home to rest."],
        "response": ["72", "4", "Sure.", "ok"],
    })
    out = run_stage("filter.decontaminate", df, benchmarks=[str(bench)], benchmark_column="question", n=5,
                    action="flag", run_dir=tmp_path / "run")
    kept = out.kept
    assert kept["decontaminate_reason"].to_list() == [
        "prompt equals a text of benchmark gsm.jsonl",
        "prompt equals a text of benchmark gsm.jsonl",
        None,
        # 17 words: 13 5-grams, of which the first 9 ("natalia sold clips to 48" ... "in april and then
        # she") are GSM's
        "prompt shares word 5-grams with benchmark gsm.jsonl (0.692 of its 5-grams > 0.0)",
    ]
    assert kept["contamination"].to_list()[0] == 1.0
    assert kept["contamination"][2] == 0.0
    assert round(kept["contamination"][3], 4) == round(9 / 13, 4)


def test_max_overlap_and_short_texts(bench):
    df = pl.DataFrame({"prompt": ["Natalia sold clips to 48 of her friends in April and then she went home to rest.",
                                  "hello"], "response": ["a", "b"]})
    out = run_stage("filter.decontaminate", df, benchmarks=[str(bench)], benchmark_column="question", n=5,
                    max_overlap=0.7)
    assert out.kept.height == 2
    assert out.kept["contamination"][1] is None  # fewer than n words: no n-gram to compare


def test_response_and_second_benchmark_named(bench, tmp_path):
    other = tmp_path / "math.parquet"
    pl.DataFrame({"question": [MATH]}).write_parquet(other)
    df = pl.DataFrame({"prompt": ["Solve this one for me", "hi"],
                       "response": ["Sure: " + MATH + " It is 5050.", "hello"]})
    out = run_stage("filter.decontaminate", df, benchmarks=[str(bench), str(other)], benchmark_column="question",
                    n=8)
    assert out.kept["prompt"].to_list() == ["hi"]
    [reason] = out.removed["reason"].to_list()
    assert reason.startswith("response shares word 8-grams with benchmark math.parquet (")
    # 8-grams: GSM has 20 words (13), "what is 2 2" none, MATH 11 words (4)
    assert out.result.stats["stage"].counters == {"benchmark_texts": 3, "benchmark_ngrams": 17}


@pytest.mark.parametrize("content, message", [
    (None, "benchmark file not found"),
    ('{"question": "ok"}\n{"question": 3}\n', r"line 2: 'question' is int, not text"),
    ('{"question": "ok"}\nnot json\n', "line 2 is not valid JSON"),
    ('{"prompt": "ok"}\n', "line 1: no 'question'"),
    ("\n\n", "benchmark file has no rows"),
])
def test_bad_benchmark_fails_before_anything_runs(tmp_path, content, message):
    path = tmp_path / "bench.jsonl"
    if content is not None:
        path.write_text(content)
    data = tmp_path / "in.jsonl"
    data.write_text('{"prompt": "p", "response": "r"}\n')
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"""name: decontam
stages:
  - use: read.jsonl
    with: {{path: {data}}}
  - use: filter.decontaminate
    with: {{benchmarks: [{path.name}], benchmark_column: question}}  # relative to the recipe
""")
    with pytest.raises(curate.DataError, match=message) as info:
        curate.run(recipe, run_dir=tmp_path / "run")
    if content is not None and "line" in message:
        assert f"{path}:2" in str(info.value) or f"{path}:1" in str(info.value)
    assert not (tmp_path / "run" / "stages").exists()  # validation failed: no stage ran


def test_parquet_benchmark_problems(tmp_path):
    df = pl.DataFrame({"prompt": ["p"], "response": ["r"]})
    wrong = tmp_path / "b.parquet"
    pl.DataFrame({"q": ["x"]}).write_parquet(wrong)
    with pytest.raises(curate.DataError, match="benchmark file has no column 'prompt'"):
        run_stage("filter.decontaminate", df, benchmarks=[str(wrong)])
    broken = tmp_path / "c.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(curate.DataError, match="not a readable Parquet file"):
        run_stage("filter.decontaminate", df, benchmarks=[str(broken)])
    csv = tmp_path / "d.csv"
    csv.write_text("prompt\nx\n")
    with pytest.raises(curate.DataError, match="is not .jsonl or .parquet"):
        run_stage("filter.decontaminate", df, benchmarks=[str(csv)])


def test_editing_a_benchmark_reruns_the_stage(bench, tmp_path):
    df = pl.DataFrame({"prompt": ["what is 2 + 2", "hello there"], "response": ["4", "hi"]})
    args = dict(benchmarks=[str(bench)], benchmark_column="question", run_dir=tmp_path / "run")
    assert run_stage("filter.decontaminate", df, **args).kept.height == 1
    bench.write_text(json.dumps({"question": "hello there"}) + "\n")
    again = run_stage("filter.decontaminate", df, **args)
    assert not again.result.stats["stage"].cached
    assert again.kept["prompt"].to_list() == ["what is 2 + 2"]


def test_empty_null_and_huge_rows(bench):
    huge = " ".join(f"w{i}" for i in range(60_000)) + " " + GSM
    df = pl.DataFrame({"prompt": ["", None, huge], "response": [None, "", "x"]}, schema={"prompt": pl.String,
                                                                                       "response": pl.String})
    out = run_stage("filter.decontaminate", df, benchmarks=[str(bench)], benchmark_column="question", n=8)
    assert out.kept.height == 2
    assert out.removed["reason"][0].startswith("prompt shares word 8-grams with benchmark gsm.jsonl")
