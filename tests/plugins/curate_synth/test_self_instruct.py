"""generate.self_instruct: new problems from seed problems shown as examples; repeats removed."""

import json
import re

import polars as pl

from curate.testing import ScriptedEngine, run_stage

SEEDS = ["Write a function that reverses a string.", "Parse a CSV file and print the sum of the second column.",
         "Check whether a number is prime.", ""]


def model(req):
    text = req.messages[0]["content"]
    shown = re.findall(r"Problem \d+:\n(.+)", text)
    if "prime" in shown[0]:
        return "I don't know."  # nothing usable
    first = shown[0].rstrip(".").lower()
    return json.dumps({"items": [f"Write a program for task A about: {first}", shown[0],  # repeats an example
                                 f"Build a command-line tool for task B based on {first}",
                                 f"write a program for task A about {first}!"]})  # repeats a sibling


def test_new_problems_from_examples_with_repeats_removed():
    df = pl.DataFrame({"id": ["s0", "s1", "s2", "s3"], "prompt": SEEDS, "response": ["code"] * 4,
                       "difficulty": ["easy", "medium", "easy", "hard"]})
    engine = ScriptedEngine(default=model, model="m")
    out = run_stage("generate.self_instruct", df, new_per_seed=4, examples=2, max_reasks=0,
                    engines={"default": engine})
    assert out.kept["id"].to_list() == ["s0/code/0", "s0/code/2", "s1/code/0", "s1/code/2"]
    assert out.kept["prompt"][0] == "Write a program for task A about: write a function that reverses a string"
    assert set(out.kept["task"]) == {"code"} and out.kept["difficulty"].to_list() == ["easy"] * 2 + ["medium"] * 2
    assert "response" not in out.kept.columns
    # each request showed the row's own seed first, plus one other non-empty seed
    for req in engine.history:
        shown = re.findall(r"Problem \d+:\n(.+)", req.messages[-1]["content"])
        assert len(shown) == 2 and shown[1] != shown[0] and "" not in shown
    prov = json.loads(out.kept["prompt_generation"][0])
    assert prov["inputs"]["parent_id"] == "s0" and prov["inputs"]["examples"][0] == SEEDS[0]
    reasons = dict(zip(out.removed["id"].to_list(), out.removed["reason"].to_list()))
    assert reasons["s0/code/1"].startswith("near-duplicate of an example it was shown")
    assert reasons["s0/code/3"] == "near-duplicate of s0/code/0"
    assert reasons["s3"] == "empty 'prompt'" and reasons["s2"].startswith("new problems failed")
    assert out.result.stats["stage"].counters["near_duplicates_removed"] == 4


def test_limit_sends_only_the_requests_needed():
    df = pl.DataFrame({"id": [f"s{i}" for i in range(10)], "prompt": [f"Task {i}: sort list {i}" for i in range(10)]})
    distinct = ["Merge two sorted files", "Rotate a matrix in place", "Find anagram groups", "Tokenize arithmetic"]
    engine = ScriptedEngine(default=json.dumps({"items": distinct}))
    out = run_stage("generate.self_instruct", df, new_per_seed=2, limit=3, engines={"default": engine})
    assert out.kept["prompt"].to_list() == distinct[:2] + distinct[:1] and len(engine.history) == 2
    assert out.result.stats["stage"].counters["inputs_unused_by_limit"] == 8
