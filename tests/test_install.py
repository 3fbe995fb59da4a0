"""scripts/install.sh installs every first-party plugin (a new plugin folder must be added there),
skips pip when nothing changed, and the core distribution is named ``curate-llm``."""

import json
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10 (pytest depends on tomli there)
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def test_every_plugin_folder_is_installed_by_the_setup_script():
    script = (REPO / "scripts" / "install.sh").read_text()
    folders = sorted(p.name for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").exists())
    assert folders, "no plugins found"
    missing = [name for name in folders if f"plugins/{name}" not in script]
    assert not missing, f"scripts/install.sh does not install {missing}"


# ---- the distribution name -------------------------------------------------------------------

def test_the_curate_package_is_installed_as_the_curate_llm_distribution(tmp_path):
    # In a subprocess run elsewhere, so that ./*.egg-info of the checkout does not count.
    code = ("import importlib.metadata as md, json, curate; "
            "print(json.dumps([md.packages_distributions().get('curate'), md.version('curate-llm'), curate.__version__]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    providers, dist_version, version = json.loads(out.stdout)
    assert set(providers) == {"curate-llm"}, f"the `curate` package comes from {providers}; run scripts/install.sh"
    assert dist_version == version


def _requirements(pyproject: dict) -> list[Requirement]:
    project = pyproject["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_core_is_named_curate_llm_and_no_plugin_depends_on_a_bare_curate():
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"] == "curate-llm"
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    example = re.search(r"`pyproject.toml`:\s*```toml\n(.*?)```", contributing, re.S).group(1)
    pyprojects = {p.parent.name: p.read_text() for p in sorted((REPO / "plugins").glob("*/pyproject.toml"))}
    pyprojects["CONTRIBUTING.md example"] = example
    assert len(pyprojects) > 1
    for where, text in pyprojects.items():
        names = {canonicalize_name(r.name) for r in _requirements(tomllib.loads(text))}
        assert "curate" not in names, f"{where} depends on `curate` (another project on PyPI); use `curate-llm`"
        assert "curate-llm" in names, f"{where} does not depend on curate-llm"


# ---- install.sh skips pip when nothing changed -----------------------------------------------
# install.sh runs in a copy of the repository's install files, with a PYTHON that records the pip
# calls instead of running them and answers the "is it installed?" check as the test says.

FAKE_PYTHON = """#!/usr/bin/env bash
if [[ "$1 $2" == "-m pip" ]]; then
  echo "pip ${*:3}" >>"$CALLS"
  exit "${FAKE_PIP_RC:-0}"
fi
if [[ "$2" == "# install.sh: installed check"* ]]; then
  echo "installed-check" >>"$CALLS"
  exit "${FAKE_INSTALLED:-0}"
fi
exec "$REAL_PYTHON" "$@"
"""


@pytest.fixture
def install_copy(tmp_path):
    copy = tmp_path / "repo"
    (copy / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "install.sh", copy / "scripts" / "install.sh")
    shutil.copy(REPO / "pyproject.toml", copy / "pyproject.toml")
    for p in (REPO / "plugins").glob("*/pyproject.toml"):
        (copy / "plugins" / p.parent.name).mkdir(parents=True)
        shutil.copy(p, copy / "plugins" / p.parent.name / "pyproject.toml")
    calls = tmp_path / "calls.log"

    def install(python="python-a", *args, **env):
        fake = tmp_path / python
        if not fake.exists():
            fake.write_text(FAKE_PYTHON)
            fake.chmod(0o755)
        calls.write_text("")
        proc = subprocess.run(["bash", str(copy / "scripts" / "install.sh"), *args], capture_output=True, text=True,
                              env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake), "REAL_PYTHON": sys.executable,
                                   "CALLS": str(calls), **env})
        pips = [line for line in calls.read_text().splitlines() if line.startswith("pip install")]
        return proc, pips

    return copy, install


def test_install_runs_pip_once_then_skips_it_until_something_changes(install_copy):
    copy, install = install_copy
    proc, pips = install()
    assert proc.returncode == 0, proc.stderr
    assert len(pips) == 2 and "torch==2.13.0" in pips[0]
    assert "-e .[hf,dev]" in pips[1] and "-e plugins/curate-filters" in pips[1]

    proc, pips = install()
    assert proc.returncode == 0 and pips == [] and "pip skipped" in proc.stderr

    # Something is missing from the environment: full install, then quick again.
    assert len(install(FAKE_INSTALLED="1")[1]) == 2
    assert install()[1] == []

    # A changed pyproject.toml, another interpreter, or CURATE_INSTALL_FORCE: full install.
    pyproject = copy / "plugins" / "curate-openai" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('"orjson>=3.8",', '"orjson>=3.8",\n    "six",'))
    assert len(install()[1]) == 2
    assert install()[1] == []
    assert len(install("python-b")[1]) == 2
    assert install("python-a")[1] == [] and install("python-b")[1] == []
    assert len(install(CURATE_INSTALL_FORCE="1")[1]) == 2


def test_install_of_some_folders_has_its_own_stamp_and_no_torch_pin(install_copy):
    copy, install = install_copy
    proc, pips = install("python-a", ".", "plugins/curate-vllm")
    assert proc.returncode == 0, proc.stderr
    assert len(pips) == 1 and "-e . -e plugins/curate-vllm" in pips[0] and "torch" not in pips[0]
    assert install("python-a", ".", "plugins/curate-vllm")[1] == []
    assert len(install("python-a")[1]) == 2  # everything: not covered by the smaller install
    # Only the pyproject.toml files of the folders it installs count.
    other = copy / "plugins" / "curate-openai" / "pyproject.toml"
    other.write_text(other.read_text() + "\n")
    assert install("python-a", ".", "plugins/curate-vllm")[1] == []
    assert len(install("python-a")[1]) == 2
    core = copy / "pyproject.toml"
    core.write_text(core.read_text() + "\n")
    assert len(install("python-a", ".", "plugins/curate-vllm")[1]) == 1


def test_a_failed_install_leaves_no_stamp(install_copy):
    copy, install = install_copy
    proc, _ = install(FAKE_PIP_RC="1")
    assert proc.returncode != 0
    assert not list((copy / ".venvs").glob("install-stamps/*"))
    assert len(install()[1]) == 2


def _installed_check() -> str:
    script = (REPO / "scripts" / "install.sh").read_text()
    return re.search(r"^INSTALLED_SCRIPT='(.*?)'$", script, re.S | re.M).group(1)


def test_installed_check_needs_every_requirement_in_a_satisfying_version(tmp_path):
    def check(*args):
        return subprocess.run([sys.executable, "-c", _installed_check(), *args], cwd=tmp_path,
                              capture_output=True, text=True)

    assert check("pytest").returncode == 0  # pytest and all its requirements are installed
    missing = check("no-such-distribution-for-curate")
    assert missing.returncode != 0 and "no-such-distribution-for-curate is not installed" in missing.stderr
    too_old = check("pytest>=999")
    assert too_old.returncode != 0 and "does not satisfy" in too_old.stderr
    # A folder must be installed editable from that very folder.
    plugin = tmp_path / "curate-nowhere"
    plugin.mkdir()
    (plugin / "pyproject.toml").write_text(textwrap.dedent('[project]\nname = "pytest"\n'))
    elsewhere = check("", str(plugin))
    assert elsewhere.returncode != 0 and "is not installed editable from" in elsewhere.stderr
