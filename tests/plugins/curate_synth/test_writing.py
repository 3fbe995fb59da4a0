"""generate.writing: topic x text type (all, or k drawn per topic), a revision pass, failures."""

import json
import re

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage

TOPICS = pl.DataFrame({"id": ["t1", "t2", "t3"], "topic": ["lighthouses", "rain gauges", "libraries"],
                       "domain": ["history", "science", "culture"]})


def model(req):
    text = req.messages[0]["content"]
    if text.startswith("Write") and "requests" in text:
        kind = re.search(r"to write a (.+?) about", text).group(1)
        topic = text.split('"')[1]
        if kind == "poem" and topic == "rain gauges":
            return "no"
        n = int(text.split()[1])
        return json.dumps({"items": [f"Write a {kind} about {topic}, take {k}." for k in range(n)]})
    if text.startswith("Here is a request"):
        task = text.split("\n\n")[1]
        return json.dumps({"task": task + " Keep it under 200 words."})
    return "?"


def test_every_topic_with_every_text_type_then_revised():
    engine = ScriptedEngine(default=model, model="m")
    out = run_stage("generate.writing", TOPICS, {"text_types": ["poem", "email"], "tasks_per_type": 2},
                    engines={"default": engine})
    kept = out.kept
    assert kept.height == 3 * 2 * 2 - 2  # rain gauges' poem request answered nothing usable
    assert kept.filter(pl.col("topic") == "lighthouses")["id"].to_list() == [f"t1/writing/{k}" for k in range(4)]
    row = kept.row(0, named=True)
    assert row["prompt"] == "Write a poem about lighthouses, take 0. Keep it under 200 words."
    assert row["prompt_original"] == "Write a poem about lighthouses, take 0."
    assert (row["text_type"], row["task"], row["domain"]) == ("poem", "writing", "history")
    assert json.loads(row["prompt_generation"])["inputs"]["text_type"] == "poem"
    # One text type failing does not remove the topic: its other type still gave tasks.
    assert out.removed is None or "t2" not in out.removed["id"].to_list()
    assert kept.filter(pl.col("topic") == "rain gauges")["text_type"].unique().to_list() == ["email"]
    assert out.result.stats["stage"].counters["parse_failures"] == 1


def test_k_types_drawn_per_topic_seeded():
    types = ["essay", "poem", "email", "speech", "story", "blog post"]

    def drawn(seed):
        engine = ScriptedEngine(default=model)
        out = run_stage("generate.writing", TOPICS, {"text_types": types, "types_per_topic": 2, "keep": "original",
                                                     "seed": seed}, engines={"default": engine})
        assert len(engine.history) == 3 * 2
        return {t: sorted(g["text_type"].to_list()) for (t,), g in out.kept.group_by("topic")}

    first = drawn(0)
    assert all(len(v) == 2 and len(set(v)) == 2 for v in first.values())
    assert drawn(0) == first
    assert len({tuple(v) for v in first.values()}) > 1 or drawn(1) != first  # drawn per topic, by seed


def test_a_topic_whose_every_type_fails_is_removed_with_the_reasons():
    out = run_stage("generate.writing", TOPICS.filter(pl.col("id") == "t2"), {"text_types": ["poem"], "max_reasks": 0},
                    engines={"default": ScriptedEngine(default=model)})
    assert out.kept.height == 0
    assert out.removed["id"].to_list() == ["t2"] and out.removed["reason"][0].startswith("poem tasks failed")


def test_limit_caps_rows_and_requests():
    engine = ScriptedEngine(default=model)
    out = run_stage("generate.writing", TOPICS, {"text_types": ["essay", "email"], "limit": 3},
                    engines={"default": engine})
    assert out.kept.height == 3 and len(engine.history) == 3 + 3


def test_blank_text_type_is_a_recipe_error():
    with pytest.raises(curate.RecipeError, match="text type is empty"):
        run_stage("generate.writing", TOPICS, {"text_types": ["essay", " "]}, engines={"default": ScriptedEngine()})
