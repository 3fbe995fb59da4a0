"""The command line: exit codes 0/1/2 and messages that say what, where and how to fix."""

import json
import subprocess
import sys

import pytest

from curate.cli import main

GOOD = "name: c\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n  - id: dedup\n    use: dedup.exact\n  - use: write.jsonl\n    with: {path: o.jsonl, format: sft}\n"


@pytest.fixture
def recipe(write_jsonl, write_recipe):
    write_jsonl([{"prompt": "a", "response": "x"}, {"prompt": "A", "response": "y"}])
    return write_recipe(GOOD)


def test_run_ok_and_set(recipe, tmp_path, capsys):
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--quiet", "--set", "stages.dedup.with.lowercase=false"]) == 0
    assert len((tmp_path / "r" / "o.jsonl").read_text().splitlines()) == 2
    err = capsys.readouterr().err
    assert f"wrote {tmp_path / 'r' / 'o.jsonl'} (write.jsonl): 2 rows" in err  # the path, not only the stage
    assert "status" in err and "ran" in err  # the summary table's last column has a header


def test_executor_opts_reach_the_executor_as_yaml_values(recipe, tmp_path, monkeypatch):
    import importlib

    run_module = importlib.import_module("curate.runner.run")  # the module (the package exports a `run` function)
    seen = {}
    real = run_module.make_executor

    def spy(name, options=None):
        seen.update(name=name, options=options)
        return real("local")

    monkeypatch.setattr(run_module, "make_executor", spy)
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--quiet", "--executor-opt", "batch_rows=65536",
                 "--executor-opt", "checkpoint_compression=zstd", "--executor-opt", "note= a=b"]) == 0
    assert seen["options"] == {"batch_rows": 65536, "checkpoint_compression": "zstd", "note": "a=b"}


@pytest.mark.parametrize("opt, says", [("bogus=1", "bad options for executor 'local'"), ("no-equals", "not KEY=VALUE")])
def test_bad_executor_opt_exits_2_naming_it(recipe, tmp_path, capsys, opt, says):
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--quiet", "--executor-opt", opt]) == 2
    err = capsys.readouterr().err
    assert says in err and "bogus" in err if opt.startswith("bogus") else says in err


def test_invalid_recipe_exits_2(write_recipe, tmp_path, capsys):
    bad = write_recipe("name: c\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl, colour: red}\n", "bad.yaml")
    assert main(["run", str(bad), "--run-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml:4" in err and "colour" in err and "fix:" in err


def test_corrupt_input_exits_2(write_jsonl, write_recipe, tmp_path, capsys):
    write_jsonl([{"prompt": "a", "response": "b"}, "{nope"])
    assert main(["run", str(write_recipe(GOOD)), "--run-dir", str(tmp_path / "r"), "--quiet"]) == 2
    assert "data.jsonl:2" in capsys.readouterr().err


def test_failure_while_running_exits_1(recipe, tmp_path, capsys, monkeypatch):
    from curate.builtins.dedup_exact import ExactDedup

    monkeypatch.setattr(ExactDedup, "find_duplicates", lambda self, df: 1 / 0)
    assert main(["run", str(recipe), "--run-dir", str(tmp_path / "r"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "stage 'dedup' failed: ZeroDivisionError" in err and "rerun the same command" in err


def test_validate_runs_nothing(recipe, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["validate", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "valid recipe 'c': 3 stages" in out and "<- read.jsonl" in out
    assert not (tmp_path / "runs").exists()


def test_validate_unknown_plugin_exits_2(write_recipe, capsys):
    path = write_recipe("name: c\nstages:\n  - use: read.jsnol\n")
    assert main(["validate", str(path)]) == 2
    assert "did you mean 'read.jsonl'" in capsys.readouterr().err


def test_plugins_json_lists_builtins_with_package(capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    exact = next(c for c in data["components"] if c["name"] == "dedup.exact")
    assert exact["kind"] == "dedup" and exact["package"] == "curate-llm" and exact["version"]


def test_describe_shows_params_and_columns(capsys):
    assert main(["describe", "filter.length"]) == 0
    out = capsys.readouterr().out
    assert "min: int | None = None" in out and "Drop rows shorter than this." in out and "reads columns:" in out


def test_describe_unknown(capsys):
    assert main(["describe", "dedup.exakt"]) == 2
    assert "did you mean" in capsys.readouterr().err


def test_console_script_entry_point(recipe, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "curate", "validate", str(recipe)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


# ---- `curate plugins`: whole first sentences, plain text, readable at 80 and 200 columns ----------

LONG_SUMMARY = ("Drop rows that Filter flags as odd, e.g. odd numbers, unbalanced quotes and a few more cases that "
                "make this sentence long enough to need wrapping at eighty columns.")


def _docstring_plugin():
    import types

    import curate

    class OddFilter(curate.Filter):
        """Drop rows that :class:`~curate.Filter` flags as ``odd``, e.g. `odd numbers`, unbalanced quotes
        and a few more cases that make this sentence long enough to need wrapping at eighty columns. A
        second sentence that is not shown.

        Details that are not shown either.
        """

        name = "filter.odd_for_cli_test"

        def drop_reason(self, df):
            raise NotImplementedError

    mod = types.ModuleType("odd_plugin")

    @curate.hookimpl
    def curate_register_filters(register):
        register(OddFilter)

    mod.curate_register_filters = curate_register_filters
    return mod


@pytest.fixture
def odd_plugin():
    from curate.plugins import temporary_plugin

    with temporary_plugin(_docstring_plugin(), "odd", package="curate-odd", version="1.2.3"):
        yield


def _plugins_output(monkeypatch, capsys, columns):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(["plugins"]) == 0
    return capsys.readouterr().out.splitlines()


def test_plugins_json_summary_is_the_whole_first_sentence_in_plain_text(odd_plugin, capsys):
    assert main(["plugins", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"components", "failed"}
    odd = next(c for c in data["components"] if c["name"] == "filter.odd_for_cli_test")
    assert set(odd) == {"kind", "name", "plugin", "package", "version", "summary"}
    assert odd["summary"] == LONG_SUMMARY
    assert (odd["kind"], odd["package"], odd["version"]) == ("filter", "curate-odd", "1.2.3")


@pytest.mark.parametrize("columns", [80, 200])
def test_plugins_listing_has_no_markup_and_fits_the_terminal(odd_plugin, monkeypatch, capsys, columns):
    lines = _plugins_output(monkeypatch, capsys, columns)
    assert all(len(line) <= columns for line in lines), [line for line in lines if len(line) > columns]
    text = "\n".join(lines)
    assert "``" not in text and ":class:" not in text and "`" not in text
    # Grouped by kind: a heading, then the components of that kind.
    assert "filters" in lines and "readers" in lines
    assert lines.index("filters") < lines.index(next(line for line in lines if "filter.odd_for_cli_test" in line))
    # Every component is listed with its package and version on one line.
    for name, origin in [("filter.odd_for_cli_test", "curate-odd 1.2.3"), ("read.jsonl", "0.1.0")]:
        assert any(name in line and origin in line for line in lines), name


def _summary_lines(lines, name):
    start = next(i for i, line in enumerate(lines) if name in line)
    block = [lines[start]]
    for line in lines[start + 1:]:
        if not line.startswith("    "):  # the next component (indented 2) or kind heading
            break
        block.append(line)
    return block


def test_plugins_listing_at_80_columns_puts_the_summary_below_wrapped_at_words(odd_plugin, monkeypatch, capsys):
    block = _summary_lines(_plugins_output(monkeypatch, capsys, 80), "filter.odd_for_cli_test")
    assert block[0].split() == ["filter.odd_for_cli_test", "curate-odd", "1.2.3"]
    summary = block[1:]
    assert len(summary) >= 2  # wrapped ...
    assert all(len(line.split()) > 3 for line in summary[:-1])  # ... but not one word per line
    assert " ".join(line.strip() for line in summary) == LONG_SUMMARY


def test_plugins_listing_at_200_columns_puts_the_summary_beside(odd_plugin, monkeypatch, capsys):
    lines = _plugins_output(monkeypatch, capsys, 200)
    block = _summary_lines(lines, "filter.odd_for_cli_test")
    assert block[0].split()[:3] == ["filter.odd_for_cli_test", "curate-odd", "1.2.3"]
    assert " ".join(block[0].split()[3:] + [w for line in block[1:] for w in line.split()]) == LONG_SUMMARY
    read = next(line for line in lines if "read.jsonl" in line)
    assert "JSON Lines" in read  # short summaries on the component's own line
