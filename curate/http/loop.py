"""Run a coroutine to completion from synchronous code, whether or not the caller already runs an
event loop (a notebook does): :func:`run_sync` makes a fresh loop per call (in this thread when
none runs, else in a helper thread); :class:`LoopThread` keeps one loop on a helper thread for the
life of an engine, so what is bound to a loop (aiohttp's connection pool) outlives a call."""

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

    thread = threading.Thread(target=main, name="curate-http-loop", daemon=True)
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


class LoopThread:
    """One event loop on a daemon thread, started on first use and kept until :meth:`close`.

    :meth:`run` has :func:`run_sync`'s contract (Ctrl-C cancels the coroutine and raises
    KeyboardInterrupt here); callbacks of the coroutine run on the helper thread. A pickled copy
    (a remote executor shipping an engine) starts its own loop where it is used.
    """

    def __init__(self, name: str = "curate-http-loop"):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {"name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["name"])  # type: ignore[misc]

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=self._main, args=(loop,), name=self.name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            _close(loop)

    def run(self, make_coro: Callable[[], Awaitable[T]]) -> T:
        """Run ``make_coro()`` on the loop and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:  # called from a callback on the loop: no deadlock
            return run_sync(make_coro)
        loop = self._started()
        done = threading.Event()
        holder: dict[str, asyncio.Task[T]] = {}

        def submit() -> None:
            task = loop.create_task(_as_coroutine(make_coro))
            task.add_done_callback(lambda _: done.set())
            holder["task"] = task

        loop.call_soon_threadsafe(submit)
        try:
            while not done.wait(0.1):  # polls: the main thread stays responsive to Ctrl-C
                pass
        except BaseException:  # KeyboardInterrupt while waiting: abandon what is in flight
            def cancel() -> None:
                task = holder.get("task")
                if task is None:  # not submitted yet: it never starts
                    done.set()
                else:
                    task.cancel()

            with contextlib.suppress(RuntimeError):  # the loop may have closed meanwhile
                loop.call_soon_threadsafe(cancel)
                done.wait()
            raise
        return holder["task"].result()

    def close(self, last: Callable[[], Awaitable[Any]] | None = None) -> None:
        """Run ``last()`` (closing what lives on the loop), then stop the loop and its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        if last is not None and thread.is_alive():
            try:
                future = asyncio.run_coroutine_threadsafe(_as_coroutine(last), loop)
                future.result(timeout=30)
            except Exception:  # noqa: BLE001 - closing must not fail the caller
                pass
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
