"""generate.math and generate.code: keywords per level, a yes/no screen, problems per difficulty."""

import json
import re

import pytest

import curate
from curate.testing import ScriptedEngine

KEYWORDS = {
    "elementary school": ["fractions", "Fractions!", "long division", "Napoleon"],
    "high school": ["quadratic equations", "the French revolution", "unreadable"],
    "beginner": ["list comprehensions", "for loops", "JavaScript promises"],
    "advanced": ["decorators", "asyncio event loop"],
}


def model(req):
    text = req.messages[0]["content"]
    if text.startswith("List"):
        level = re.search(r"at the (.+?) level|at the (.+?)\s+level", text)
        level = next(g for g in level.groups() if g)
        return json.dumps({"items": KEYWORDS[level]})
    if text.startswith("Is "):
        keyword = text.split('"')[1]
        if keyword == "unreadable":
            return "hmm, hard to say"
        no = keyword in ("Napoleon", "the French revolution", "JavaScript promises")
        return "No." if no else "Yes, it is."  # lenient: read as no / yes
    if text.startswith("Write"):
        keyword = text.split('"')[1]
        difficulty = re.search(r"at (\w+) difficulty", text).group(1)
        n = int(text.split()[1])
        return "\n".join(f"{k + 1}. A {difficulty} problem on {keyword}, number {k}." for k in range(n))
    return "?"


def recipe(use, **params):
    return f"""name: problems
engines:
  default: {{use: openai, model: m, base_url: 'http://127.0.0.1:9/v1'}}
stages:
  - id: gen
    use: {use}
    with: {json.dumps({"max_reasks": 0, **params})}
"""


def test_math_keywords_screened_deduplicated_then_problems_per_difficulty(tmp_path, write_recipe):
    engine = ScriptedEngine(default=model, model="m")
    result = curate.run(write_recipe(recipe("generate.math", levels=["elementary school", "high school"],
                                            difficulties=["beginner", "advanced"], problems_per_keyword=2)),
                        run_dir=tmp_path / "run", engines={"default": engine})
    out = result.rundir.output("gen")
    assert sorted(out["keyword"].unique().to_list()) == ["fractions", "long division", "quadratic equations"]
    assert out.height == 3 * 2 * 2 and set(out["task"]) == {"math"}
    row = out.filter(out["keyword"] == "fractions").row(0, named=True)
    assert row["id"] == "math/elementary school/fractions/beginner/0"
    assert row["prompt"] == "A beginner problem on fractions, number 0." and row["level"] == "elementary school"
    prov = json.loads(row["prompt_generation"])
    assert prov["inputs"] == {"keyword": "fractions", "level": "elementary school", "difficulty": "beginner"}
    assert list(prov["templates"]) == ["math_keywords", "math_problems", "math_screen"]
    stats = result.stats["gen"]
    assert stats.counters["near_duplicates_removed"] == 1  # "Fractions!"
    assert stats.counters["keywords_screened_out"] == 2  # Napoleon, the French revolution
    assert stats.counters["keywords_unscreened"] == 1  # an answer that is neither yes nor no
    assert stats.metrics["keywords_kept"] == 3


def test_code_names_the_language_and_limit_caps_problem_requests(tmp_path, write_recipe):
    engine = ScriptedEngine(default=model)
    result = curate.run(write_recipe(recipe("generate.code", levels=["beginner", "advanced"], limit=3, seed=5)),
                        run_dir=tmp_path / "run", engines={"default": engine})
    out = result.rundir.output("gen")
    assert out.height == 3 and set(out["task"]) == {"code"}
    screens = [r.messages[0]["content"] for r in engine.history if r.messages[0]["content"].startswith("Is ")]
    assert len(screens) == 5 and all("Python programming" in s for s in screens)
    problems = [r for r in engine.history if r.messages[0]["content"].startswith("Write")]
    assert len(problems) == 3  # 4 kept keywords x 3 difficulties available; only 3 asked
    assert "JavaScript promises" not in out["keyword"].to_list()


def test_screening_off_keeps_every_keyword(tmp_path, write_recipe):
    engine = ScriptedEngine(default=model)
    result = curate.run(write_recipe(recipe("generate.code", levels=["beginner"], screen=False,
                                            difficulties=["beginner"], language="Rust")),
                        run_dir=tmp_path / "run", engines={"default": engine})
    out = result.rundir.output("gen")
    assert out["keyword"].to_list() == KEYWORDS["beginner"]
    assert not any(r.messages[0]["content"].startswith("Is ") for r in engine.history)
    assert "Rust programming" in engine.history[0].messages[0]["content"]


def test_nothing_usable_is_a_clear_error(tmp_path, write_recipe):
    with pytest.raises(curate.DataError, match="no keyword survived"):
        curate.run(write_recipe(recipe("generate.math", levels=["middle school"])), run_dir=tmp_path / "run",
                   engines={"default": ScriptedEngine(default="I cannot list anything.")})


def test_blank_level_is_a_recipe_error(tmp_path, write_recipe):
    with pytest.raises(curate.RecipeError, match="entry is empty"):
        curate.run(write_recipe(recipe("generate.math", levels=["high school", ""])), dry_run=True)
