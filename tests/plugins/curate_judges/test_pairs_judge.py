"""pairs.from_judge: consistent wins become chosen/rejected pairs, ties are dropped, one pair per
prompt on request; and the whole chain read -> generate -> judge -> pairs -> preference JSONL."""

from __future__ import annotations

import json
import re
from typing import Iterator

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage

from ..conftest import registered


@pytest.fixture(autouse=True)
def judges_registered() -> Iterator[None]:
    import curate_judges

    with registered(curate_judges, "pairs.from_judge", "judge", "curate-judges"):
        yield


JUDGE = {"stage": "judged", "engine": "judge", "model": "m", "template": "t", "template_sha": "s"}


def verdicts(*rows: tuple[str, str, str, str | None]) -> pl.DataFrame:
    """judge.pairwise-like rows: (prompt_id, response_a, response_b, winner)."""
    count: dict[str, int] = {}
    out = []
    for pid, a, b, winner in rows:
        count[pid] = count.get(pid, 0) + 1
        out.append({"id": f"{pid}/{count[pid]}", "prompt_id": pid, "prompt": f"question {pid}", "response_a": a,
                    "response_b": b, "winner": winner, "verdict_ab": "[[A]]", "verdict_ba": "[[B]]",
                    "judgment_ab": "...", "judgment_ba": "...", "judge": JUDGE})
    return pl.DataFrame(out)


def test_wins_become_pairs_and_ties_are_removed():
    df = verdicts(("p", "x", "y", "a"), ("p", "x", "z", "b"), ("p", "y", "z", "tie"), ("q", "u", "v", "maybe"))
    out = run_stage("pairs.from_judge", df)
    assert out.kept.select("id", "prompt_id", "prompt", "chosen", "rejected").rows() == [
        ("p/1", "p", "question p", "x", "y"), ("p/2", "p", "question p", "z", "x")]
    assert out.kept["judge"].to_list() == [JUDGE, JUDGE]
    assert out.kept["score_chosen"].is_null().all() and out.kept["score_rejected"].is_null().all()
    assert out.kept.schema["score_chosen"] == pl.Float64
    assert not {"response_a", "response_b", "winner", "judgment_ab"} & set(out.kept.columns)
    assert out.removed.select("id", "reason").rows() == [("p/3", "tie"),
                                                         ("q/1", "winner 'maybe' is not a, b or tie")]
    counters = out.result.stats["stage"].counters
    assert (counters["pairs"], counters["ties"]) == (2, 1)


def test_binary_scores():
    out = run_stage("pairs.from_judge", verdicts(("p", "x", "y", "b")), scores="binary")
    assert out.kept.select("chosen", "rejected", "score_chosen", "score_rejected").rows() == [("y", "x", 1.0, 0.0)]


def test_keep_strongest_takes_the_largest_difference_in_wins():
    # best > mid > worst, judged in every pair: best has 2 wins, worst 0 -> the pair (best, worst).
    df = verdicts(("p", "best", "mid", "a"), ("p", "worst", "best", "b"), ("p", "mid", "worst", "a"))
    out = run_stage("pairs.from_judge", df, keep="strongest")
    assert out.kept.select("prompt_id", "chosen", "rejected").rows() == [("p", "best", "worst")]
    reasons = dict(zip(out.removed["id"], out.removed["reason"]))
    assert reasons == {"p/1": "not the strongest pair of prompt 'p' (keep: strongest; wins difference 1 < 2)",
                       "p/3": "not the strongest pair of prompt 'p' (keep: strongest; wins difference 1 < 2)"}


def test_keep_strongest_breaks_ties_with_a_seeded_draw():
    # A cycle x > y > z > x: every pair has a wins difference of 0, so the draw decides.
    cycle = [row for n in range(12) for row in verdicts((f"c{n}", "x", "y", "a"), (f"c{n}", "y", "z", "a"),
                                                        (f"c{n}", "z", "x", "a")).iter_rows(named=True)]
    df = pl.DataFrame(cycle)

    def picked(seed: int) -> list[str]:
        out = run_stage("pairs.from_judge", df, keep="strongest", seed=seed)
        assert out.kept["prompt_id"].to_list() == [f"c{n}" for n in range(12)]
        assert set(out.removed["reason"].str.extract(r"; (.*)\)$").to_list()) == {
            "lost the seeded draw between equally strong pairs"}
        return out.kept["id"].to_list()

    first = picked(3)
    assert picked(3) == first and picked(4) != first
    assert len({pair_id.split("/")[1] for pair_id in first}) > 1  # the draw does not always pick the same slot


def test_wrong_input_types_are_data_errors():
    df = verdicts(("p", "x", "y", "a")).with_columns(pl.lit(1).alias("winner"))
    with pytest.raises(curate.DataError, match="column 'winner' has type Int32, not text"):
        run_stage("pairs.from_judge", df)


RECIPE = """\
name: judge-e2e
engines: {}
stages:
  - use: read.jsonl
    with: {path: prompts.jsonl}
  - id: responses
    use: generate.responses
    with: {engines: [gen], n: 3, output: list}
  - id: judged
    use: judge.pairwise
  - id: pairs
    use: pairs.from_judge
  - id: export
    use: write.jsonl
    with: {path: preference.jsonl, format: preference}
"""

ANSWER = re.compile(r"\[Answer ([AB])\]\n(.*?)\n\[End of answer \1\]", re.S)


def fair_judge(req: curate.ChatRequest) -> str:
    answers = dict(ANSWER.findall(req.messages[-1]["content"]))
    a, b = (int(answers[k].rsplit("q=", 1)[1]) for k in "AB")
    return "[[A]]" if a > b else "[[B]]" if b > a else "[[C]]"


def test_end_to_end_prompts_to_preference_jsonl(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"id": "p1", "prompt": "Name a prime."}, {"id": "p2", "prompt": "Name a colour."}],
                name="prompts.jsonl")
    recipe = write_recipe(RECIPE)
    gen = ScriptedEngine(["alpha q=2", "beta q=3", "gamma q=1", "delta q=1", "eps q=1", "zeta q=2"], model="gen-m")
    judge = ScriptedEngine(default=fair_judge, model="judge-m")
    result = curate.run(recipe, run_dir=tmp_path / "run", engines={"gen": gen, "judge": judge})

    lines = [json.loads(line) for line in (tmp_path / "run" / "preference.jsonl").read_text().splitlines()]
    sha = curate.package_template("curate_judges", "pairwise.j2").sha
    judged_by = {"stage": "judged", "engine": "judge", "model": "judge-m", "template": "curate_judges:pairwise.j2",
                 "template_sha": sha}

    def line(pid: str, n: int, pair: str, prompt: str, chosen: str, rejected: str) -> dict:
        return {"prompt": [{"role": "user", "content": prompt}],
                "chosen": [{"role": "assistant", "content": chosen}],
                "rejected": [{"role": "assistant", "content": rejected}],
                "score_chosen": None, "score_rejected": None, "id": f"{pid}/{pair}", "prompt_id": pid,
                "judge": judged_by, "provenance": {"recipe": "judge-e2e", "source": f"prompts.jsonl:{n}"}}

    expected = [
        line("p1", 1, "0-1", "Name a prime.", "beta q=3", "alpha q=2"),
        line("p1", 1, "0-2", "Name a prime.", "alpha q=2", "gamma q=1"),
        line("p1", 1, "1-2", "Name a prime.", "beta q=3", "gamma q=1"),
        # p2's (0, 1) is a tie: no line
        line("p2", 2, "0-2", "Name a colour.", "zeta q=2", "delta q=1"),
        line("p2", 2, "1-2", "Name a colour.", "zeta q=2", "eps q=1"),
    ]
    assert len(lines) == len(expected)
    for got, want in zip(lines, expected):
        assert got == want
    assert result.rundir.removed("pairs").select("id", "reason").rows() == [("p2/0-1", "tie")]
    judged = result.stats["judged"].counters
    assert (judged["pairs_judged"], judged["consistent"], judged["ties"], judged["requests_sent"]) == (6, 6, 1, 12)

    # Everything is checkpointed: a rerun reuses every stage and asks no engine anything.
    again = curate.run(recipe, run_dir=tmp_path / "run", engines={"gen": ScriptedEngine(model="gen-m"),
                                                                  "judge": ScriptedEngine(model="judge-m")})
    assert all(s.cached for s in again.stats.values())
