"""The bubblewrap sandbox holds against attacks (attacks.py), run twice: in this process (as
whoever runs the tests) and in a subprocess as an unprivileged user (uid 65534), so that both a
root caller (which drops to `nobody`) and an ordinary user are covered.

Without bubblewrap the suite is skipped with the reason, or fails when CURATE_REQUIRE_SANDBOX=1
(set it where the sandbox must be tested: CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

curate_sandbox = pytest.importorskip("curate_sandbox")  # plugins/curate-sandbox, installed by scripts/install.sh

HERE = Path(__file__).resolve().parent
PKG = Path(curate_sandbox.__file__).resolve().parents[1]  # the folder holding curate_sandbox/
UNPRIVILEGED = 65534


def _load_attacks():
    spec = importlib.util.spec_from_file_location("curate_sandbox_attacks", HERE / "attacks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


attacks = _load_attacks()


@pytest.fixture(scope="module")
def bubblewrap(bwrap_tier):
    return bwrap_tier


@pytest.fixture
def ctx(bubblewrap):
    context = attacks.Context()
    yield context
    context.close()


@pytest.mark.parametrize("name", list(attacks.ATTACKS))
def test_attack_as_caller(name, ctx):
    attacks.ATTACKS[name](ctx)


def _as_unprivileged(argv: list[str]) -> list[str] | None:
    """``argv`` run as uid/gid 65534 with no supplementary groups, or None when we cannot."""
    if shutil.which("setpriv"):
        return ["setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups", "--", *argv]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--", *argv]
    return None


def _unprivileged_python() -> tuple[list[str] | None, str]:
    """A Python with which the unprivileged user can import curate_sandbox and start the
    bubblewrap tier (the interpreter must be readable by that user); or why there is none."""
    if os.geteuid() != 0:
        return None, f"the tests already run unprivileged (uid {os.geteuid()}): test_attack_as_caller covers it"
    if _as_unprivileged([]) is None:
        return None, "neither setpriv nor runuser is installed (util-linux)"
    check = (f"import sys; sys.path.insert(0, {str(PKG)!r}); import curate_sandbox; "
             "print(curate_sandbox.resolve_tier().name)")
    reasons = []
    for python in dict.fromkeys([sys.executable, "/usr/bin/python3"]):
        if not os.path.exists(python):
            continue
        probe = subprocess.run(_as_unprivileged([python, "-I", "-c", check]), capture_output=True, text=True,
                               timeout=60, cwd="/", env={"PATH": "/usr/bin:/bin"})
        if probe.returncode == 0 and probe.stdout.strip() == "bubblewrap":
            return _as_unprivileged([python, "-I"]), ""
        reasons.append(f"{python}: {(probe.stderr.strip() or probe.stdout.strip())[-300:]}")
    return None, "uid 65534 cannot run the sandbox with any Python here: " + "; ".join(reasons)


@pytest.fixture(scope="module")
def unprivileged_results(bubblewrap):
    python, reason = _unprivileged_python()
    if python is None:
        if os.environ.get("CURATE_REQUIRE_SANDBOX") == "1" and os.geteuid() == 0:
            pytest.fail(f"CURATE_REQUIRE_SANDBOX=1 but {reason}")
        pytest.skip(reason)
    done = subprocess.run([*python, str(HERE / "attacks.py"), "--pkg", str(PKG)], capture_output=True, text=True,
                          timeout=300, cwd="/", env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, f"the unprivileged attack run failed: {done.stderr[-2000:]}"
    report = json.loads(done.stdout)
    assert report["uid"] == UNPRIVILEGED
    return report["results"]


@pytest.mark.slow
@pytest.mark.parametrize("name", list(attacks.ATTACKS))
def test_attack_as_unprivileged_user(name, unprivileged_results):
    failure = unprivileged_results[name]
    assert failure is None, failure


def test_the_leftover_check_can_fail(bubblewrap):
    """The process scan behind the daemon/fork-bomb/loop attacks sees a process that does outlive."""
    marker = "curate-attack-selfcheck-" + os.urandom(4).hex()
    survivor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", marker])
    try:
        with pytest.raises(AssertionError, match="outlived"):
            attacks._no_leftovers(marker)
    finally:
        survivor.kill()
        survivor.wait()


def test_a_degraded_tier_fails_the_network_attack(bubblewrap):
    """The attacks can fail: without namespaces (tier `rlimits`) the host listener is reached."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        result = curate_sandbox.run_python(
            f"import socket; socket.create_connection(('127.0.0.1', {listener.getsockname()[1]}), timeout=2); print('in')",
            timeout_s=10, tier="rlimits", allow_degraded=True)
        assert result.stdout.strip() == "in", result
    finally:
        listener.close()
