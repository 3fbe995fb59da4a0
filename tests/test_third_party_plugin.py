"""A third-party plugin package, built in a temporary folder and installed, works in a recipe.

This is the path CONTRIBUTING.md teaches: one module, one entry point in group ``curate``.
The package is installed into a throwaway virtualenv (with this environment's packages visible)
so the test never changes the environment that runs it.
"""

import json
import subprocess
import sys
import textwrap
import venv

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "curate-shout"
version = "0.3.0"
dependencies = []

[project.entry-points.curate]
shout = "curate_shout"
"""

MODULE = '''
"""curate-shout: a filter that drops responses written in capitals."""
import polars as pl
from pydantic import Field

import curate


class ShoutParams(curate.FilterParams):
    column: str = Field("response", description="Column to check.")
    max_upper: float = Field(0.5, description="Largest allowed fraction of upper-case letters.")


class ShoutFilter(curate.Filter):
    """Drop rows whose text is mostly upper case."""

    name = "filter.shout"
    Params = ShoutParams

    def input_columns(self):
        return [self.params.column]

    def drop_reason(self, df):
        text = pl.col(self.params.column)
        upper = text.str.count_matches(r"\\p{Lu}") / text.str.count_matches(r"\\p{L}").clip(lower_bound=1)
        return pl.when(upper > self.params.max_upper).then(pl.lit("shouting")).otherwise(None)


@curate.hookimpl
def curate_register_filters(register):
    register(ShoutFilter)
'''


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("third_party")
    pkg = root / "curate-shout"
    (pkg / "curate_shout").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "curate_shout" / "__init__.py").write_text(textwrap.dedent(MODULE))
    env_dir = root / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-build-isolation",
                    "-q", str(pkg)], check=True, capture_output=True)
    return python, root


def test_installed_plugin_is_discovered_and_runs(plugin_env, tmp_path):
    python, _ = plugin_env
    (tmp_path / "data.jsonl").write_text(json.dumps({"prompt": "p", "response": "Calm answer."}) + "\n" +
                                         json.dumps({"prompt": "q", "response": "LOUD ANSWER!"}) + "\n")
    (tmp_path / "r.yaml").write_text("name: shout\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                                     "  - use: filter.shout\n  - use: write.jsonl\n    with: {path: out.jsonl}\n")
    listing = subprocess.run([str(python), "-m", "curate", "plugins", "--json"], capture_output=True, text=True, check=True)
    shout = next(c for c in json.loads(listing.stdout)["components"] if c["name"] == "filter.shout")
    assert shout["package"] == "curate-shout" and shout["version"] == "0.3.0"
    run = subprocess.run([str(python), "-m", "curate", "run", str(tmp_path / "r.yaml"), "--run-dir", str(tmp_path / "run"),
                          "--quiet"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "out.jsonl").read_text().splitlines()]
    assert [r["response"] for r in rows] == ["Calm answer."]


def test_disabled_plugin_is_not_available(plugin_env, tmp_path):
    python, _ = plugin_env
    env = {"CURATE_DISABLE_PLUGINS": "curate-shout", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([str(python), "-m", "curate", "describe", "filter.shout"], capture_output=True, text=True, env=env)
    assert out.returncode == 2 and "unknown plugin component 'filter.shout'" in out.stderr
