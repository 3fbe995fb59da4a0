import datetime as dt
import email.utils
import random

import pytest

from curate import Backoff, is_retryable, retry_after_seconds


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status):
    assert is_retryable(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_other_client_errors_are_not_retried(status):
    assert not is_retryable(status)


def test_retry_after_in_seconds_and_milliseconds():
    assert retry_after_seconds({"retry-after": "7"}) == 7.0
    assert retry_after_seconds({"retry-after": "0.5"}) == 0.5
    assert retry_after_seconds({"retry-after": "-3"}) == 0.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({}) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None


def test_retry_after_as_http_date():
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    later = email.utils.format_datetime(now + dt.timedelta(seconds=42), usegmt=True)
    assert retry_after_seconds({"retry-after": later}, now=now) == pytest.approx(42)
    earlier = email.utils.format_datetime(now - dt.timedelta(seconds=42), usegmt=True)
    assert retry_after_seconds({"retry-after": earlier}, now=now) == 0.0


def test_backoff_is_exponential_with_full_jitter_and_capped():
    backoff = Backoff(base=1.0, cap=8.0)
    rng = random.Random(0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 8.0), (12, 8.0)]:
        delays = [backoff.delay(attempt, rng=rng) for _ in range(300)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > 0.8 * ceiling and min(delays) < 0.2 * ceiling  # spread over [0, ceiling]


def test_server_retry_after_is_honoured_as_given():
    assert Backoff(base=1.0, cap=2.0).delay(1, retry_after=30.0) == 30.0
    assert Backoff(base=1.0, cap=2.0).delay(3, retry_after=0.0) == 0.0
