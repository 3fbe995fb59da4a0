"""The runner: checkpoints, resume, reruns after changes, removed rows, manifest, hooks."""

import json
import types

import polars as pl
import pytest
from pydantic import Field

import curate
from curate.errors import StageFailure

CALLS: list[str] = []


class CountingParams(curate.FilterParams):
    min_len: int = Field(0, description="Drop prompts shorter than this.")
    fail: bool = Field(False, description="Raise, to simulate a crash.")


class CountingFilter(curate.Filter):
    """Counts its calls."""

    name = "filter.counting"
    Params = CountingParams
    reads = ("prompt",)

    def drop_reason(self, df):
        CALLS.append(self.ctx.stage_id)
        if self.params.fail:
            raise RuntimeError("simulated crash")
        return pl.when(pl.col("prompt").str.len_chars() < self.params.min_len).then(pl.lit("short")).otherwise(None)


plugin = types.SimpleNamespace(curate_register_filters=curate.hookimpl(lambda register: register(CountingFilter)))

RECIPE = """name: t
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: first
    use: filter.counting
  - id: second
    use: filter.counting
    with: {min_len: 3}
  - use: write.jsonl
    with: {path: out.jsonl, format: raw}
"""


@pytest.fixture
def setup(tmp_path, write_jsonl, write_recipe, curate_plugin):
    curate_plugin(plugin, "counting")
    CALLS.clear()
    write_jsonl([{"prompt": "a"}, {"prompt": "abcd"}, {"prompt": "abc"}])
    return write_recipe(RECIPE), tmp_path / "run"


def test_rerun_skips_finished_stages(setup):
    recipe, run_dir = setup
    first = curate.run(recipe, run_dir=run_dir)
    assert CALLS == ["first", "second"]
    assert first.outputs["write.jsonl"]["prompt"].to_list() == ["abcd", "abc"]
    CALLS.clear()
    again = curate.run(recipe, run_dir=run_dir)
    assert CALLS == [] and all(s.cached for s in again.stats.values())
    assert again.outputs["write.jsonl"].equals(first.outputs["write.jsonl"])


def test_changing_a_stage_reruns_it_and_what_follows(setup):
    recipe, run_dir = setup
    curate.run(recipe, run_dir=run_dir)
    CALLS.clear()
    result = curate.run(recipe, run_dir=run_dir, overrides={"stages.second.with.min_len": 4})
    assert CALLS == ["second"]
    assert result.stats["first"].cached and not result.stats["second"].cached
    assert not result.stats["write.jsonl"].cached
    assert result.outputs["write.jsonl"]["prompt"].to_list() == ["abcd"]


def test_crash_keeps_finished_stages_and_resume_continues(setup):
    recipe, run_dir = setup
    with pytest.raises(StageFailure) as err:
        curate.run(recipe, run_dir=run_dir, overrides={"stages.second.with.fail": True})
    assert "rerun the same command" in str(err.value) and "'second'" in str(err.value)
    assert (run_dir / "stages" / "01-first" / "output.parquet").exists()
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] is False
    CALLS.clear()
    result = curate.run(recipe, run_dir=run_dir)
    assert CALLS == ["second"] and result.stats["first"].cached


def test_fresh_starts_over(setup):
    recipe, run_dir = setup
    curate.run(recipe, run_dir=run_dir)
    CALLS.clear()
    curate.run(recipe, run_dir=run_dir, fresh=True)
    assert CALLS == ["first", "second"]


def test_editing_the_input_file_reruns_from_the_reader(setup, write_jsonl):
    recipe, run_dir = setup
    curate.run(recipe, run_dir=run_dir)
    write_jsonl([{"prompt": "abcdef"}])
    CALLS.clear()
    result = curate.run(recipe, run_dir=run_dir)
    assert CALLS == ["first", "second"]
    assert result.outputs["write.jsonl"]["prompt"].to_list() == ["abcdef"]


def test_deleted_output_file_is_rewritten(setup):
    recipe, run_dir = setup
    curate.run(recipe, run_dir=run_dir)
    (run_dir / "out.jsonl").unlink()
    result = curate.run(recipe, run_dir=run_dir)
    assert (run_dir / "out.jsonl").exists() and not result.stats["write.jsonl"].cached


def test_removed_rows_are_kept_with_reason(setup):
    recipe, run_dir = setup
    result = curate.run(recipe, run_dir=run_dir)
    removed = pl.read_parquet(run_dir / "stages" / "02-second" / "removed.parquet")
    assert removed["prompt"].to_list() == ["a"] and removed["reason"].to_list() == ["short"]
    assert result.stats["second"].rows_removed == 1 and result.stats["second"].rows_out == 2


def test_manifest_and_stats(setup):
    recipe, run_dir = setup
    result = curate.run(recipe, run_dir=run_dir)
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["complete"] is True
    assert [s["id"] for s in manifest["stages"]] == ["read.jsonl", "first", "second", "write.jsonl"]
    assert manifest["stages"][1]["stats"]["rows_in"] == 3
    assert result.stats["read.jsonl"].rows_out == 3 and result.stats["second"].seconds >= 0


def test_observer_hooks_are_called(setup, curate_plugin):
    recipe, run_dir = setup
    seen = []
    observer = types.SimpleNamespace(
        curate_stage_started=curate.hookimpl(lambda stage_id: seen.append(("start", stage_id))),
        curate_stage_finished=curate.hookimpl(lambda stage_id, stats: seen.append(("end", stage_id, stats.cached))),
        curate_run_finished=curate.hookimpl(lambda result: seen.append(("run", len(result.stats)))),
    )
    curate_plugin(observer, "observer")
    curate.run(recipe, run_dir=run_dir)
    assert ("start", "first") in seen and ("end", "second", False) in seen and seen[-1] == ("run", 4)


def test_recipe_built_in_python(tmp_path, write_jsonl):
    write_jsonl([{"prompt": "x"}, {"prompt": "X"}])
    recipe = curate.Recipe(name="py", stages=[
        curate.Stage(use="read.jsonl", **{"with": {"path": "data.jsonl"}}),
        curate.Stage(use="dedup.exact", id="dedup"),
        curate.Stage(use="write.parquet", **{"with": {"path": "o.parquet"}}),
    ]).with_base_dir(tmp_path)
    result = curate.run(recipe, run_dir=tmp_path / "run", overrides={"stages.dedup.with.lowercase": False})
    assert result.outputs["write.parquet"].height == 2
    result = curate.run(recipe, run_dir=tmp_path / "run")
    assert result.outputs["write.parquet"].height == 1


def test_cached_outputs_of_writers_between_stages_are_their_own_inputs(tmp_path, write_jsonl, write_recipe, curate_plugin):
    curate_plugin(plugin, "counting")
    write_jsonl([{"prompt": "a"}, {"prompt": "abcd"}])
    recipe = write_recipe("name: w\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                          "  - use: write.jsonl\n    id: raw\n    with: {path: raw.jsonl}\n"
                          "  - use: filter.counting\n    with: {min_len: 2}\n"
                          "  - use: write.jsonl\n    id: clean\n    with: {path: clean.jsonl}\n")
    first = curate.run(recipe, run_dir=tmp_path / "run")
    again = curate.run(recipe, run_dir=tmp_path / "run")
    assert all(s.cached for s in again.stats.values())
    for result in (first, again):
        assert result.outputs["raw"]["prompt"].to_list() == ["a", "abcd"]
        assert result.outputs["clean"]["prompt"].to_list() == ["abcd"]


def test_hooks_get_the_run_dir_and_run_finished_fires_on_failure(setup, curate_plugin):
    recipe, run_dir = setup
    seen = []
    observer = types.SimpleNamespace(
        curate_run_started=curate.hookimpl(lambda run_dir: seen.append(("started", run_dir))),
        curate_stage_finished=curate.hookimpl(lambda stage_id, run_dir: seen.append(("stage", stage_id))),
        curate_run_finished=curate.hookimpl(lambda result, run_dir, complete: seen.append(("run", complete,
                                                                                           list(result.stats)))),
    )
    curate_plugin(observer, "observer")
    with pytest.raises(StageFailure):
        curate.run(recipe, run_dir=run_dir, overrides={"stages.second.with.fail": True})
    assert isinstance(seen[0][1], curate.RunDir) and seen[0][1].path == run_dir
    assert seen[-1] == ("run", False, ["read.jsonl", "first"])
    assert curate.RunDir(run_dir).manifest()["complete"] is False
    seen.clear()
    curate.run(recipe, run_dir=run_dir)
    assert seen[-1] == ("run", True, ["read.jsonl", "first", "second", "write.jsonl"])


def test_an_empty_output_is_a_warning_naming_the_stage_and_reasons(setup, caplog):
    recipe, run_dir = setup
    result = curate.run(recipe, run_dir=run_dir, overrides={"stages.second.with.min_len": 99})
    assert result.outputs["write.jsonl"].height == 0
    assert result.warnings == ["writer 'write.jsonl' wrote no rows: stage 'second' removed all 3 rows; "
                               "top reasons: short (3)"]
    assert "wrote no rows" in caplog.text


def test_cli_prints_the_empty_output_warning(setup, capsys):
    from curate.cli import main

    recipe, run_dir = setup
    assert main(["run", str(recipe), "--run-dir", str(run_dir), "--quiet",
                 "--set", "stages.second.with.min_len=99"]) == 0
    assert "warning: writer 'write.jsonl' wrote no rows: stage 'second'" in capsys.readouterr().err


class QuietReader(curate.Reader):
    """A reader that cannot tell its columns before it runs."""

    name = "read.quiet"
    Params = curate.Params

    def read(self):
        return pl.DataFrame({"text": ["a", "b"]})


class PickyReader(curate.Reader):
    """A reader whose preview fails without saying where."""

    name = "read.picky"
    Params = curate.Params

    def preview_columns(self, ctx):
        raise curate.DataError("cannot read it")


readers = types.SimpleNamespace(curate_register_readers=curate.hookimpl(
    lambda register: (register(QuietReader), register(PickyReader))))


def test_columns_after_a_reader_that_cannot_preview_are_checked_when_it_ran(tmp_path, write_recipe, curate_plugin):
    curate_plugin(readers, "readers")
    curate_plugin(plugin, "counting")
    CALLS.clear()
    recipe = write_recipe("name: q\nstages:\n  - use: read.quiet\n  - use: filter.counting\n")
    with pytest.raises(curate.RecipeError) as err:
        curate.run(recipe, run_dir=tmp_path / "run")
    assert "needs column 'prompt', which no earlier stage produces (available: id, text)" in str(err.value)
    assert CALLS == []  # the stage never ran
    assert curate.RunDir(tmp_path / "run").stage("read.quiet").stats["rows_out"] == 2  # the reader's work is kept


def test_a_planner_error_names_the_stage(tmp_path, write_recipe, curate_plugin):
    curate_plugin(readers, "readers")
    recipe = write_recipe("name: q\nstages:\n  - id: src\n    use: read.picky\n")
    with pytest.raises(curate.DataError) as err:
        curate.run(recipe, dry_run=True)
    assert str(err.value) == "stage 'src' (read.picky): cannot read it"


def test_stage_info_is_serializable_and_components_are_rebuilt(setup):
    import pickle

    from curate.runner.plan import build_plan
    from curate.plugins import registry
    from curate.runner.executor import StageTask

    recipe, run_dir = setup
    plan = build_plan(curate.load_recipe(recipe), registry(), run_dir)
    st = plan.stage("second")
    task = StageTask(info=st.info(plan.recipe, run_dir), use=st.component.name, params=st.component.params.model_dump(),
                     inputs=tuple(st.inputs))
    clone = pickle.loads(pickle.dumps(task))
    assert clone == task and clone.build().params.min_len == 3
