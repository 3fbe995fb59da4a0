"""A job to run and what came of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping


@dataclass(frozen=True)
class SandboxJob:
    """One program to run: its source, optional stdin, extra files for its working directory
    (name -> text or bytes; plain names or relative paths, no ``..``) and an optional timeout
    that replaces the sandbox's."""

    code: str
    stdin: str | bytes | None = None
    files: Mapping[str, str | bytes] | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class SandboxResult:
    """What a sandboxed run did.

    ``exit_code`` is the program's exit status (``128 + N`` when signal ``N`` ended it, as a
    shell reports it), or ``None`` when the sandbox killed it: see ``timed_out`` and the
    ``*_truncated`` flags. ``stdout``/``stderr`` are decoded as UTF-8 (invalid bytes replaced)
    and hold at most the output limit. ``tier`` says which isolation ran (``bubblewrap``,
    ``unshare`` or ``rlimits``; see docs/plugins/sandbox.md). ``max_rss_mb`` is the largest
    resident size of any process of the run, from the kernel's accounting (0 when unknown). It is
    an upper bound: the first process is forked from the caller, and the kernel counts the
    caller's resident pages until it execs, so a large caller (a model loaded) inflates it.
    """

    stdout: str
    stderr: str
    exit_code: int | None
    timed_out: bool
    tier: str
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    duration_s: float = 0.0
    max_rss_mb: float = 0.0
    extra: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def truncated(self) -> bool:
        """Either stream went over the output limit (and the program was killed for it)."""
        return self.stdout_truncated or self.stderr_truncated

    @property
    def ok(self) -> bool:
        """The program ran to the end by itself and exited with status 0."""
        return self.exit_code == 0 and not self.timed_out and not self.truncated

    def failure(self) -> str | None:
        """Why the run did not succeed, in a few words (``None`` when :attr:`ok`)."""
        if self.timed_out:
            return f"timed out after {self.extra.get('timeout_s', self.duration_s):g} s"
        if self.truncated:
            stream = "stdout" if self.stdout_truncated else "stderr"
            return f"{stream} went over the output limit ({self.extra.get('max_output_bytes', '?')} bytes)"
        if self.exit_code != 0:
            last = self.stderr.strip().splitlines()[-1:] or [""]
            detail = f": {last[0][:300]}" if last[0] else ""
            return f"exit code {self.exit_code}{detail}"
        return None
