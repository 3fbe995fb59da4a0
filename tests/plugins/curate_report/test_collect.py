"""What the report reads out of a run directory: funnel, reasons, timing, usage, distributions,
and bounded samples of rows."""

from __future__ import annotations

import json

import polars as pl
import pytest

from curate_report.collect import MAX_TEXT_CHARS, _usage, collect
from curate_report.distributions import column_distributions, length_distributions


def test_funnel_matches_the_manifest_and_counts_reasons(tiny_run):
    data = collect(tiny_run)
    manifest = json.loads((tiny_run / "run.json").read_text())
    assert [s["id"] for s in data["stages"]] == [s["id"] for s in manifest["stages"]]
    for stage, entry in zip(data["stages"], manifest["stages"]):
        assert (stage["rows_in"], stage["rows_out"], stage["rows_removed"]) == \
            (entry["stats"]["rows_in"], entry["stats"]["rows_out"], entry["stats"]["rows_removed"])
    by_id = {s["id"]: s for s in data["stages"]}
    removed = pl.read_parquet(tiny_run / "stages" / "02-no-sorry" / "removed.parquet")
    assert by_id["no-sorry"]["reasons"] == [[removed["reason"][0], removed.height]]
    assert sum(n for _, n in by_id["long-enough"]["reasons"]) == by_id["long-enough"]["rows_removed"] > 0
    assert by_id["write.jsonl"]["writer"] and not by_id["dedup"]["writer"]
    assert data["complete"] and data["provenance"]["not_run"] == [] and data["warnings"] == []
    assert data["provenance"]["seconds"] >= 0 and "name: tiny" in data["provenance"]["recipe_yaml"]


def test_rows_are_sampled_per_stage_with_their_reasons(tiny_run):
    data = collect(tiny_run, sample=3)
    rows = data["rows"]["long-enough"]
    assert len(rows["kept"]) == 3 and rows["kept_total"] > 3
    assert all(r["reason"] for r in rows["removed"]) and len(rows["removed"]) <= 3
    # the writer shows the rows it wrote
    assert rows["kept"] and data["rows"]["write.jsonl"]["kept"][0].keys() >= {"prompt", "response"}


def test_removed_sample_covers_every_reason_and_stays_bounded():
    reasons = [f"reason {i % 7}" for i in range(5000)]
    frame = pl.DataFrame({"id": [str(i) for i in range(5000)], "reason": reasons,
                          "text": ["x" * (MAX_TEXT_CHARS + 10)] * 5000})
    from curate_report.collect import _sample, _sample_removed

    picked = _sample_removed(frame.lazy(), 70)
    assert len(picked) == 70 and {r["reason"] for r in picked} == set(reasons)
    assert all(len(r["text"]) < MAX_TEXT_CHARS + 40 and r["text"].endswith("chars]") for r in picked)
    spread = _sample(frame.lazy(), 10)
    assert [r["id"] for r in spread] == [str(i * 500) for i in range(10)]  # spread over the file, not its head


def test_distributions_of_scores_verdicts_clusters_and_constraints():
    frame = pl.DataFrame({
        "reward": [1.0, 2.0, 3.0, None, 5.0],
        "math_correct": [True, False, True, None, True],
        "exact_cluster": [0, 0, 1, 2, 2],
        "language": ["en", "en", "fr", "en", None],
        "instruction_id_list": [["a", "b"], ["a"], ["b"], [], ["a"]],
        "if_follow_strict": [[True, False], [True], [False], [], [False]],
        "prompt": ["p"] * 5,
    }).lazy()
    found = {d["column"]: d for d in column_distributions("s", frame, frame.collect_schema().names())}
    assert "prompt" not in found and "instruction_id_list" not in found
    reward = found["reward"]
    assert reward["kind"] == "histogram" and reward["group"] == "scores"
    assert sum(reward["counts"]) == 4 and reward["stats"]["nulls"] == 1 and reward["stats"]["mean"] == pytest.approx(2.75)
    assert reward["counts"][0] == 1 and reward["counts"][-1] == 1  # min and max land in the end bins
    assert (found["math_correct"]["true"], found["math_correct"]["false"], found["math_correct"]["null"]) == (3, 1, 1)
    assert found["math_correct"]["rate"] == pytest.approx(0.75)
    assert dict(zip(found["exact_cluster"]["labels"], found["exact_cluster"]["counts"])) == {"1": 1, "2": 2}
    assert dict(zip(found["language"]["labels"], found["language"]["counts"])) == {"en": 3, "fr": 1, "(none)": 1}
    per_constraint = found["if_follow_strict"]
    rates = {k: (p, n) for k, p, n in zip(per_constraint["labels"], per_constraint["passed"], per_constraint["n"])}
    assert rates == {"a": (2, 3), "b": (0, 2)}


def test_cluster_sizes_count_removed_members_too():
    kept = pl.DataFrame({"minhash_cluster": [0, 1, 2]}).lazy()
    removed = pl.DataFrame({"minhash_cluster": [0, 0, 2], "reason": ["dup"] * 3}).lazy()
    (d,) = column_distributions("s", kept, ["minhash_cluster"], removed)
    assert dict(zip(d["labels"], d["counts"])) == {"1": 1, "2": 1, "3": 1}


def test_lengths_of_text_and_messages():
    frame = pl.DataFrame({
        "messages": [[{"role": "user", "content": "abc"}, {"role": "assistant", "content": "de"}]],
        "chosen": ["12345"], "rejected": ["1"]}).lazy()
    found = {d["column"]: d for d in length_distributions("w", frame)}
    assert found["messages length"]["stats"]["mean"] == 5
    assert found["chosen length"]["stats"]["max"] == 5 and found["rejected length"]["stats"]["min"] == 1


def test_an_odd_column_costs_only_its_own_distribution():
    frame = pl.DataFrame({"reward": [1.0, float("inf"), float("nan")], "weird": [[1], [2], [3]]}).lazy()
    found = column_distributions("s", frame, ["reward", "weird"])
    assert [d["column"] for d in found] == ["reward"] and found[0]["stats"]["count"] == 1


def test_usage_is_summed_per_engine_with_tokens_per_second():
    stages = [{"seconds": 2.0, "engines": {"gen": {"requests_sent": 3, "completion_tokens": 100, "cost_usd": 0.5}}},
              {"seconds": 3.0, "engines": {"gen": {"requests_sent": 1, "completion_tokens": 50},
                                          "rm": {"requests_sent": 4, "requests_cached": 2}}},
              {"seconds": 1.0, "engines": {}}]
    usage = {u["engine"]: u for u in _usage(stages)}
    assert usage["gen"]["requests_sent"] == 4 and usage["gen"]["cost_usd"] == 0.5
    assert usage["gen"]["completion_tokens_per_s"] == pytest.approx(150 / 5)
    assert usage["rm"]["requests_cached"] == 2 and usage["rm"]["completion_tokens_per_s"] is None


def test_a_running_run_is_read_from_its_checkpoints(tiny_run):
    """run.json is rewritten only when a run ends: while it runs (or after a kill -9) it lists every
    stage as not run; the stages with a matching checkpoint have finished."""
    manifest = json.loads((tiny_run / "run.json").read_text())
    expected = {s["id"]: s["stats"]["rows_out"] for s in manifest["stages"]}
    for entry in manifest["stages"]:
        entry.update(status="not run", stats=None)
    manifest.update(complete=False, finished=None)
    (tiny_run / "run.json").write_text(json.dumps(manifest))
    (tiny_run / "stages" / "04-write.jsonl" / "meta.json").unlink()  # the last stage is still running
    data = collect(tiny_run)
    assert not data["complete"] and data["provenance"]["not_run"] == ["write.jsonl"]
    assert {s["id"]: s["rows_out"] for s in data["stages"][:-1]} == {k: v for k, v in expected.items() if k != "write.jsonl"}
    assert "dedup" in data["rows"] and "write.jsonl" not in data["rows"]
