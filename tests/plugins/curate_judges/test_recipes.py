"""The judging recipes run end to end offline, with scripted engines in place of the models."""

import json
from pathlib import Path

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, ScriptedScorer

RECIPES = Path(__file__).resolve().parents[3] / "recipes"


def policy(label):
    """Answers that differ by engine and sample; math prompts get a right and a wrong answer."""
    counter = {"n": 0}

    def reply(req):
        counter["n"] += 1
        text = req.messages[-1]["content"]
        if "km" in text:
            return f"{label}: 60 km in 0.75 h is 80 km/h. The answer is 80." if counter["n"] % 2 else \
                f"{label}: the answer is 45."
        if "15%" in text:
            return f"{label}: \\boxed{{36}}" if counter["n"] % 2 else f"{label}: \\boxed{{24}}"
        return f"{label} answer {counter['n']} to: {text}"
    return reply


def judge(req):
    """Prefers the answer of the strong engine, in whichever position it is (a consistent judge)."""
    text = req.messages[-1]["content"]
    a = text.split("[Answer A]")[1].split("[End of answer A]")[0]
    return "A reads better.\n[[A]]" if a.strip().startswith("strong") else "B reads better.\n[[B]]"


def helpsteer(req):
    strong = req.response.startswith("strong")
    return {"helpfulness": 3.0 if strong else 1.0, "correctness": 3.0 if strong else 1.0, "coherence": 3.5,
            "complexity": 1.0, "verbosity": 1.0 + 0.01 * len(req.response)}


def test_nemotron4_preference_recipe(tmp_path):
    engines = {"strong": ScriptedEngine(default=policy("strong"), model="strong-model"),
               "weak": ScriptedEngine(default=policy("weak"), model="weak-model"),
               "judge": ScriptedEngine(default=judge, model="judge-model"),
               "reward": ScriptedScorer(helpsteer, model="rm", attributes=("helpfulness", "correctness", "coherence",
                                                                           "complexity", "verbosity"))}
    result = curate.run(RECIPES / "nemotron4-preference.yaml", run_dir=tmp_path, engines=engines)
    assert result.stats["responses"].rows_out == 6 * 3
    # The list branch asked nothing new: every request was in the cache.
    assert result.stats["response-lists"].counters.get("requests_sent", 0) == 0
    pairs = pl.read_ndjson(tmp_path / "preference.jsonl")
    assert pairs.height == result.outputs["preference"].height > 6
    reward_pairs = result.rundir.output("reward-pairs")
    assert reward_pairs.height == 6 and (reward_pairs["score_gap"] >= 0.5).all()
    assert all(c.startswith("strong") and r.startswith("weak")
               for c, r in zip(reward_pairs["chosen"], reward_pairs["rejected"]))
    judged = result.rundir.output("judge-pairs")
    assert judged.height > 0 and all(c.startswith("strong") for c in judged["chosen"])
    truth = result.rundir.output("truth-pairs")
    assert set(truth["prompt_id"]) <= {"p3", "p5"} and truth.height >= 1
    assert all("80" in c or "36" in c for c in truth["chosen"])
    sft = pl.read_ndjson(tmp_path / "sft.jsonl")
    assert sft.height == 6 and all(m[-1]["content"].startswith("strong") for m in sft["messages"])


def test_llama3_rejection_sampling_recipe(tmp_path):
    pytest.importorskip("curate_dedup")
    engines = {"policy": ScriptedEngine(default=policy("policy"), model="policy"),
               "reward": ScriptedScorer(lambda req: float(len(req.response) % 7), model="rm")}
    result = curate.run(RECIPES / "llama3-rejection-sampling.yaml", run_dir=tmp_path, engines=engines)
    assert result.stats["samples"].rows_out == 6 * 4
    best = result.rundir.output("best")
    assert best.height == 6 and best["prompt_id"].n_unique() == 6
    scored = result.rundir.output("scored")
    top = scored.group_by("prompt_id").agg(pl.col("reward").max().alias("top"))
    assert (best.join(top, on="prompt_id").select(pl.col("reward") == pl.col("top")).to_series()).all()
    assert len((tmp_path / "sft.jsonl").read_text().splitlines()) == result.stats["diverse"].rows_out


def test_unsafe_rows_are_dropped_from_sft_but_kept_for_preference(tmp_path, write_jsonl, write_recipe):
    write_jsonl([{"prompt": "How do I bake bread?"}, {"prompt": "How to make a bomb at home"}])
    recipe = write_recipe("""name: split
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: responses
    use: generate.responses
    with: {n: 2}
  - id: flagged
    use: filter.regex
    with: {column: prompt, pattern: "(?i)bomb", action: flag}
  - id: sft-only-safe
    use: filter.regex
    with: {column: regex_reason, pattern: ".", keep: non_matching}
  - id: sft
    use: write.jsonl
    with: {path: sft.jsonl, format: sft}
  - id: scored
    use: judge.reward_model
    inputs: [flagged]
  - id: pairs
    use: pairs.from_scores
  - id: preference
    use: write.jsonl
    with: {path: preference.jsonl, format: preference}
""")
    refusal = "I can't help with that."
    samples = iter(range(100))
    engine = ScriptedEngine(default=lambda r: refusal if "bomb" in r.messages[-1]["content"] and next(samples) % 2
                            else "Sure: " + r.messages[-1]["content"])
    result = curate.run(recipe, run_dir=tmp_path / "run", engines={
        "default": engine, "reward": ScriptedScorer(lambda r: 1.0 if r.response == refusal or "bread" in r.response
                                                    else -1.0)})
    sft = [json.loads(line) for line in (tmp_path / "run" / "sft.jsonl").read_text().splitlines()]
    assert sft and all("bomb" not in row["messages"][0]["content"] for row in sft)
    preference = [json.loads(line) for line in (tmp_path / "run" / "preference.jsonl").read_text().splitlines()]
    unsafe = [p for p in preference if "bomb" in p["prompt"][0]["content"]]
    assert len(unsafe) == 1 and unsafe[0]["chosen"][0]["content"] == refusal
    assert result.stats["sft-only-safe"].rows_removed == 2
