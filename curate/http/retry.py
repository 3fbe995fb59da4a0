"""When to retry a request and how long to wait: exponential backoff with full jitter, and the
server's ``Retry-After`` when it gives one."""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from dataclasses import dataclass
from typing import Mapping

#: Request timeout, conflict, rate limit; every 5xx is retried too.
RETRY_STATUSES = frozenset({408, 409, 429})
#: A server asking to come back later than this (seconds; e.g. a daily quota) fails the request
#: instead of stalling the run.
MAX_RETRY_AFTER = 600.0


def is_retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def retry_after_seconds(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds the server asks us to wait: ``retry-after-ms``, or ``Retry-After`` as seconds or
    an HTTP-date. ``None`` when absent or unparsable."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class Backoff:
    """``base * 2**(attempt-1)`` capped at ``cap``, with full jitter (uniform in [0, that])."""

    base: float
    cap: float

    def delay(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Wait before retry number ``attempt`` (1 = the first retry). A server's ``Retry-After``
        is honoured as given (it is a floor, never shortened by jitter)."""
        if retry_after is not None:
            return retry_after
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return (rng or random).uniform(0, ceiling)
