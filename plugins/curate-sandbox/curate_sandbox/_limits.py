"""What one sandboxed run may use: time, memory, processes, files, disk and output."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    """Limits of one run. Every field has a default except ``timeout_s``.

    ``timeout_s`` is wall-clock time from the start of the sandbox to the end of the program
    (interpreter start-up included); the CPU-time limit is derived from it. ``memory_mb`` is the
    address space (``RLIMIT_AS``), which is what Python's ``MemoryError`` reports against.
    ``disk_mb`` bounds the private working directory (a tmpfs) and every single file written.
    ``max_output_bytes`` applies to stdout and stderr separately: past it, the program is
    killed and the stream marked truncated. ``max_processes`` counts processes *and threads*
    of the run; since the memory limit is per process, a run may hold up to
    ``max_processes x memory_mb`` in the worst case.
    """

    timeout_s: float
    memory_mb: int = 512
    max_processes: int = 8
    max_open_files: int = 64
    disk_mb: int = 64
    max_output_bytes: int = 1 * MIB

    def __post_init__(self) -> None:
        checks = [
            (self.timeout_s > 0, "timeout_s must be > 0"),
            (self.memory_mb >= 32, "memory_mb must be >= 32 (the interpreter needs ~20 MiB of address space)"),
            (self.max_processes >= 1, "max_processes must be >= 1"),
            (self.max_open_files >= 16, "max_open_files must be >= 16 (the interpreter opens a few at start)"),
            (self.disk_mb >= 1, "disk_mb must be >= 1"),
            (self.max_output_bytes >= 1, "max_output_bytes must be >= 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"curate-sandbox: {message}")

    @property
    def cpu_s(self) -> int:
        """CPU seconds (``RLIMIT_CPU``): the wall time, rounded up, plus one — the wall clock
        normally ends the run first; this bounds a program that escaped the watch."""
        return math.ceil(self.timeout_s) + 1

    def with_timeout(self, timeout_s: float | None) -> SandboxLimits:
        return self if timeout_s is None else replace(self, timeout_s=timeout_s)

    def rlimits(self) -> dict[str, tuple[int, int]]:
        """``resource.RLIMIT_<name>`` -> (soft, hard), applied in the sandbox before user code."""
        return {
            "CPU": (self.cpu_s, self.cpu_s + 1),          # soft: SIGXCPU, hard: SIGKILL
            "AS": (self.memory_mb * MIB,) * 2,
            "FSIZE": (self.disk_mb * MIB,) * 2,
            "NOFILE": (self.max_open_files,) * 2,
            "NPROC": (self.max_processes,) * 2,
            "CORE": (0, 0),
        }
