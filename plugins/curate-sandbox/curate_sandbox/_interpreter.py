"""The Python that runs inside the sandbox, and the host folders it needs to start."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from dataclasses import dataclass

#: Host folders every tier's Python may need besides its own prefix: the system's programs and
#: shared libraries (bound read-only by bubblewrap; /lib* are symlinks into /usr on merged-/usr
#: systems and are reproduced as such).
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: Single host files worth binding: the dynamic loader's cache (faster, and needed for libraries
#: outside the default search path).
SYSTEM_FILES = ("/etc/ld.so.cache",)

_DESCRIBE = ("import json, sys, sysconfig; p = sysconfig.get_paths(); print(json.dumps({"
             "'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'exec_prefix': sys.exec_prefix, "
             "'site': sorted({p['purelib'], p['platlib']}), 'version': sys.version.split()[0]}))")


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter as the sandbox sees it."""

    executable: str
    #: Host folders holding the interpreter, its standard library and shared library (bound
    #: read-only at the same paths inside the sandbox), outermost first, none inside another.
    roots: tuple[str, ...]
    #: Its site-packages folders: hidden (an empty folder mounted on top) unless asked for.
    site_dirs: tuple[str, ...]
    version: str


def _outermost(paths: list[str]) -> tuple[str, ...]:
    """Drop paths inside another one, and paths inside the system folders (bound anyway)."""
    kept: list[str] = []
    for path in sorted(set(paths), key=len):
        if any(path == k or path.startswith(k.rstrip("/") + "/") for k in (*kept, *SYSTEM_DIRS)):
            continue
        kept.append(path)
    return tuple(kept)


@functools.lru_cache(maxsize=8)
def describe(executable: str | None = None) -> Interpreter:
    """Describe ``executable`` (default: the running interpreter, ``sys.executable``).

    Another interpreter is asked about itself once (a short subprocess) and cached."""
    exe = os.path.abspath(executable or sys.executable)
    if executable is None or os.path.realpath(exe) == os.path.realpath(sys.executable):
        import sysconfig

        paths = sysconfig.get_paths()
        info = {"prefix": sys.prefix, "base_prefix": sys.base_prefix, "exec_prefix": sys.exec_prefix,
                "site": sorted({paths["purelib"], paths["platlib"]}), "version": sys.version.split()[0]}
    else:
        out = subprocess.run([exe, "-I", "-c", _DESCRIBE], capture_output=True, text=True, timeout=60,
                             env={"PATH": "/usr/bin:/bin"}, check=True)
        info = json.loads(out.stdout)
    real_exe = os.path.realpath(exe)
    roots = [os.path.realpath(p) for p in (info["prefix"], info["base_prefix"], info["exec_prefix"])]
    roots += [os.path.dirname(exe), os.path.dirname(real_exe)]
    return Interpreter(executable=exe, roots=_outermost(roots),
                       site_dirs=tuple(os.path.realpath(p) for p in info["site"]), version=info["version"])


def unreachable_ancestor(path: str, uid: int, gid: int) -> str | None:
    """The first folder on the way to ``path`` that ``uid``/``gid`` may not enter (no search
    permission), or ``None`` when the whole way is open. Judged from mode bits alone (no ACLs)."""
    parts = [p for p in os.path.realpath(path).split("/") if p]
    for depth in range(len(parts) + 1):
        current = "/" + "/".join(parts[:depth])
        try:
            st = os.stat(current)
        except OSError:
            return current
        if st.st_uid == uid:
            bit = 0o100
        elif st.st_gid == gid:
            bit = 0o010
        else:
            bit = 0o001
        if not st.st_mode & bit:
            return current
    return None
