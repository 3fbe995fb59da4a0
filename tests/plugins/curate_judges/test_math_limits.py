"""judge.math, part 3: untrusted answers are parsed safely and in bounded time."""

from __future__ import annotations

import signal
import time

import pytest

from curate_judges.math import judge, judge_answer, limits
from curate_judges.math.answer import Unparsed, parse_answer
from curate_judges.math.expression import ParseError, parse_expression


@pytest.mark.parametrize("text", [
    "__import__('os').system('echo pwned')", "lambda: 1", "x.__class__", "open('/etc/passwd')",
    "exec('1')", "a.b", "[c for c in ()]",
])
def test_code_is_never_evaluated(text):
    assert isinstance(parse_answer(text), Unparsed)
    with pytest.raises((ParseError, limits.TooComplex)):
        parse_expression(text)


@pytest.mark.parametrize("text", [
    r"9^{9^{9}}", r"10^{10^{5}}", "100000!", r"\binom{10^{6}}{3}", r"\exp(10^{500})", r"\sin(10^{200})",
    "2^{" * 60 + "2" + "}" * 60, "1" * 500, "1e99999",
])
def test_sizes_are_bounded_before_anything_is_computed(text):
    started = time.monotonic()
    with pytest.raises(limits.TooComplex):
        parse_expression(text)
    assert time.monotonic() - started < 1.0  # refused, not computed then refused


def test_sizes_within_the_bounds_are_computed():
    assert parse_expression(r"2^{2023}") == 2 ** 2023
    assert parse_expression("20!") == 2432902008176640000
    assert parse_expression(r"\binom{50}{25}") == 126410606437752


@pytest.mark.skipif(not limits.can_time(), reason="SIGALRM needs the main thread of a Unix process")
def test_time_limit_interrupts_python_work():
    started = time.monotonic()
    with pytest.raises(limits.TimeLimit):
        with limits.time_limit(0.2):
            while True:
                pass
    assert time.monotonic() - started < 2.0


@pytest.mark.skipif(not limits.can_time(), reason="SIGALRM needs the main thread of a Unix process")
def test_time_limit_gives_an_outer_timer_back():
    fired = []

    def outer(*_):
        fired.append(True)

    previous = signal.signal(signal.SIGALRM, outer)
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)
        with limits.time_limit(1.0):
            pass
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 3.0 < remaining <= 5.0
        assert signal.getsignal(signal.SIGALRM) is outer and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.mark.skipif(not limits.can_time(), reason="SIGALRM needs the main thread of a Unix process")
def test_a_row_that_runs_out_of_time_is_labelled(monkeypatch):
    def slow(*args, **kwargs):
        time.sleep(5)

    monkeypatch.setattr(judge, "equivalent", slow)
    verdict = judge_answer(r"\boxed{3}", "3", timeout_s=0.2)
    assert (verdict.correct, verdict.reason) == (False, "could not check the answer within 0.2 s")

    monkeypatch.setattr(judge, "reference_answer", slow)
    verdict = judge_answer(r"\boxed{3}", "3", timeout_s=0.2)
    assert (verdict.correct, verdict.reason) == (None, "reference unparseable: took longer than 0.2 s")


def test_an_error_inside_sympy_is_a_label_not_a_crash(monkeypatch):
    def broken(*args, **kwargs):
        raise NotImplementedError("sympy cannot do this")

    monkeypatch.setattr(judge, "equivalent", broken)
    verdict = judge_answer(r"\boxed{3}", "3")
    assert verdict.correct is False and "NotImplementedError: sympy cannot do this" in verdict.reason


@pytest.mark.skipif(not limits.can_time(), reason="SIGALRM needs the main thread of a Unix process")
def test_a_batch_installs_the_handler_once_and_limits_still_fire():
    before = signal.getsignal(signal.SIGALRM)
    with limits.alarm_handler():
        installed = signal.getsignal(signal.SIGALRM)
        assert installed is not before
        with limits.time_limit(1.0):
            pass
        assert signal.getsignal(signal.SIGALRM) is installed  # not swapped per row
        with pytest.raises(limits.TimeLimit):
            with limits.time_limit(0.1):
                time.sleep(3)
    assert signal.getsignal(signal.SIGALRM) is before
