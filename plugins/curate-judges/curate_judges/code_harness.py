"""Runs assert tests inside the sandbox (this file's text is the sandbox's main.py; the host
never imports it). Reads ``tests.json`` (nonce, tests, per-test timeout, excerpt size) and
deletes it, runs ``solution.py`` in a namespace named ``solution`` (so an ``if __name__ ==
"__main__":`` block does not run), then each test in that namespace under its own alarm.

It reports one JSON line per step on a copy of stdout taken before the solution ran, each
starting with the nonce; the host counts a test as passed only on such a report, so a solution
that exits early, or prints something that looks like success, passes nothing. (A solution that
deliberately inspects this process to forge reports is not stopped: the sandbox protects the
host, not the verdict against a program written to game it.)
"""

import io
import json
import os
import signal
import sys
import traceback


class TestTimeout(BaseException):
    """Raised by the alarm; a BaseException so that `except Exception` in a solution lets it by."""


def _alarm(signum, frame):
    raise TestTimeout()


def _error(exc, source, filename):
    """One line: the exception, and for a failed assert the line that failed."""
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}, line {exc.lineno})"
    text = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]
    if isinstance(exc, AssertionError):
        tb, line = exc.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == filename:
                line = tb.tb_lineno
            tb = tb.tb_next
        if line is not None:
            failed = source.splitlines()[line - 1].strip()
            text = f"{text} in `{failed[:200]}`"
    return text


def main():
    with open("tests.json") as f:
        config = json.load(f)
    os.remove("tests.json")
    nonce, excerpt, timeout = config["nonce"], config["excerpt_chars"], config["timeout_s"]
    out = os.dup(1)  # the report channel, whatever the solution does to sys.stdout

    def report(**fields):
        os.write(out, ("\n" + nonce + " " + json.dumps(fields) + "\n").encode())

    signal.signal(signal.SIGALRM, _alarm)
    namespace = {"__name__": "solution", "__builtins__": __builtins__}

    def step(source, filename):
        captured = io.StringIO()
        real_stdout, sys.stdout = sys.stdout, captured
        error, timed_out = None, False
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            exec(compile(source, filename, "exec"), namespace)
        except TestTimeout:
            error, timed_out = f"timed out after {timeout:g} s", True
        except SystemExit as exc:
            error = f"exited (SystemExit: {exc.code!r}) instead of returning"
        except BaseException as exc:  # noqa: BLE001 -- any failure of user code is a result
            error = _error(exc, source, filename)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            sys.stdout = real_stdout
        return {"passed": error is None, "error": error, "stdout": captured.getvalue()[:excerpt],
                "timed_out": timed_out}

    with open("solution.py") as f:
        solution = f.read()
    setup = step(solution, "solution.py")
    report(step="solution", **setup)
    if setup["error"] is not None:
        return
    for index, test in enumerate(config["tests"]):
        report(step="test", index=index, **step(test, f"test_{index + 1}"))


main()
