"""The worked examples in CONTRIBUTING.md run as written."""

import re
import types
from pathlib import Path

import polars as pl

import curate
from curate.testing import ScriptedEngine, ScriptedScorer, run_stage

TEXT = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()


def _section_code(title: str) -> str:
    section = TEXT.split(f"### {title}", 1)[1].split("\n### ", 1)[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))


def _load(title: str) -> dict:
    # Sections after the first continue its imports (curate, polars, Field), as a reader would.
    namespace: dict = {}
    exec("import curate\nimport polars as pl\nfrom pydantic import Field", namespace)
    code = _section_code(title)
    exec(compile(code.split("from curate.testing import")[0], f"CONTRIBUTING.md ({title})", "exec"), namespace)
    return namespace


def test_worked_generator(curate_plugin):
    ns = _load("A worked generator: engines, requests, results")
    curate_plugin(types.SimpleNamespace(curate_register_generators=curate.hookimpl(
        lambda register: register(ns["Titles"]))), "titles")
    df = pl.DataFrame({"id": ["a", "b"], "response": ["Sun and sea.", "Rain."]})
    engine = ScriptedEngine(["A calm day", ValueError("rejected")])
    out = run_stage("generate.titles", df, engines={"default": engine})
    assert out.kept["title"].to_list() == ["A calm day"] and "rejected" in out.removed["reason"][0]


def test_worked_judge(curate_plugin):
    ns = _load("A worked judge: a score engine and grouped rows")
    curate_plugin(types.SimpleNamespace(curate_register_judges=curate.hookimpl(
        lambda register: register(ns["RewardMargin"]))), "margin")
    df = pl.DataFrame({"id": ["1", "2", "3"], "prompt_id": ["p", "p", "q"], "prompt": ["x", "x", "y"],
                       "response": ["ab", "abcd", "z"]})
    out = run_stage("judge.reward_margin", df, engines={"rm": ScriptedScorer(lambda r: float(len(r.response)))})
    assert dict(zip(out.kept["id"], out.kept["reward_margin"])) == {"1": 2.0, "2": 0.0, "3": 0.0}


def test_python_recipe_example_parses():
    code = _section_code("Recipes built in Python")
    recipe_src = code.split("result =")[0]
    ns: dict = {"curate": curate}
    exec(recipe_src, ns)
    recipe = ns["recipe"]
    assert [s.inputs for s in recipe.stages] == [None, [], ["seed", "topics"], None]
    assert recipe.stages[0].with_ == {"path": "seed.jsonl"}
