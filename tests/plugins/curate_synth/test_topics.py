"""generate.topics: a source stage, seeded, deduplicated, with provenance and diversity figures."""

import json

import pytest

import curate
from curate.testing import ScriptedEngine


def answer(req):
    text = req.messages[-1]["content"]
    if text.startswith("List") and "within the domain" in text:
        domain = text.split('"')[1]
        return json.dumps({"items": [f"{domain} basics", f"{domain} history", f"{domain.upper()}  History!", "made up"]
                           if domain != "broken" else "nope"})
    topic = text.split('"')[1]
    return "Here you go:\n" + "\n".join(f"- {topic} question {k}" for k in range(3))


RECIPE = """name: t
engines:
  default: {use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}
stages:
  - use: generate.topics
    with: {domains: [cooking, rivers], topics_per_domain: 3, subtopics_per_topic: 2}
  - use: write.parquet
    with: {path: topics.parquet}
"""


def test_topics_start_a_recipe_with_subtopics_and_provenance(tmp_path, write_recipe):
    engine = ScriptedEngine(default=answer, model="m1")
    result = curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run", engines={"default": engine})
    out = result.outputs["write.parquet"]
    # "COOKING  History!" duplicates "cooking history" once normalized: removed; "made up" is past topics_per_domain.
    assert sorted(set(out["parent_topic"])) == ["cooking basics", "cooking history", "rivers basics", "rivers history"]
    assert out.height == 8 and set(out["task"]) == {"topics"}
    assert out.filter(out["parent_topic"] == "cooking basics")["topic"].to_list() == [
        "cooking basics question 0", "cooking basics question 1"]  # parsed from a bulleted list
    prov = json.loads(out["prompt_generation"][0])
    assert prov["model"] == "m1" and set(prov["templates"]) == {"topics", "subtopics"}
    assert len(prov["templates"]["topics"]["sha"]) == 16 and prov["inputs"]["domain"] == "cooking"
    stats = result.stats["generate.topics"]
    assert stats.counters["near_duplicates_removed"] == 2 and stats.metrics["distinct_topics"] == 8
    again = curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run2", engines={"default": engine})
    assert again.outputs["write.parquet"].equals(out)  # same seed, same requests, same rows


def test_a_template_replaced_with_an_unknown_variable_fails_validation(tmp_path, write_recipe):
    recipe = write_recipe(RECIPE.replace("subtopics_per_topic: 2}", "subtopics_per_topic: 2, templates: "
                                         "{topics: 'Give {{ n }} topics about {{ domain }} for {{ audience }}'}}"))
    with pytest.raises(curate.RecipeError, match="uses variable\\(s\\) audience") as err:
        curate.run(recipe, dry_run=True)
    assert "stage 'generate.topics'" in str(err.value) and "templates.topics" in str(err.value)


def test_unknown_template_name_and_empty_domains(tmp_path, write_recipe):
    with pytest.raises(curate.RecipeError, match="has no template 'topic'"):
        curate.run(write_recipe(RECIPE.replace("subtopics_per_topic: 2}", "subtopics_per_topic: 2, templates: {topic: x}}")),
                   dry_run=True)
    with pytest.raises(curate.RecipeError, match="domains"):
        curate.run(write_recipe(RECIPE.replace("[cooking, rivers]", "[]")), dry_run=True)
