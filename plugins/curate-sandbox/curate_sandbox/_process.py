"""Start a sandboxed process, feed its stdin, read its output as it comes, and end it.

The output is read incrementally from both pipes; a stream that goes over the limit is cut
there and the process tree killed at once, so a program printing gigabytes costs the host one
limit's worth of memory. The wall clock is watched in the same loop. Killing is by process
group (the sandbox is started in a new session) and, under bubblewrap, by the death of the
sandbox's PID namespace, which takes every process in it along.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from curate_sandbox._limits import SandboxLimits

_CHUNK = 65536
#: How long to keep reading after the program exited: output still in the pipes.
_DRAIN_S = 0.5


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program in it): it could not start, or its setup broke."""


@dataclass
class Launch:
    """Everything needed to start one sandboxed run, as a tier prepared it."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    preexec: Callable[[], None] | None = None
    #: fds the child inherits and this run owns: closed once the child started (read ends of
    #: data pipes; the started pipe is added by `execute`).
    pass_fds: list[int] = field(default_factory=list)
    #: fds the child inherits that outlive the run (a namespace to enter).
    shared_fds: list[int] = field(default_factory=list)
    #: Data pipes still to be filled: (write fd, bytes).
    feeds: list[tuple[int, bytes]] = field(default_factory=list)
    cleanup: Callable[[], None] | None = None


@dataclass
class Outcome:
    """What :func:`execute` saw (bytes as read; ``returncode`` None when the sandbox killed the
    run; ``started`` when the launcher reported that the program was about to run)."""

    stdout: bytes
    stderr: bytes
    returncode: int | None
    started: bool
    timed_out: bool
    stdout_truncated: bool
    stderr_truncated: bool
    duration_s: float
    max_rss_mb: float


def data_pipe() -> tuple[int, int]:
    """A pipe for bubblewrap's ``--file FD``: (read fd for the child, write fd to fill)."""
    return os.pipe()


def _feed(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError:  # the sandbox went away before reading it all
        pass
    finally:
        os.close(fd)


def _kill(proc: subprocess.Popen) -> None:
    """SIGKILL the sandbox's process group and its first process. Never through ``Popen``
    methods: they may reap the process, and its resource usage is read when it is reaped. The
    pid cannot be reused meanwhile: it stays a zombie until :func:`_reap`."""
    for kill, target in ((os.killpg, proc.pid), (os.kill, proc.pid)):
        try:
            kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(proc: subprocess.Popen, timeout_s: float) -> float:
    """Wait for the process; returns its tree's largest resident size in MiB (0 if unknown)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        except ChildProcessError:  # reaped elsewhere
            proc.wait()
            return 0.0
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return usage.ru_maxrss / 1024.0
        if time.monotonic() > deadline:
            _kill(proc)
            deadline = time.monotonic() + 5.0
        time.sleep(0.002)


def execute(launch: Launch, limits: SandboxLimits, stdin: bytes | None) -> Outcome:
    """Run ``launch`` under ``limits``; ``stdin`` is written as the program reads it. The
    placeholder ``{started_fd}`` in ``launch.argv`` becomes the launcher's started pipe."""
    started_r, started_w = os.pipe()
    argv = [str(started_w) if a == "{started_fd}" else a for a in launch.argv]
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=launch.env, cwd=launch.cwd, pass_fds=[started_w, *launch.pass_fds, *launch.shared_fds],
            preexec_fn=launch.preexec or None, start_new_session=True, close_fds=True)
    except BaseException:
        for fd in (started_r, *(w for w, _ in launch.feeds)):
            os.close(fd)
        if launch.cleanup is not None:
            launch.cleanup()
        raise
    finally:
        for fd in (started_w, *launch.pass_fds):
            os.close(fd)
    for fd, data in launch.feeds:
        if len(data) <= 60_000:  # fits in a pipe's buffer: no thread needed
            _feed(fd, data)
        else:
            threading.Thread(target=_feed, args=(fd, data), daemon=True).start()
    try:
        return _watch(proc, started_r, limits, stdin, t0)
    finally:
        os.close(started_r)
        if launch.cleanup is not None:
            launch.cleanup()


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the process ended, without reaping it (its resource usage is read later)."""
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _watch(proc: subprocess.Popen, started_r: int, limits: SandboxLimits, stdin: bytes | None,
           t0: float) -> Outcome:
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    sizes = {out_fd: 0, err_fd: 0}
    truncated = {out_fd: False, err_fd: False}
    sel = selectors.DefaultSelector()
    for fd in (out_fd, err_fd, started_r):
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    stdin_fd, pending = None, None
    if stdin:
        stdin_fd, pending = proc.stdin.fileno(), memoryview(stdin)
        os.set_blocking(stdin_fd, False)
        sel.register(stdin_fd, selectors.EVENT_WRITE)
    try:
        pidfd = os.pidfd_open(proc.pid)
        sel.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):  # Linux < 5.3: poll for the exit instead
        pidfd = None
    started = exited = False
    stop: str | None = None  # why the sandbox killed the program: "timeout" or "output"
    deadline = t0 + limits.timeout_s

    def kill_now(reason: str | None) -> None:
        nonlocal stop, deadline
        _kill(proc)
        if reason and stop is None and not exited:
            stop = reason
        deadline = min(deadline, time.monotonic() + _DRAIN_S)

    def on_exit() -> None:
        nonlocal exited
        exited = True
        kill_now(None)  # what the program left behind goes with it

    try:
        while not (exited and out_fd not in sel.get_map() and err_fd not in sel.get_map()):
            now = time.monotonic()
            if now >= deadline:
                if exited or stop:
                    break  # done draining (something that escaped may still hold the pipes)
                kill_now("timeout")
                continue
            wait = deadline - now if pidfd is not None else min(deadline - now, 0.01)
            for key, _ in sel.select(wait):
                fd = key.fd
                if fd == pidfd:
                    sel.unregister(pidfd)
                    on_exit()
                elif fd == started_r:
                    started = started or bool(os.read(started_r, 1))
                    sel.unregister(started_r)
                elif fd == stdin_fd:
                    try:
                        pending = pending[os.write(fd, pending[:_CHUNK]):]
                    except BlockingIOError:
                        continue
                    except OSError:  # the program closed its stdin: it wants no more
                        pending = pending[:0]
                    if not pending:
                        sel.unregister(fd)
                        proc.stdin.close()
                else:
                    try:
                        data = os.read(fd, _CHUNK)
                    except BlockingIOError:
                        continue
                    if not data:
                        sel.unregister(fd)
                        continue
                    room = limits.max_output_bytes - sizes[fd]
                    if len(data) > room:  # over the limit: keep what fits and stop the program
                        data, truncated[fd] = data[:room], True
                        sel.unregister(fd)
                        kill_now("output")
                    chunks[fd].append(data)
                    sizes[fd] += len(data)
            if pidfd is None and not exited and _exited(proc):
                on_exit()
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        if proc.stdin is not None and not proc.stdin.closed:
            try:
                proc.stdin.close()
            except OSError:
                pass
        if not exited:
            _kill(proc)
        max_rss = _reap(proc, 5.0)
        proc.stdout.close()
        proc.stderr.close()
    code = proc.returncode
    if code is not None and code < 0:  # a signal: reported as a shell (and bwrap) does
        code = 128 - code
    return Outcome(stdout=b"".join(chunks[out_fd]), stderr=b"".join(chunks[err_fd]),
                   returncode=None if stop else code, started=started, timed_out=stop == "timeout",
                   stdout_truncated=truncated[out_fd], stderr_truncated=truncated[err_fd],
                   duration_s=time.monotonic() - t0, max_rss_mb=max_rss)


def setup_failure(outcome: Outcome, tier: str) -> SandboxError | None:
    """A :class:`SandboxError` when the sandbox never started the program (and did not merely
    run out of time doing so)."""
    if outcome.started or outcome.timed_out:
        return None
    detail = outcome.stderr.decode(errors="replace").strip()[-2000:] or f"exit status {outcome.returncode}"
    return SandboxError(f"the {tier} sandbox failed before the program started: {detail}")
