"""The isolation tiers, strongest first, and how each starts a run.

* ``bubblewrap`` — ``bwrap`` with new user, PID, network, IPC, UTS and cgroup namespaces; a
  read-only view of the system folders and the interpreter only; a size-bounded tmpfs as
  working directory and HOME; an empty environment. The only tier meant as a security boundary.
* ``unshare`` — no bwrap: new network, IPC and UTS namespaces (and a user namespace for an
  unprivileged caller) through ``unshare(2)``. No network; the host's files stay visible.
* ``rlimits`` — a plain subprocess: limits, empty environment, private temporary folder.

Every tier applies the same resource limits (in the launcher, before user code), the same
output caps and wall clock, and runs the program the same way. A root caller runs the program
as ``nobody`` in every tier that can; see :class:`curate_sandbox._linux.ChildSetup`.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import ClassVar, Mapping

from curate_sandbox import _linux
from curate_sandbox._interpreter import SYSTEM_DIRS, SYSTEM_FILES, Interpreter, unreachable_ancestor
from curate_sandbox._limits import SandboxLimits
from curate_sandbox._process import Launch, data_pipe

LAUNCHER = (Path(__file__).with_name("_launcher.py")).read_text()
PROGRAM = "main.py"
#: The program's working directory and HOME inside bubblewrap.
WORKDIR = "/tmp"
#: Flags of the interpreter inside: isolated mode (no PYTHON* variables, no user site, script
#: folder not implied) and, unless site-packages are asked for, no `site` at all.
PYTHON_FLAGS = ("-I", "-S")
#: The oldest bubblewrap with everything used here (--size and --perms for tmpfs: 0.7/0.8,
#: --disable-userns: 0.8; Debian 12 has 0.8.0, Ubuntu 24.04 0.9.0).
MIN_BWRAP = (0, 8)


def program_env(workdir: str) -> dict[str, str]:
    """The whole environment the program sees: nothing of the host's (no secrets, no tokens)."""
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8",
            "PYTHONIOENCODING": "utf-8"}


def check_file_names(files: Mapping[str, str | bytes] | None) -> dict[str, bytes]:
    """Validate extra file names (relative, no ``..``, not the program's) and encode them."""
    out: dict[str, bytes] = {}
    for name, content in (files or {}).items():
        path = PurePosixPath(name)
        if not name or path.is_absolute() or ".." in path.parts or str(path) in ("", "."):
            raise ValueError(f"curate-sandbox: file name {name!r} must be a relative path without '..'")
        if str(path) == PROGRAM:
            raise ValueError(f"curate-sandbox: {PROGRAM!r} is the program itself; name the file otherwise")
        out[str(path)] = content.encode() if isinstance(content, str) else bytes(content)
    return out


class Tier:
    """One way to isolate a run. Subclasses say what they need and build the :class:`Launch`."""

    name: ClassVar[str] = ""
    rank: ClassVar[int] = 0  # 1 is the strongest

    def __init__(self, interpreter: Interpreter, *, site_packages: bool = False):
        self.interpreter = interpreter
        self.site_packages = site_packages
        self.is_root = os.geteuid() == 0
        self.uid, self.gid = _linux.nobody() if self.is_root else (os.getuid(), os.getgid())

    @property
    def key(self) -> tuple:
        return (self.name, self.interpreter.executable, self.site_packages, os.geteuid())

    def variants(self) -> list[Tier]:
        """This tier as it would best run, then weaker forms of it to try if that fails."""
        return [self]

    def problem(self) -> str | None:
        """Why this tier cannot run here, found without starting anything; ``None`` if it may."""
        return None

    def python_argv(self, limits: SandboxLimits, program: str) -> list[str]:
        flags = [f for f in PYTHON_FLAGS if not (self.site_packages and f == "-S")]
        spec = ",".join(f"{k}={s}:{h}" for k, (s, h) in limits.rlimits().items())
        return [self.interpreter.executable, *flags, "-c", LAUNCHER, "{started_fd}", spec, program]

    def launch(self, code: str, files: dict[str, bytes], limits: SandboxLimits) -> Launch:
        raise NotImplementedError

    @functools.cached_property
    def _revealed(self) -> tuple[tuple[str, tuple[str, ...]], ...] | str:
        try:
            return self._find_hidden_roots()
        except _Unusable as exc:
            return str(exc)

    def _reveal(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        found = self._revealed
        if isinstance(found, str):
            raise _Unusable(found)
        return found

    def _find_hidden_roots(self) -> tuple[tuple[str, tuple[str, ...]], ...]:
        """For a root caller dropping to ``nobody``: the folders that hide interpreter roots
        from it, each with the roots to bring back (see ``ChildSetup.reveal``)."""
        if not self.is_root:
            return ()
        blocked: dict[str, list[str]] = {}
        for root in self.interpreter.roots:
            ancestor = unreachable_ancestor(root, self.uid, self.gid)
            if ancestor is not None:
                if ancestor == os.path.realpath(root) or ancestor == "/":
                    raise _Unusable(f"the interpreter folder {root} is not readable by uid {self.uid}")
                blocked.setdefault(ancestor, []).append(root)
        return tuple((a, tuple(rs)) for a, rs in blocked.items())


class _Unusable(Exception):
    """Raised while preparing a tier that cannot work here (the message says why)."""


class Bubblewrap(Tier):
    """bwrap: namespaces, a read-only minimal filesystem, a bounded tmpfs, no network."""

    name = "bubblewrap"
    rank = 1
    #: ``--disable-userns`` (no nested user namespace inside). Dropped only where bwrap cannot
    #: make the nested namespace it needs for that (some AppArmor setups, which then forbid
    #: nested namespaces to the sandbox anyway).
    disable_userns = True

    @property
    def key(self) -> tuple:
        return (*super().key, self.disable_userns)

    def variants(self) -> list[Tier]:
        plain = Bubblewrap(self.interpreter, site_packages=self.site_packages)
        plain.disable_userns = False
        return [self, plain]

    def problem(self) -> str | None:
        path = shutil.which("bwrap")
        if path is None:
            return "bwrap (Debian/Ubuntu package `bubblewrap`) is not installed"
        version = _bwrap_version(path)
        if version < MIN_BWRAP:
            found = ".".join(map(str, version)) if version else "unknown"
            return (f"{path} is version {found}; bubblewrap {'.'.join(map(str, MIN_BWRAP))} or later is needed "
                    "(a size-bounded tmpfs with --size/--perms, --disable-userns)")
        try:
            self._reveal()
        except _Unusable as exc:
            return str(exc)
        return None

    def launch(self, code: str, files: dict[str, bytes], limits: SandboxLimits) -> Launch:
        bwrap = shutil.which("bwrap") or "bwrap"
        args = [bwrap, "--unshare-all", "--unshare-user", *(["--disable-userns"] if self.disable_userns else []),
                "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "sandbox", "--clearenv"]
        for d in SYSTEM_DIRS:
            if os.path.islink(d):
                args += ["--symlink", os.readlink(d), d]
            elif os.path.isdir(d):
                args += ["--ro-bind", d, d]
        for f in SYSTEM_FILES:
            args += ["--ro-bind-try", f, f]
        for root in self.interpreter.roots:
            args += ["--ro-bind", root, root]
        if not self.site_packages:  # an empty, read-only folder over each site-packages
            for site in self.interpreter.site_dirs:
                if os.path.isdir(site):
                    args += ["--perms", "0555", "--tmpfs", site, "--remount-ro", site]
        size = str(limits.disk_mb * 1024 * 1024)
        args += ["--proc", "/proc", "--dev", "/dev", "--size", size, "--perms", "1777", "--tmpfs", WORKDIR]
        pass_fds: list[int] = []
        feeds: list[tuple[int, bytes]] = []
        made: set[str] = set()
        for name, data in [(PROGRAM, code.encode()), *files.items()]:
            for parent in reversed(PurePosixPath(name).parents[:-1]):
                if str(parent) not in made:
                    made.add(str(parent))
                    args += ["--dir", f"{WORKDIR}/{parent}"]
            r, w = data_pipe()
            pass_fds.append(r)
            feeds.append((w, data))
            args += ["--file", str(r), f"{WORKDIR}/{name}"]
        # bwrap's root and /dev are tmpfs of their own, without a size: make them read-only so
        # that the bounded working directory is the only place a program can write.
        args += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", WORKDIR]
        for key, value in program_env(WORKDIR).items():
            args += ["--setenv", key, value]
        args += ["--", *self.python_argv(limits, f"{WORKDIR}/{PROGRAM}")]
        prefix, shared, setup = self._as_sandbox_user()
        # bwrap's own environment is the sandbox's PID 1's, readable inside: give it nothing.
        return Launch(argv=[*prefix, *args], env={"PATH": "/usr/bin:/bin"}, cwd="/", preexec=setup,
                      pass_fds=pass_fds, shared_fds=shared, feeds=feeds)

    def _as_sandbox_user(self) -> tuple[list[str], list[int], _linux.ChildSetup | None]:
        """How a root caller starts bwrap as ``nobody`` (an unprivileged caller starts it as
        itself): through ``nsenter``/``setpriv`` (exec'd, so the host process is not forked
        with a ``preexec_fn`` for every run), else a ``preexec_fn``."""
        if not self.is_root:
            return [], [], None
        reveal = self._reveal()
        ids = [str(self.uid), str(self.gid)]
        nsenter, setpriv = shutil.which("nsenter"), shutil.which("setpriv")
        if reveal and nsenter:
            fd = _linux.revealed_mount_ns(reveal)
            return [nsenter, f"--mount=/proc/self/fd/{fd}", "--setuid", ids[0], "--setgid", ids[1], "--"], [fd], None
        if not reveal and setpriv:
            return [setpriv, "--reuid", ids[0], "--regid", ids[1], "--clear-groups", "--"], [], None
        return [], [], _linux.ChildSetup(reveal=reveal, uid=self.uid, gid=self.gid)


class _HostFolderTier(Tier):
    """The degraded tiers: the program runs in a private temporary folder of the host."""

    def _setup(self) -> _linux.ChildSetup:
        raise NotImplementedError

    def launch(self, code: str, files: dict[str, bytes], limits: SandboxLimits) -> Launch:
        setup = self._setup()
        workdir = tempfile.mkdtemp(prefix="curate-sandbox-")
        try:
            for name, data in [(PROGRAM, code.encode()), *files.items()]:
                path = Path(workdir, name)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data)
            if setup.uid is not None:
                for dirpath, dirnames, filenames in os.walk(workdir):
                    for entry in (dirpath, *(os.path.join(dirpath, n) for n in (*dirnames, *filenames))):
                        os.chown(entry, setup.uid, setup.gid)
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return Launch(argv=self.python_argv(limits, f"{workdir}/{PROGRAM}"), env=program_env(workdir), cwd=workdir,
                      preexec=setup, cleanup=functools.partial(shutil.rmtree, workdir, ignore_errors=True))


class Unshare(_HostFolderTier):
    """unshare(2) without bwrap: no network, own IPC and hostname; host files visible."""

    name = "unshare"
    rank = 2

    def problem(self) -> str | None:
        try:
            self._setup()
        except _Unusable as exc:
            return str(exc)
        return None

    def _setup(self) -> _linux.ChildSetup:
        flags = _linux.CLONE_NEWNET | _linux.CLONE_NEWIPC | _linux.CLONE_NEWUTS
        if self.is_root:
            return _linux.ChildSetup(unshare_flags=flags, reveal=self._reveal(), uid=self.uid, gid=self.gid)
        return _linux.ChildSetup(unshare_flags=flags | _linux.CLONE_NEWUSER, map_own_ids=True)


class Rlimits(_HostFolderTier):
    """A plain subprocess with limits. A root caller drops to ``nobody`` when ``nobody`` can
    run the interpreter where it is; otherwise the program runs as root (no namespace is used
    in this tier, so the interpreter cannot be revealed)."""

    name = "rlimits"
    rank = 3

    def _setup(self) -> _linux.ChildSetup:
        if self.is_root and all(unreachable_ancestor(r, self.uid, self.gid) is None for r in self.interpreter.roots):
            return _linux.ChildSetup(uid=self.uid, gid=self.gid)
        return _linux.ChildSetup()


TIERS: tuple[type[Tier], ...] = (Bubblewrap, Unshare, Rlimits)
TIER_NAMES = tuple(t.name for t in TIERS)


@functools.lru_cache(maxsize=4)
def _bwrap_version(path: str) -> tuple[int, ...]:
    """``bwrap --version`` as numbers (``(0, 8, 0)``); ``()`` when it cannot be read."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30,
                             env={"PATH": "/usr/bin:/bin"}).stdout
        return tuple(int(x) for x in re.findall(r"\d+(?:\.\d+)+", out)[0].split("."))
    except (OSError, subprocess.SubprocessError, IndexError, ValueError):
        return ()
