"""The third-party plugin of CONTRIBUTING.md, built in a temporary folder and installed, works.

The package is made of exactly the files CONTRIBUTING.md shows (pyproject.toml, the module, its
test), next to a ``runs/`` folder as ``curate run`` leaves one, and built by pip without build
isolation (offline). It is installed with ``pip install --target`` into a folder of its own that
the subprocesses get on PYTHONPATH: entry points are found from the dist-info on sys.path, and
the interpreter is this one, so curate and everything else come from the environment that runs
the tests (a virtualenv or the system Python), which is never changed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (pytest depends on tomli there)
    import tomli as tomllib

CONTRIBUTING = Path(__file__).resolve().parents[1] / "CONTRIBUTING.md"


def _block(text: str, caption: str, lang: str) -> str:
    """The fenced code block right after ``caption`` in CONTRIBUTING.md."""
    match = re.search(re.escape(caption) + r"[^\n]*\n+```" + lang + r"\n(.*?)^```", text, re.S | re.M)
    assert match, f"CONTRIBUTING.md has no {lang} block after {caption!r}"
    return match.group(1)


def _files() -> dict[str, str]:
    text = CONTRIBUTING.read_text()
    return {
        "pyproject.toml": _block(text, "`pyproject.toml`:", "toml"),
        "curate_shout/__init__.py": _block(text, "`curate_shout/__init__.py`:", "python"),
        "tests/test_shout.py": _block(text, "`tests/test_shout.py`", "python"),
    }


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CURATE_") and k != "PYTHONPATH"}
    return {**env, **extra}


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """(package folder, folder it is installed into, its pyproject) — the package is built with a
    runs/ folder next to it, as `curate run` leaves one in the current folder."""
    root = tmp_path_factory.mktemp("third_party")
    pkg = root / "curate-shout"
    for name, text in _files().items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    (pkg / "runs" / "shout").mkdir(parents=True)
    (pkg / "runs" / "shout" / "out.jsonl").write_text("{}\n")
    target = root / "site"
    build = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
                            "--disable-pip-version-check", "-q", "--target", str(target), str(pkg)],
                           capture_output=True, text=True, env=_env())
    assert build.returncode == 0, f"CONTRIBUTING.md's plugin does not build:\n{build.stdout}\n{build.stderr}"
    for leftover in [*pkg.glob("*.egg-info"), pkg / "build"]:  # the in-tree build's: not an installation
        shutil.rmtree(leftover, ignore_errors=True)
    return pkg, target, tomllib.loads(_files()["pyproject.toml"])["project"]


def test_the_package_holds_the_module_and_not_runs(plugin):
    _, target, project = plugin
    assert (target / "curate_shout" / "__init__.py").exists()
    assert not (target / "runs").exists()
    dist_info = target / f"curate_shout-{project['version']}.dist-info"
    assert "shout = curate_shout" in (dist_info / "entry_points.txt").read_text()


def test_installed_plugin_is_discovered_and_runs(plugin, tmp_path):
    _, target, project = plugin
    env = _env(PYTHONPATH=str(target))
    (tmp_path / "data.jsonl").write_text(json.dumps({"prompt": "p", "response": "Calm answer."}) + "\n" +
                                         json.dumps({"prompt": "q", "response": "LOUD ANSWER!"}) + "\n")
    (tmp_path / "r.yaml").write_text("name: shout\nstages:\n  - use: read.jsonl\n    with: {path: data.jsonl}\n"
                                     "  - use: filter.shout\n  - use: write.jsonl\n    with: {path: out.jsonl}\n")
    listing = subprocess.run([sys.executable, "-m", "curate", "plugins", "--json"], capture_output=True, text=True,
                             env=env, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    shout = next(c for c in json.loads(listing.stdout)["components"] if c["name"] == "filter.shout")
    assert shout["package"] == project["name"] and shout["version"] == project["version"]
    run = subprocess.run([sys.executable, "-m", "curate", "run", str(tmp_path / "r.yaml"), "--run-dir",
                          str(tmp_path / "run"), "--quiet"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "out.jsonl").read_text().splitlines()]
    assert [r["response"] for r in rows] == ["Calm answer."]


def test_disabled_plugin_is_not_available(plugin, tmp_path):
    _, target, project = plugin
    env = _env(PYTHONPATH=str(target), CURATE_DISABLE_PLUGINS=project["name"])
    out = subprocess.run([sys.executable, "-m", "curate", "describe", "filter.shout"], capture_output=True, text=True,
                         env=env, cwd=tmp_path)
    assert out.returncode == 2 and "unknown plugin component 'filter.shout'" in out.stderr


@pytest.mark.parametrize("installed", [False, True], ids=["before-installing", "after-installing"])
def test_the_plugins_own_tests_pass_before_and_after_installing(plugin, installed):
    """CONTRIBUTING's tests/test_shout.py (the `curate_plugin` fixture) passes whether the plugin
    is only in the working folder or also installed, i.e. loaded through its entry point."""
    pkg, target, _ = plugin
    env = _env(PYTHONPATH=str(target)) if installed else _env()
    # `python -m ...` puts the package folder on sys.path, so `import curate_shout` works before installing.
    entry_points = subprocess.run([sys.executable, "-c", "import importlib.metadata as md; "
                                   "print([ep.name for ep in md.entry_points(group='curate')])"],
                                  capture_output=True, text=True, env=env, cwd=pkg, check=True)
    assert ("'shout'" in entry_points.stdout) == installed
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_shout.py"],
                         capture_output=True, text=True, env=env, cwd=pkg)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout
