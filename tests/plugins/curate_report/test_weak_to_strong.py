"""recipes/weak-to-strong/run.sh runs offline: two rounds that differ only in the generator (one
--set), each in its own run directory, and a report that compares them."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow
def test_two_rounds_and_their_comparison(tmp_path):
    pytest.importorskip("transformers")
    work = tmp_path / "w2s"
    env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(REPO / "recipes" / "weak-to-strong" / "run.sh"), str(work)],
                          capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rounds = [json.loads((work / f"round{k}" / "run.json").read_text()) for k in (1, 2)]
    models = [r["engines"]["generator"]["identity"]["model"] for r in rounds]
    assert models == ["models/round1", "models/round2"]
    assert rounds[0]["recipe"]["stages"] == rounds[1]["recipe"]["stages"]  # only the generator changed
    answers = [(work / f"round{k}" / "sft.jsonl").read_text() for k in (1, 2)]
    assert answers[0] and answers[1] and answers[0] != answers[1]
    for k in (1, 2):
        assert (work / f"round{k}" / "report.html").exists()
    page = (work / "rounds.html").read_text()
    data = json.loads(re.search(r'id="report-data">(.*?)</script>', page, re.S).group(1))
    assert [r["label"] for r in data["runs"]] == ["round1", "round2"]
    assert any(c["kind"] == "mean" and c["name"] == "reward" and c["changed"] for c in data["changes"])
