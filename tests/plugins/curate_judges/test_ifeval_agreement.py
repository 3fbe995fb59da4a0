"""Our IFEval checkers agree with the reference on every labelled case, strictly and loosely.

``data/ifeval_cases.jsonl`` holds cases for every instruction id (positives, negatives, counts
at the boundary for both relations, markdown, fences, chatty first and last lines, ...), each
labelled by running IFEval's reference checkers (``scripts/label_ifeval_cases.py``: its first
line says which reference, NLTK and langdetect). Rows marked ``invalid`` are kwargs the
reference cannot evaluate deterministically; our catalog must refuse them.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterator

import polars as pl
import pytest

from curate.testing import run_stage

from ..conftest import registered

TABLE = Path(__file__).parent / "data" / "ifeval_cases.jsonl"


@pytest.fixture(autouse=True)
def judges_registered() -> Iterator[None]:
    import curate_judges

    with registered(curate_judges, "judge.instruction_following", "judge", "curate-judges"):
        yield


def _rows() -> tuple[dict, list[dict]]:
    lines = [json.loads(line) for line in TABLE.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines[0]["meta"], lines[1:]


META, ROWS = _rows()
VALID = [r for r in ROWS if "invalid" not in r]
INVALID = [r for r in ROWS if "invalid" in r]


def _ids() -> list[str]:
    from curate_judges.ifeval import INSTRUCTION_IDS

    return list(INSTRUCTION_IDS)


@pytest.fixture(scope="module")
def disagreements() -> dict[str, list[str]]:
    """Per instruction id, the cases where our verdict differs from the reference's."""
    from curate_judges import ifeval

    found = defaultdict(list)
    for row in VALID:
        verdict = ifeval.evaluate(row["instruction_id_list"], row["response"], row["kwargs"], row["prompt"])
        for i, instruction_id in enumerate(row["instruction_id_list"]):
            ours = (verdict.strict[i], verdict.loose[i])
            theirs = (row["strict"][i], row["loose"][i])
            if ours != theirs:
                found[instruction_id].append(f"{row['name']}: reference (strict, loose) {theirs}, ours {ours}")
    return found


def test_the_table_says_how_it_was_labelled():
    assert "reference" in META and META["nltk"] and META["langdetect"] and META["langdetect_seed"] == 0


@pytest.mark.parametrize("instruction_id", _ids())
def test_agrees_with_the_reference(instruction_id, disagreements):
    assert disagreements.get(instruction_id, []) == []


@pytest.mark.parametrize("instruction_id", _ids())
def test_every_instruction_has_discriminating_cases(instruction_id):
    labels = [(r["strict"][i], r["loose"][i]) for r in VALID for i, x in enumerate(r["instruction_id_list"])
              if x == instruction_id]
    assert len(labels) >= 12
    assert any(s for s, _ in labels) and any(not s for s, _ in labels), "needs followed and not followed cases"
    assert any(s != loose for s, loose in labels) or instruction_id in (
        "detectable_content:number_placeholders", "detectable_format:number_highlighted_sections"), \
        "needs a case that only loose mode passes"  # (removing lines or stars cannot add these)


def test_no_instruction_id_in_the_table_is_unknown():
    from curate_judges import ifeval

    assert {i for r in VALID for i in r["instruction_id_list"]} == set(ifeval.INSTRUCTION_IDS)


@pytest.mark.parametrize("row", INVALID, ids=[r["name"] for r in INVALID])
def test_what_the_reference_cannot_evaluate_is_refused(row):
    from curate_judges import ifeval

    with pytest.raises(ifeval.IFEvalError):
        ifeval.evaluate(row["instruction_id_list"], row["response"], row["kwargs"], row["prompt"])


def test_the_judge_stage_writes_the_reference_verdicts_and_removes_the_invalid_rows():
    df = pl.DataFrame({
        "id": [str(i) for i in range(len(ROWS))],
        "prompt": [r["prompt"] or "" for r in ROWS],
        "response": [r["response"] for r in ROWS],
        "instruction_id_list": [r["instruction_id_list"] for r in ROWS],
        "kwargs": [json.dumps(r["kwargs"]) for r in ROWS],  # heterogeneous dicts: JSON strings
    })
    out = run_stage("judge.instruction_following", df)
    kept = out.kept.sort(pl.col("id").cast(pl.Int64))
    expected = [r for r in ROWS if "invalid" not in r]
    assert kept["if_follow_strict"].to_list() == [r["strict"] for r in expected]
    assert kept["if_follow_loose"].to_list() == [r["loose"] for r in expected]
    assert kept["if_all_strict"].to_list() == [all(r["strict"]) for r in expected]
    assert kept["if_all_loose"].to_list() == [all(r["loose"]) for r in expected]
    removed = out.removed.sort(pl.col("id").cast(pl.Int64))
    assert removed["id"].to_list() == [str(i) for i, r in enumerate(ROWS) if "invalid" in r]
    assert all(reason.startswith("cannot check instructions: ") for reason in removed["reason"])
