"""Recipes as graphs: sources that start branches, merged inputs, grouped stages, per-stage resume."""

import json
import types

import polars as pl
import pytest
from pydantic import Field

import curate
from curate.errors import RecipeError
from curate.testing import ScriptedEngine

CALLS: list[str] = []


class SeedParams(curate.Params):
    topics: list[str] = Field(description="Topics, one row each.")


class SeedTopics(curate.Source, curate.Generator):
    """A source generator: one prompt per topic, from its params alone."""

    name = "test.seed_topics"
    Params = SeedParams
    writes = ("prompt", "topic")

    def preview_columns(self, ctx):
        return ["prompt", "topic"]

    def read(self):
        CALLS.append(self.ctx.stage_id)
        return pl.DataFrame({"topic": self.params.topics, "prompt": [f"Tell me about {t}" for t in self.params.topics]})


class LongestParams(curate.Params):
    pass


class KeepLongest(curate.Judge):
    """A grouped stage: keeps the longest response of each prompt (all of a prompt's rows arrive together)."""

    name = "test.keep_longest"
    Params = LongestParams
    reads = ("prompt_id", "response")
    group_by = ("prompt_id",)
    batch_size = 3  # small, so that the executor must split the stage without splitting a group

    def process_batch(self, df):
        CALLS.append(self.ctx.stage_id)
        seen = df["prompt_id"].unique().to_list()
        assert all(pid in seen for pid in df["prompt_id"])
        best = df.sort(pl.col("response").str.len_chars(), descending=True).unique("prompt_id", keep="first")
        GROUPS.append(sorted(seen))
        return best


GROUPS: list[list[str]] = []

plugin = types.SimpleNamespace(
    curate_register_generators=curate.hookimpl(lambda register: register(SeedTopics)),
    curate_register_judges=curate.hookimpl(lambda register: register(KeepLongest)),
)

BRANCHING = """name: branching
engines:
  default: {use: openai, model: m, base_url: http://127.0.0.1:9/v1}
stages:
  - id: from-file
    use: read.jsonl
    with: {path: prompts.jsonl}
  - id: topics-a
    use: test.seed_topics
    inputs: []
    with: {topics: [bread, cheese]}
  - id: topics-b
    use: test.seed_topics
    inputs: []
    with: {topics: [rivers]}
  - id: merged
    use: dedup.exact
    inputs: [from-file, topics-a, topics-b]
    with: {column: prompt}
  - id: responses
    use: generate.responses
    with: {n: 2}
  - id: best
    use: test.keep_longest
  - id: sft
    use: write.jsonl
    with: {path: sft.jsonl, format: sft}
  - id: all-responses
    use: write.jsonl
    inputs: [responses]
    with: {path: all.jsonl, format: raw}
"""


@pytest.fixture
def branching(tmp_path, curate_plugin):
    curate_plugin(plugin)
    (tmp_path / "prompts.jsonl").write_text("\n".join(json.dumps({"prompt": p}) for p in ["hi", "Tell me about bread"]))
    path = tmp_path / "recipe.yaml"
    path.write_text(BRANCHING)
    CALLS.clear()
    GROUPS.clear()
    return path


def engine():
    counter = iter(range(10_000))
    return ScriptedEngine(default=lambda r: r.messages[-1]["content"] + "!" * (next(counter) % 3))


def test_branches_merge_group_and_write_twice(branching, tmp_path):
    result = curate.run(branching, run_dir=tmp_path / "run", engines={"default": engine()})
    # Three branches merged; the exact dedup removed the file's copy of a generated topic prompt.
    assert result.stats["merged"].rows_in == 5 and result.stats["merged"].rows_out == 4
    assert result.stats["responses"].rows_out == 8
    best = result.outputs["sft"]
    assert best.height == 4  # one per prompt: the grouped stage saw every response of a prompt at once
    assert all(len(g) <= 2 for g in GROUPS) and len(GROUPS) >= 2  # batched, never splitting a group
    assert result.outputs["all-responses"].height == 8
    assert len((tmp_path / "run" / "all.jsonl").read_text().splitlines()) == 8
    assert {r["messages"][0]["content"] for r in best.iter_rows(named=True)} == {
        "hi", "Tell me about bread", "Tell me about cheese", "Tell me about rivers"}


def test_changing_one_branch_reruns_only_that_branch_and_what_follows(branching, tmp_path):
    curate.run(branching, run_dir=tmp_path / "run", engines={"default": engine()})
    CALLS.clear()
    again = curate.run(branching, run_dir=tmp_path / "run", engines={"default": engine()},
                       overrides={"stages.topics-b.with.topics": ["rivers", "lakes"]})
    reran = {sid for sid, s in again.stats.items() if not s.cached}
    assert reran == {"topics-b", "merged", "responses", "best", "sft", "all-responses"}
    assert {"from-file", "topics-a"} <= {sid for sid, s in again.stats.items() if s.cached}
    assert "topics-a" not in CALLS and "topics-b" in CALLS
    assert again.outputs["sft"].height == 5
    # Only the new prompt's requests reached the engine: the others came from the request cache.
    assert again.stats["responses"].counters == {"requests_cached": 4, "requests_sent": 1}

    # Changing a writer reruns that writer only.
    third = curate.run(branching, run_dir=tmp_path / "run", engines={"default": engine()},
                       overrides={"stages.topics-b.with.topics": ["rivers", "lakes"],
                                  "stages.all-responses.with.path": "all2.jsonl"})
    assert {sid for sid, s in third.stats.items() if not s.cached} == {"all-responses"}
    assert third.outputs["sft"].equals(again.outputs["sft"])


def test_validate_and_dry_run_print_the_graph(branching, tmp_path, capsys):
    from curate.cli import main

    assert main(["validate", str(branching)]) == 0
    out = capsys.readouterr().out
    assert "merged (dedup.exact, dedup)  <- from-file, topics-a, topics-b (appended)" in out
    assert "topics-a (test.seed_topics, source)  (starts a branch)" in out
    assert "responses (generate.responses, generator)  <- merged  engines: default [chat]" in out

    curate.run(branching, run_dir=tmp_path / "run", engines={"default": engine()})
    assert main(["run", str(branching), "--run-dir", str(tmp_path / "run"), "--dry-run",
                 "--set", "stages.all-responses.with.path=x.jsonl"]) == 0
    out = capsys.readouterr().out
    assert "merged (dedup.exact, dedup)  <- from-file, topics-a, topics-b (appended)  reused" in out
    # The recipe's own engine is not the scripted one the first run used: generation would rerun.
    assert "responses (generate.responses, generator)  <- merged  engines: default [chat]  runs" in out
    assert "all-responses (write.jsonl, writer)  <- responses  runs" in out
    assert not (tmp_path / "run" / "x.jsonl").exists()


def test_join_inputs_on_keys(tmp_path, write_recipe):
    (tmp_path / "a.jsonl").write_text('{"id": "1", "prompt": "p1"}\n{"id": "2", "prompt": "p2"}\n')
    (tmp_path / "b.jsonl").write_text('{"id": "2", "response": "r2"}\n{"id": "3", "response": "r3"}\n')
    recipe = write_recipe("""name: j
stages:
  - {id: a, use: read.jsonl, with: {path: a.jsonl}}
  - {id: b, use: read.jsonl, with: {path: b.jsonl}, inputs: []}
  - {id: both, use: write.parquet, inputs: [a, b], join: {on: [id]}, with: {path: o.parquet}}
""")
    out = curate.run(recipe, run_dir=tmp_path / "run").outputs["both"]
    assert out.select("id", "prompt", "response").rows() == [("2", "p2", "r2")]


@pytest.mark.parametrize("stages, message, line", [
    ("  - {id: a, use: read.jsonl, with: {path: d.jsonl}}\n  - {id: b, use: dedup.exact, inputs: [nope]}\n",
     "takes input from unknown stage 'nope'", 4),
    ("  - {id: a, use: read.jsonl, with: {path: d.jsonl}}\n"
     "  - {id: b, use: dedup.exact, inputs: [c]}\n  - {id: c, use: dedup.exact, inputs: [b]}\n",
     "the stages form a cycle: b -> c -> b", 4),
    ("  - {id: a, use: read.jsonl, with: {path: d.jsonl}}\n  - {id: b, use: dedup.exact, inputs: []}\n",
     "stage 'b' has no inputs, so it must be a source", 4),
])
def test_bad_graphs_are_validation_errors_with_lines(write_recipe, write_jsonl, stages, message, line):
    write_jsonl([{"prompt": "x"}], "d.jsonl")
    path = write_recipe("name: g\nstages:\n" + stages)
    with pytest.raises(RecipeError) as err:
        curate.load_recipe(path) and curate.run(path, dry_run=True)
    assert message in str(err.value) and f"recipe.yaml:{line}" in str(err.value)
