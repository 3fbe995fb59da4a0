"""Bounds on the work one answer may cost: a wall-clock limit, and the size limits the expression
parser enforces before sympy computes anything.

Two guards, because neither suffices alone. A timer (``SIGALRM``) interrupts Python code such as
sympy's evaluation, but not one long C call: ``9^{9^{9}}`` is a single big-integer power that no
signal interrupts. So the parser bounds the digits of every number it builds (:data:`MAX_DIGITS`)
before building it, and the timer catches whatever else runs long.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

#: Longest answer text parsed as mathematics; longer answers are compared as text.
MAX_ANSWER_CHARS = 400
#: Most digits any intermediate number may have (``2^{2023}`` has 610; ``10^{10^5}`` is refused).
MAX_DIGITS = 10_000
#: Largest argument of a factorial or binomial computed exactly.
MAX_FACTORIAL = 1_000
#: Deepest nesting of brackets and fractions.
MAX_DEPTH = 40


class TimeLimit(BaseException):
    """Raised inside a :func:`time_limit` block when its time is up.

    A ``BaseException``, so that a library's ``except Exception`` cannot swallow it."""


class TooComplex(ValueError):
    """An expression beyond the size limits above (refused before anything is computed)."""


def can_time() -> bool:
    """Whether :func:`time_limit` can interrupt work here: only in the main thread of a process
    on a platform with ``SIGALRM``. Elsewhere only the size limits bound the work."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def _expire(signum, frame):
    raise TimeLimit("time is up")


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`TimeLimit` in the block after ``seconds`` (``None`` or 0: no limit).

    Restores any timer and handler that were set before (a test runner's own timeout, say)."""
    if not seconds or not can_time():
        yield
        return
    previous = signal.getsignal(signal.SIGALRM)
    if previous is not _expire:  # inside alarm_handler() the handler is already there
        signal.signal(signal.SIGALRM, _expire)
    outer_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        if previous is not _expire:
            signal.signal(signal.SIGALRM, previous)
        if outer_delay:  # give an enclosing timer back what it had left (at least a tick)
            signal.setitimer(signal.ITIMER_REAL, max(outer_delay - (time.monotonic() - started), 1e-3))


@contextmanager
def alarm_handler() -> Iterator[None]:
    """Install the :func:`time_limit` handler once around many limited blocks (a batch of rows),
    instead of once per block. Does nothing while another timer is pending (its handler must stay)."""
    if not can_time() or signal.getitimer(signal.ITIMER_REAL)[0]:
        yield
        return
    previous = signal.signal(signal.SIGALRM, _expire)
    try:
        yield
    finally:
        signal.signal(signal.SIGALRM, previous)
