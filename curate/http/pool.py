"""The request loop every HTTP engine shares (openai, anthropic, litellm, reward servers): a bounded pool of workers over one
aiohttp session, and one POST with the retry rules (backoff with full jitter, ``Retry-After``,
no retry on other 4xx). Chat and reward engines differ only in the body they send and how they
read a 200."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, TypeVar

from curate.http.retry import MAX_RETRY_AFTER, Backoff, is_retryable, retry_after_seconds

R = TypeVar("R")


async def run_pool(count: int, max_in_flight: int, one: Callable[[int], Awaitable[R]],
                   on_result: Callable[[R], None] | None) -> list[R]:
    """``one(i)`` for every ``i < count``, at most ``max_in_flight`` at once, results in order.
    ``on_result`` sees each as it completes; if it raises, the other workers stop."""
    results: list[R | None] = [None] * count
    todo = iter(range(count))  # shared by the workers; the loop is single-threaded

    async def worker() -> None:
        for i in todo:
            results[i] = await one(i)
            if on_result is not None:
                on_result(results[i])  # type: ignore[arg-type]

    workers = [asyncio.ensure_future(worker()) for _ in range(min(max_in_flight, count))]
    try:
        done, pending = await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:  # cancelled (Ctrl-C): abandon the requests in flight
        await cancel(workers)
        raise
    if pending:  # a worker raised (on_result did): stop the others
        await cancel(list(pending))
    for w in done:
        w.result()
    return results  # type: ignore[return-value]


async def post_retrying(session: Any, url: str, proxy: str | None, body: bytes, *, params: Any,
                        on_ok: Callable[[bytes, int], R | str], fail: Callable[[str, int], R],
                        on_retry: Callable[[str, int, float], Awaitable[None]], body_reason: Callable[[bytes], str],
                        not_found_hint: str = "") -> R:
    """POST ``body`` with retries; never raises for a failed request.

    ``on_ok(raw, attempt)`` reads a 200: a result, or a string saying why the body is unusable
    (retried, like a 5xx). ``fail(reason, attempts)`` makes the failed result. ``on_retry(reason,
    attempt, delay)`` logs and sleeps before the next attempt."""
    import aiohttp

    backoff = Backoff(params.backoff_base, params.backoff_max)
    reason = ""
    for attempt in range(1, params.max_attempts + 1):
        retry_after = None
        try:
            async with session.post(url, data=body, proxy=proxy) as resp:
                raw = await resp.read()
                status = resp.status
                if status == 200:
                    read = on_ok(raw, attempt)
                    if not isinstance(read, str):
                        return read
                    reason = read
                else:
                    reason = f"HTTP {status}: {body_reason(raw)}"
                    if not is_retryable(status):
                        if status == 404 and not_found_hint:
                            reason += f" ({not_found_hint})"
                        return fail(reason, attempt)
                    retry_after = retry_after_seconds(resp.headers)
                    if retry_after is not None and retry_after > MAX_RETRY_AFTER:
                        return fail(f"{reason}; the server asks to retry after {retry_after:.0f} s, over the "
                                    f"{MAX_RETRY_AFTER:.0f} s limit", attempt)
        except (asyncio.TimeoutError, TimeoutError):
            reason = f"no response within {params.timeout:g} s (timeout)"
        except aiohttp.ClientError as exc:
            reason = f"connection error: {describe(exc)}"
        except Exception as exc:  # noqa: BLE001 - a bug or odd reply fails this request only
            return fail(f"unexpected error: {describe(exc)}", attempt)
        if attempt < params.max_attempts:
            await on_retry(reason, attempt, backoff.delay(attempt, retry_after))
    return fail(reason, params.max_attempts)


class SharedSession:
    """One aiohttp session (connection pool) for every call of an engine: made on first use, on the
    engine's :class:`~curate.http.loop.LoopThread`, and kept, so a stage that calls the engine
    batch after batch reuses its open connections instead of connecting again each time."""

    def __init__(self) -> None:
        self._session: Any = None

    def __getstate__(self) -> dict[str, Any]:
        return {}  # a copy elsewhere makes its own

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._session = None

    async def get(self, make: Callable[[], Any]) -> Any:
        if self._session is None or self._session.closed:
            self._session = make()
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


async def cancel(tasks: list[asyncio.Future[Any]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
