"""generate.incapable: few-shot requests per category, near-duplicates removed, each with a refusal."""

import json

import pytest

import curate
from curate.testing import ScriptedEngine


def model(req):
    text = req.messages[-1]["content"]
    if text.startswith("An AI assistant that only reads"):
        category = text.split('"')[1]
        if category == "smell":
            return "I cannot think of any."  # nothing usable
        return json.dumps({"items": [f"Please {category} the thing number {k}" for k in range(3)]
                           + [f"please {category.upper()} the thing number 0!"]})  # a near-duplicate
    request = text.split("\n\n")[1]
    if request.endswith("number 2"):
        return RuntimeError("server error")
    return json.dumps({"response": f"I can't do that ({request}), but I can explain how you could."})


RECIPE = """name: t
engines:
  default: {use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}
stages:
  - use: generate.incapable
    with:
      requests_per_category: 4
      max_reasks: 0
      categories:
        - {name: browse, description: It cannot open links., examples: [Open this page for me, Search the web for X]}
        - {name: smell, description: It cannot smell.}
  - use: write.jsonl
    with: {path: out.jsonl, format: sft}
"""


def test_requests_with_refusals_per_category(tmp_path, write_recipe):
    engine = ScriptedEngine(default=model, model="m1")
    result = curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run", engines={"default": engine})
    out = result.rundir.output("generate.incapable")
    assert out["prompt"].to_list() == ["Please browse the thing number 0", "Please browse the thing number 1"]
    assert out["response"][0] == "I can't do that (Please browse the thing number 0), but I can explain how you could."
    assert set(out["task"]) == {"incapable"} and set(out["category"]) == {"browse"}
    assert out["id"].to_list() == ["incapable/browse/0", "incapable/browse/1"]
    few_shot = engine.history[0].messages[-1]["content"]
    assert "- Open this page for me" in few_shot and "It cannot open links." in few_shot
    prov = json.loads(out["prompt_generation"][0])
    assert prov["inputs"] == {"category": "browse"} and set(prov["templates"]) == {"incapable_requests",
                                                                                   "incapable_refusal"}
    stats = result.stats["generate.incapable"]
    assert stats.counters["near_duplicates_removed"] == 1 and stats.counters["refusals_failed"] == 1
    assert stats.counters["categories_failed"] == 1 and 0 < stats.metrics["distinct_2"] < 1
    sft = result.outputs["write.jsonl"]
    assert [m["role"] for m in sft["messages"][0]] == ["user", "assistant"]


def test_no_usable_answer_is_an_error_and_empty_categories_fail_validation(tmp_path, write_recipe):
    engine = ScriptedEngine(default="nothing here")
    with pytest.raises(curate.DataError, match="no usable request"):
        curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run", engines={"default": engine})
    bad = RECIPE.split("      categories:")[0] + "      categories: []\n"
    with pytest.raises(curate.RecipeError, match="categories"):
        curate.run(write_recipe(bad, "bad.yaml"), dry_run=True)
