"""curate-report registered for every test here, installed or not; small real runs to report on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest


@pytest.fixture(autouse=True)
def report_plugin() -> Iterator[None]:
    import curate_report
    from curate.plugins import temporary_plugin

    with temporary_plugin(curate_report, "report-under-test", package="curate-report"):
        yield


RECIPE = """\
name: tiny
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: long-enough
    use: filter.length
    with: {column: response, min: 5}
  - id: no-sorry
    use: filter.regex
    with: {column: response, pattern: "(?i)sorry", keep: non_matching}
  - id: dedup
    use: dedup.exact
    with: {column: prompt}
  - use: write.jsonl
    with: {path: out.jsonl, format: sft}
"""


def tiny_rows(n: int = 40) -> list[dict]:
    rows = []
    for i in range(n):
        response = ["ok", "Sorry, I cannot help.", f"The answer to question {i} is {i * 2}."][i % 3]
        rows.append({"prompt": f"Question {i // 2 if i % 7 == 0 else i}?", "response": response,
                     "task": ["math", "chat"][i % 2]})
    return rows


@pytest.fixture
def tiny_run(tmp_path) -> Path:
    """A finished run of a five-stage recipe (filters, an exact dedup, a writer), with its report."""
    import curate

    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tiny_rows()))
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    curate.run(tmp_path / "tiny.yaml", run_dir=tmp_path / "run")
    return tmp_path / "run"
