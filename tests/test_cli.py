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
    assert exact["kind"] == "dedup" and exact["package"] == "curate" and exact["version"]


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
