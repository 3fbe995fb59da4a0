"""generate.evol_instruct: seeded operations over rounds, each round from the previous, failures end chains."""

import json

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage


def model(req):
    text = req.messages[-1]["content"]
    problem = text.split("Problem:\n")[1].split("\n\nAnswer with JSON")[0]
    op = text.split()[0:3]
    if "UNCHANGED" in problem and "round" in problem:
        return json.dumps({"problem": problem})  # the same problem back: a failed evolution
    tag = {"Make": "harder", "Change": "reasoning", "Take": "breadth"}[op[0]]
    if op[0] == "Make":
        tag = text.split("programming problem ")[1].split()[0]  # harder / deeper / more
    return json.dumps({"problem": f"{problem} [round {problem.count('[round') + 1}: {tag}]"})


def seeds(*texts):
    return pl.DataFrame({"id": [f"s{i}" for i in range(len(texts))], "prompt": list(texts), "response": ["x"] * len(texts)})


def test_rounds_chain_and_operations_are_seeded():
    df = seeds("Sum the even numbers of a list.", "Count the words of a file.")
    out = run_stage("generate.evol_instruct", df, rounds=3, engines={"default": ScriptedEngine(default=model)})
    assert out.removed is None and out.kept.height == 6
    s0 = out.kept.filter(pl.col("id").str.starts_with("s0/"))
    assert s0["id"].to_list() == ["s0/code/0", "s0/code/1", "s0/code/2"] and s0["evol_round"].to_list() == [1, 2, 3]
    prompts = s0["prompt"].to_list()
    assert prompts[1].startswith(prompts[0]) and prompts[2].startswith(prompts[1])  # each round from the previous
    assert prompts[2].count("[round") == 3 and "response" not in out.kept.columns
    ops = out.kept["evol_operation"].to_list()
    assert set(ops) <= {"add_constraints", "deepen", "concretize", "increase_reasoning", "breadth"} and len(set(ops)) > 1
    prov = json.loads(s0["prompt_generation"][2])
    assert prov["inputs"]["operations"] == s0["evol_operation"].to_list()
    again = run_stage("generate.evol_instruct", df, rounds=3, engines={"default": ScriptedEngine(default=model)})
    other = run_stage("generate.evol_instruct", df, rounds=3, seed=5, engines={"default": ScriptedEngine(default=model)})
    assert again.kept["evol_operation"].to_list() == ops and other.kept["evol_operation"].to_list() != ops


def test_keep_last_and_a_failed_round_ends_the_chain():
    df = seeds("Reverse a list UNCHANGED.", "Sort a dict by value.")
    engine = ScriptedEngine(default=lambda r: model(r) if "UNCHANGED" not in r.messages[-1]["content"]
                            or "[round 1" not in r.messages[-1]["content"] else json.dumps({"problem": "x"}))
    out = run_stage("generate.evol_instruct", df, rounds=3, keep="last", operations=["deepen", "concretize"],
                    engines={"default": engine})
    assert out.kept["id"].to_list() == ["s0/code/0", "s1/code/2"]  # s0 stopped after round 1
    assert out.kept["evol_round"].to_list() == [1, 3]
    assert out.removed["id"].to_list() == ["s0/code/1"]
    assert out.removed["reason"][0] == "round 2: deepen made the problem much shorter (1 words from 7)" or \
        out.removed["reason"][0].startswith("round 2: concretize made the problem much shorter")


def test_unknown_operation_fails_validation(write_jsonl, write_recipe):
    write_jsonl([{"prompt": "Hi"}], "p.jsonl")
    recipe = write_recipe("""name: e
engines:
  default: {use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}
stages:
  - use: read.jsonl
    with: {path: p.jsonl}
  - use: generate.evol_instruct
    with: {operations: [deepen, widen]}
""")
    with pytest.raises(curate.RecipeError, match="operations"):
        curate.run(recipe, dry_run=True)
