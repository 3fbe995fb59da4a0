"""What the forked child does before it execs the sandbox: new namespaces, a view in which the
interpreter is reachable, and dropped privileges. Linux only; system calls through ctypes.

Runs between fork and exec (``preexec_fn``), so it only calls libc and ``os`` and reports a
failure on stderr with exit status 126 instead of raising.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import pwd
import subprocess
import sys
import threading
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_NOSUID = 0x2
MS_NODEV = 0x4

#: Exit status of a child whose setup failed before exec (the message is on its stderr).
SETUP_FAILED = 126

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def nobody() -> tuple[int, int]:
    """The uid and gid a root caller drops to: user ``nobody``, else 65534."""
    try:
        entry = pwd.getpwnam("nobody")
        return entry.pw_uid, entry.pw_gid
    except KeyError:
        return 65534, 65534


@dataclass(frozen=True)
class ChildSetup:
    """The steps, in order; an empty setup needs no ``preexec_fn`` at all."""

    #: ``CLONE_NEW*`` flags to unshare (the unshare tier's isolation).
    unshare_flags: int = 0
    #: After ``CLONE_NEWUSER``: map our own uid and gid to themselves (an unprivileged caller).
    map_own_ids: bool = False
    #: (blocked folder, interpreter roots under it): in a private mount namespace, cover the
    #: folder the dropped user may not enter (``/root`` holding a pyenv Python) with an empty
    #: tmpfs and bind back only the interpreter roots, at their own paths. Root callers only.
    reveal: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Drop to this uid/gid (and no supplementary groups). Root callers only.
    uid: int | None = None
    gid: int | None = None

    def __bool__(self) -> bool:
        return bool(self.unshare_flags or self.reveal or self.uid is not None)

    def __call__(self) -> None:
        try:
            self._run()
        except BaseException as exc:  # noqa: BLE001 -- between fork and exec: report and leave
            os.write(2, f"curate-sandbox: setting up the sandbox failed: {exc}\n".encode(errors="replace"))
            os._exit(SETUP_FAILED)

    def _run(self) -> None:
        uid, gid = os.getuid(), os.getgid()
        flags = self.unshare_flags | (CLONE_NEWNS if self.reveal else 0)
        if flags:
            unshare(flags)
        if self.reveal:
            mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing below propagates to the host
            # Handles on the interpreter roots, taken in the new namespace (a bind's source must
            # be in the caller's namespace) before their parent folder is covered up.
            roots = [(os.open(r, os.O_PATH | os.O_DIRECTORY), r) for _, rs in self.reveal for r in rs]
            for blocked, _ in self.reveal:
                mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m,nr_inodes=256")
            for fd, root in roots:
                os.makedirs(root, mode=0o755, exist_ok=True)
                mount(f"/proc/self/fd/{fd}", root, None, MS_BIND | MS_REC)
                os.close(fd)
        if self.map_own_ids:
            for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"), ("gid_map", f"{gid} {gid} 1")):
                with open(f"/proc/self/{name}", "w") as f:
                    f.write(text)
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.gid if self.gid is not None else self.uid)
            os.setuid(self.uid)


_revealed_ns: dict[tuple, int] = {}
_revealed_lock = threading.Lock()


def revealed_mount_ns(reveal: tuple[tuple[str, tuple[str, ...]], ...]) -> int:
    """An fd of a mount namespace in which ``reveal`` was done (see ``ChildSetup.reveal``),
    made once per process: a root caller then enters it with ``nsenter`` for every run instead
    of forking the (large) Python process with a ``preexec_fn`` each time."""
    with _revealed_lock:
        if reveal not in _revealed_ns:
            holder = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import sys; sys.stdin.read()"],
                                      stdin=subprocess.PIPE, stderr=subprocess.PIPE, env={},
                                      preexec_fn=ChildSetup(reveal=reveal), cwd="/")
            fd = None
            try:  # Popen returns once the child exec'd: its namespace is ready (unless it failed)
                fd = os.open(f"/proc/{holder.pid}/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                pass
            holder.stdin.close()
            err = holder.stderr.read().decode(errors="replace").strip()
            holder.stderr.close()
            holder.wait()
            if holder.returncode != 0 or fd is None:
                if fd is not None:
                    os.close(fd)
                raise OSError(err or f"could not prepare the interpreter's mount namespace (exit {holder.returncode})")
            _revealed_ns[reveal] = fd
        return _revealed_ns[reveal]
