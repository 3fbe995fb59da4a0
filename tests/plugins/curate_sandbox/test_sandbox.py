"""run_python and Sandbox: what a program sees, limits, the pool, tier choice and errors."""

from __future__ import annotations

import os
import threading

import pytest

curate_sandbox = pytest.importorskip("curate_sandbox")  # plugins/curate-sandbox, installed by scripts/install.sh
from curate_sandbox import Sandbox, SandboxJob, SandboxLimits, SandboxUnavailable, run_python  # noqa: E402
from curate_sandbox import _process, _sandbox  # noqa: E402


def test_stdin_in_stdout_out(bwrap_tier):
    result = run_python("a, b = map(int, input().split())\nprint(a + b)", timeout_s=10, stdin="20 22\n")
    assert (result.stdout, result.exit_code, result.tier, result.ok) == ("42\n", 0, "bubblewrap", True)


def test_runs_as_a_main_script(bwrap_tier):
    result = run_python("import sys\nif __name__ == '__main__':\n    print(sys.argv[0], __file__)\n    exit(3)",
                        timeout_s=10)
    assert result.stdout.split() == ["/tmp/main.py", "/tmp/main.py"]
    assert result.exit_code == 3 and not result.ok
    assert result.failure() == "exit code 3"


def test_a_traceback_shows_the_program_not_the_launcher(bwrap_tier):
    result = run_python("x = 1\ndef f():\n    return 1 / 0\nf()", timeout_s=10)
    assert result.exit_code == 1
    assert 'File "/tmp/main.py", line 3, in f' in result.stderr
    assert "ZeroDivisionError: division by zero" in result.stderr
    assert "<string>" not in result.stderr
    assert result.failure() == "exit code 1: ZeroDivisionError: division by zero"


def test_syntax_errors_are_the_programs(bwrap_tier):
    result = run_python("def f(:\n    pass", timeout_s=10)
    assert result.exit_code == 1 and "SyntaxError" in result.stderr


def test_files_are_in_the_working_directory(bwrap_tier):
    result = run_python("import helper, json\nprint(helper.X + 1, open('data/in.json').read(), open('blob', 'rb').read())",
                        timeout_s=10, files={"helper.py": "X = 41", "data/in.json": "[1]", "blob": b"\x00\x01"})
    assert result.stdout == "42 [1] b'\\x00\\x01'\n", result


@pytest.mark.parametrize("name", ["../escape.py", "/etc/x", "main.py", ""])
def test_bad_file_names_are_refused(bwrap_tier, name):
    with pytest.raises(ValueError, match="curate-sandbox"):
        run_python("pass", timeout_s=10, files={name: "x"})


def test_large_stdin_and_stdout_stream_both_ways(bwrap_tier):
    """2 MiB in, echoed out while still coming in: neither side may block the other."""
    data = ("0123456789abcde\n" * 131072)
    result = run_python("import sys\nfor line in sys.stdin:\n    sys.stdout.write(line)", timeout_s=30,
                        stdin=data, max_output_bytes=4 * 1024 * 1024)
    assert result.ok and result.stdout == data


def test_timeout_kills_and_says_so(bwrap_tier):
    result = run_python("print('before', flush=True)\nwhile True: pass", timeout_s=1)
    assert result.timed_out and result.exit_code is None and result.stdout == "before\n"
    assert result.failure() == "timed out after 1 s"


def test_output_over_the_limit_is_cut_and_killed(bwrap_tier):
    result = run_python("import sys\nwhile True: sys.stderr.write('e' * 1000)", timeout_s=30, max_output_bytes=10_000)
    assert result.stderr_truncated and not result.stdout_truncated and not result.timed_out
    assert result.exit_code is None and len(result.stderr) == 10_000
    assert "stderr went over the output limit" in result.failure()


def test_memory_limit_raises_memoryerror(bwrap_tier):
    result = run_python("x = b'a' * (300 * 1024 * 1024)", timeout_s=10, memory_mb=128)
    assert result.exit_code == 1 and "MemoryError" in result.stderr


@pytest.mark.slow  # a Python with `site` starts slowly where many packages are installed editable
def test_site_packages_are_hidden_unless_asked(bwrap_tier):
    import pluggy
    import sysconfig

    if not pluggy.__file__.startswith(sysconfig.get_paths()["purelib"]):
        pytest.skip("pluggy is not in this interpreter's site-packages")
    code = "import pluggy\nprint('imported')"
    hidden = run_python(code, timeout_s=10)
    assert "ModuleNotFoundError" in hidden.stderr
    shown = run_python(code, timeout_s=20, site_packages=True)
    assert shown.stdout == "imported\n", shown


def test_another_interpreter(bwrap_tier):
    import shutil
    import sys

    other = shutil.which("python3", path="/usr/bin:/bin")
    if other is None or os.path.realpath(other) == os.path.realpath(sys.executable):
        pytest.skip("no second Python in /usr/bin")
    result = run_python("import sys; print(sys.executable, sys.version_info[:2])", timeout_s=20, python=other)
    assert result.ok and result.stdout.startswith(other), result


def test_limits_are_checked():
    with pytest.raises(ValueError, match="timeout_s"):
        SandboxLimits(timeout_s=0)
    with pytest.raises(ValueError, match="memory_mb"):
        SandboxLimits(timeout_s=1, memory_mb=8)
    assert SandboxLimits(timeout_s=2.5).cpu_s == 4


def test_pool_keeps_order_and_runs_workers_at_once(bwrap_tier, monkeypatch):
    running, most = [0], [0]
    lock = threading.Lock()
    real = _sandbox.execute

    def counting(*args, **kwargs):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(_sandbox, "execute", counting)
    jobs = [SandboxJob(f"import time; time.sleep(0.3); print({i})") for i in range(4)]
    with Sandbox(workers=2, timeout_s=10) as sandbox:
        assert [r.stdout for r in sandbox.run_many(jobs)] == [f"{i}\n" for i in range(4)]
    assert most[0] == 2
    most[0] = 0
    with Sandbox(workers=1, timeout_s=10) as sandbox:
        assert [r.stdout for r in sandbox.map(["print('a')", "print('b')"])] == ["a\n", "b\n"]
    assert most[0] == 1


def test_a_job_may_bring_its_own_timeout(bwrap_tier):
    with Sandbox(timeout_s=30) as sandbox:
        result = sandbox.submit(SandboxJob("while True: pass", timeout_s=0.5)).result()
    assert result.timed_out and result.duration_s < 10


def test_without_bubblewrap_it_refuses_and_says_how_to_fix(fresh_tiers, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(SandboxUnavailable) as err:
        run_python("print(1)", timeout_s=5)
    message = str(err.value)
    assert "bwrap" in message and "apt-get install -y bubblewrap" in message and "allow_degraded=True" in message


def test_degraded_tiers_only_when_allowed(fresh_tiers, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no bwrap: the next tier that works is used
    result = run_python("print(6 * 7)", timeout_s=10, allow_degraded=True)
    assert result.stdout == "42\n" and result.tier in ("unshare", "rlimits")
    with pytest.raises(ValueError, match="allow_degraded"):
        run_python("pass", timeout_s=5, tier="rlimits")
    with pytest.raises(ValueError, match="unknown tier"):
        run_python("pass", timeout_s=5, tier="docker", allow_degraded=True)


@pytest.mark.slow
@pytest.mark.parametrize("tier", ["unshare", "rlimits"])
def test_degraded_tiers_keep_env_limits_and_the_clock(tier, monkeypatch):
    monkeypatch.setenv("CURATE_FAKE_TOKEN", "tok-123456")
    try:
        result = run_python("import os; print(sorted(os.environ)); print(open('/proc/self/environ').read())",
                            timeout_s=10, tier=tier, allow_degraded=True)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    assert result.tier == tier and "tok-123456" not in result.stdout and "CURATE_FAKE_TOKEN" not in result.stdout
    assert run_python("while True: pass", timeout_s=0.5, tier=tier, allow_degraded=True).timed_out
    flood = run_python("while True: print('x' * 999)", timeout_s=20, tier=tier, allow_degraded=True,
                       max_output_bytes=5000)
    assert flood.stdout_truncated and len(flood.stdout) == 5000
    assert "MemoryError" in run_python("x = b'a' * 10**9", timeout_s=10, memory_mb=128, tier=tier,
                                       allow_degraded=True).stderr


def test_unshare_tier_has_no_network():
    try:
        result = run_python("import socket; print([n for _, n in socket.if_nameindex()])", timeout_s=10,
                            tier="unshare", allow_degraded=True)
    except SandboxUnavailable as exc:
        pytest.skip(str(exc))
    assert result.stdout == "['lo']\n"


def test_a_sandbox_that_never_started_the_program_is_an_error():
    """A broken sandbox must not pass for a failing program (a false verdict on a solution)."""
    launch = _process.Launch(argv=["sh", "-c", "echo 'bwrap: cannot do it' >&2; exit 1"], env={"PATH": "/usr/bin:/bin"},
                             cwd="/")
    outcome = _process.execute(launch, SandboxLimits(timeout_s=5), None)
    error = _process.setup_failure(outcome, "bubblewrap")
    assert isinstance(error, curate_sandbox.SandboxError) and "bwrap: cannot do it" in str(error)


def test_the_program_never_sees_the_callers_folder(bwrap_tier, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "local.txt").write_text("here")
    result = run_python("import os; print(os.getcwd(), sorted(os.listdir('.')))", timeout_s=10)
    assert result.stdout == "/tmp ['main.py']\n"
    assert os.path.exists(tmp_path / "local.txt")
