"""generate.open_qa: questions per topic, a revision pass, both versions kept, limits and failures."""

import json

import polars as pl
import pytest

import curate
from curate.testing import ScriptedEngine, run_stage
from curate_synth._base import distinct_n

TOPICS = pl.DataFrame({"id": ["t1", "t2", "t3", "t4"], "topic": ["sourdough", "canal locks", "", "bee dances"],
                       "domain": ["food", "history", "food", "nature"]})


def model(req):
    text = req.messages[0]["content"]  # the rendered template, also when re-asked
    if text.startswith("Write") and "questions" in text:
        topic = text.split('"')[1]
        if topic == "canal locks":
            return "I would rather not."  # nothing usable: the topic is removed with the raw answer
        return json.dumps({"items": [f"What is {topic}?", f"Why does {topic} matter?", f"Who studies {topic}?"]})
    if text.startswith("Here is a question"):
        question = text.split("\n\n")[1]
        if "Who studies" in question:
            return json.dumps({"question": "   "})  # blank: re-asked, then removed with the reason
        return json.dumps({"question": f"As a student, {question[0].lower()}{question[1:]} Answer in 100 words."})
    return "?"


def test_questions_revised_with_both_versions_ids_and_provenance():
    engine = ScriptedEngine(default=model, model="m1")
    out = run_stage("generate.open_qa", TOPICS, {"questions_per_topic": 3, "max_reasks": 1}, engines={"default": engine})
    kept = out.kept
    assert kept["id"].to_list() == ["t1/open_qa/0", "t1/open_qa/1", "t4/open_qa/0", "t4/open_qa/1"]
    first = kept.row(0, named=True)
    assert first["prompt"] == "As a student, what is sourdough? Answer in 100 words."
    assert first["prompt_original"] == "What is sourdough?"
    assert (first["topic"], first["domain"], first["task"]) == ("sourdough", "food", "open_qa")
    prov = json.loads(first["prompt_generation"])
    assert set(prov["templates"]) == {"open_qa_questions", "open_qa_revision"} and prov["model"] == "m1"
    assert prov["inputs"] == {"topic": "sourdough", "domain": "food", "parent_id": "t1"}
    reasons = dict(zip(out.removed["id"].to_list(), out.removed["reason"].to_list()))
    assert reasons["t3"] == "empty 'topic'"
    assert reasons["t2"].startswith("questions failed") and "I would rather not." in reasons["t2"]
    assert reasons["t1/open_qa/2"].startswith("revision failed") and out.removed.filter(
        pl.col("id") == "t1/open_qa/2")["prompt"][0] == "Who studies sourdough?"
    stats = out.result.stats["stage"]
    assert stats.counters["reasks"] == 3 and stats.counters["parse_failures"] == 3  # t2, and two revisions
    assert stats.metrics["distinct_2"] == pytest.approx(distinct_n(kept["prompt"].to_list()))


def test_keep_revised_or_original_only():
    engine = ScriptedEngine(default=model)
    revised = run_stage("generate.open_qa", TOPICS.head(1), {"questions_per_topic": 2, "keep": "revised"},
                        engines={"default": engine})
    assert "prompt_original" not in revised.kept.columns
    assert revised.kept["prompt"].str.starts_with("As a student").all()
    engine = ScriptedEngine(default=model)
    original = run_stage("generate.open_qa", TOPICS.head(1), {"questions_per_topic": 2, "keep": "original"},
                         engines={"default": engine})
    assert original.kept["prompt"].to_list() == ["What is sourdough?", "Why does sourdough matter?"]
    assert len(engine.history) == 1  # no revision pass at all
    assert list(json.loads(original.kept["prompt_generation"][0])["templates"]) == ["open_qa_questions"]


def test_limit_asks_only_what_it_needs_from_a_seeded_choice_of_topics():
    topics = pl.DataFrame({"id": [f"t{i}" for i in range(20)], "topic": [f"subject {i}" for i in range(20)]})

    def run(seed):
        engine = ScriptedEngine(default=model)
        out = run_stage("generate.open_qa", topics, {"questions_per_topic": 2, "limit": 5, "seed": seed},
                        engines={"default": engine})
        return out, engine

    out, engine = run(0)
    assert out.kept.height == 5
    asked = [r for r in engine.history if "questions" in r.messages[-1]["content"]]
    assert len(asked) == 3 and len(engine.history) == 3 + 5  # 3 topics x 2 questions, cut to 5, 5 revisions
    assert out.result.stats["stage"].counters["inputs_unused_by_limit"] == 17
    assert run(0)[0].kept["id"].to_list() == out.kept["id"].to_list()  # seeded
    chosen = {tuple(run(s)[0].kept["topic"].unique().sort()) for s in range(4)}
    assert len(chosen) > 1  # the seed changes which topics, not only the first ones


def test_topic_column_param_and_a_missing_column(tmp_path):
    renamed = TOPICS.rename({"topic": "subject"})
    out = run_stage("generate.open_qa", renamed.head(1), {"topic_column": "subject", "keep": "original"},
                    engines={"default": ScriptedEngine(default=model)})
    assert out.kept["subject"].unique().to_list() == ["sourdough"]
    with pytest.raises(curate.RecipeError, match="topic"):
        run_stage("generate.open_qa", renamed, {}, engines={"default": ScriptedEngine(default=model)})


def test_template_replaced_inline_must_use_known_variables():
    with pytest.raises(curate.RecipeError, match="uses variable\\(s\\) persona"):
        run_stage("generate.open_qa", TOPICS, {"templates": {"open_qa_revision": "{{ question }} for {{ persona }}"}},
                  engines={"default": ScriptedEngine(default=model)})
