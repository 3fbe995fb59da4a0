"""Run a coroutine to completion from synchronous code, whether or not the caller already runs an
event loop (a notebook does): in this thread when none runs, else in a helper thread."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")


def run_sync(make_coro: Callable[[], Awaitable[T]]) -> T:
    """Run ``make_coro()`` in a fresh event loop and return its result.

    Ctrl-C (KeyboardInterrupt) cancels the coroutine: what it awaits is abandoned and
    KeyboardInterrupt is raised here.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        # asyncio.run turns SIGINT into cancelling the main task, then raises KeyboardInterrupt.
        return asyncio.run(_as_coroutine(make_coro))
    return _run_in_thread(make_coro)


async def _as_coroutine(make_coro: Callable[[], Awaitable[T]]) -> T:
    return await make_coro()


def _run_in_thread(make_coro: Callable[[], Awaitable[T]]) -> T:
    loop = asyncio.new_event_loop()
    outcome: dict[str, Any] = {}
    created = threading.Event()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            task = loop.create_task(_as_coroutine(make_coro))
            outcome["task"] = task
            created.set()
            outcome["value"] = loop.run_until_complete(task)
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc
        finally:
            created.set()
            _close(loop)

    thread = threading.Thread(target=main, name="curate-anthropic-loop", daemon=True)
    thread.start()
    try:
        # Poll rather than block: a blocking join is not always woken by Ctrl-C (e.g. once
        # polars has started its threads), while the polls let the signal handler run.
        while thread.is_alive():
            thread.join(0.1)
    except BaseException:  # KeyboardInterrupt while waiting: abandon what is in flight
        created.wait()
        task = outcome.get("task")
        if task is not None:
            with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
                loop.call_soon_threadsafe(task.cancel)
        thread.join()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _close(loop: asyncio.AbstractEventLoop) -> None:
    try:
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        asyncio.set_event_loop(None)
        loop.close()
