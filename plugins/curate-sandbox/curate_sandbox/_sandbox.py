"""`Sandbox`: a pool of workers that run programs in the strongest tier available, and
`run_python`, the one-call form."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterable, Iterator, Mapping

from curate_sandbox import _tiers
from curate_sandbox._interpreter import describe
from curate_sandbox._limits import MIB, SandboxLimits
from curate_sandbox._process import SandboxError, execute, setup_failure
from curate_sandbox._result import SandboxJob, SandboxResult

log = logging.getLogger("curate.sandbox")

INSTALL_HINT = ("install bubblewrap (`sudo apt-get install -y bubblewrap`, or `bash scripts/setup-sandbox.sh` "
                "in the curate repository), or accept weaker isolation with allow_degraded=True (the "
                "`judge.code` param `allow_degraded_sandbox: true`)")


class SandboxUnavailable(SandboxError):
    """No tier the caller accepts can run on this machine. ``problems`` says why, ``hint`` what
    to do; ``str()`` has both."""

    def __init__(self, problems: str, hint: str = INSTALL_HINT):
        self.problems, self.hint = problems, hint
        super().__init__(f"curate-sandbox cannot isolate programs here ({problems}). To fix: {hint}.")


_probes: dict[tuple, str | None] = {}
_tier_objects: dict[tuple, _tiers.Tier] = {}
_probe_lock = threading.Lock()
_warned: set[str] = set()


def _probe(tier: _tiers.Tier) -> str | None:
    """Why ``tier`` cannot run a trivial program here (``None``: it can). Cached per process."""
    with _probe_lock:
        if tier.key not in _probes:
            problem = tier.problem()
            if problem is None:
                try:
                    result = _run_job(tier, SandboxJob("print(6 * 7)"), SandboxLimits(timeout_s=30))
                except (OSError, ValueError, SandboxError) as exc:
                    problem = str(exc)
                else:
                    if result.stdout.strip() != "42":
                        problem = f"a test program failed: {result.failure() or result.stdout[:200]}"
            _probes[tier.key] = problem
        return _probes[tier.key]


def resolve_tier(*, allow_degraded: bool = False, tier: str | None = None, python: str | None = None,
                 site_packages: bool = False) -> _tiers.Tier:
    """The tier runs will use: ``bubblewrap`` when it works here; a degraded one only with
    ``allow_degraded``. ``tier`` asks for one by name (a degraded one needs ``allow_degraded`` too).

    The first call per configuration runs a tiny program to prove the tier works (then cached).
    The returned object has ``name`` and ``interpreter`` (``executable``, ``version``). Raises
    :class:`SandboxUnavailable` naming what is missing and how to fix it."""
    interpreter = describe(python)
    by_name = {t.name: t for t in _tiers.TIERS}
    if tier is not None:
        if tier not in by_name:
            raise ValueError(f"curate-sandbox: unknown tier {tier!r} (known: {', '.join(by_name)})")
        if tier != "bubblewrap" and not allow_degraded:
            raise ValueError(f"curate-sandbox: tier {tier!r} is degraded isolation; pass allow_degraded=True to use it")
        candidates = [by_name[tier]]
    else:
        candidates = list(_tiers.TIERS) if allow_degraded else [_tiers.Bubblewrap]
    problems = []
    for cls in candidates:
        for variant in cls(interpreter, site_packages=site_packages).variants():
            candidate = _tier_objects.setdefault(variant.key, variant)  # one per process: they cache setup
            problem = _probe(candidate)
            if problem is None:
                _warn_if_weaker(candidate, problems)
                return candidate
            problems.append((cls.name, problem))
            if candidate.problem() is not None:
                break  # missing or unusable here at all: a weaker form of it would not start either
    raise SandboxUnavailable("; ".join(f"{name}: {problem}" for name, problem in problems))


def _warn_if_weaker(tier: _tiers.Tier, problems: list[tuple[str, str]]) -> None:
    """Log, once per process and tier, that the isolation is weaker than it could be."""
    label = tier.name if getattr(tier, "disable_userns", True) else f"{tier.name} without --disable-userns"
    if (tier.rank == 1 and not problems) or label in _warned:
        return
    _warned.add(label)
    why = f"the stronger setup failed ({problems[0][1]})" if problems else "as asked"
    if tier.rank == 1:
        log.warning("curate-sandbox: running bubblewrap without --disable-userns, %s", why)
    else:
        log.warning("curate-sandbox: running programs with the degraded '%s' tier, %s; it is not a security "
                    "boundary", tier.name, why)


def _run_job(tier: _tiers.Tier, job: SandboxJob, limits: SandboxLimits) -> SandboxResult:
    files = _tiers.check_file_names(job.files)
    size = len(job.code.encode()) + sum(len(d) for d in files.values())
    if size > limits.disk_mb * MIB:
        raise ValueError(f"curate-sandbox: the program and its files ({size} bytes) exceed disk_mb={limits.disk_mb}")
    stdin = job.stdin.encode() if isinstance(job.stdin, str) else job.stdin
    outcome = execute(tier.launch(job.code, files, limits), limits, stdin)
    failed = setup_failure(outcome, tier.name)
    if failed is not None:
        raise failed
    return SandboxResult(
        stdout=outcome.stdout.decode(errors="replace"), stderr=outcome.stderr.decode(errors="replace"),
        exit_code=outcome.returncode, timed_out=outcome.timed_out, tier=tier.name,
        stdout_truncated=outcome.stdout_truncated, stderr_truncated=outcome.stderr_truncated,
        duration_s=outcome.duration_s, max_rss_mb=outcome.max_rss_mb,
        extra={"timeout_s": limits.timeout_s, "max_output_bytes": limits.max_output_bytes})


class Sandbox:
    """Runs Python programs in isolation, ``workers`` at a time.

    The tier is chosen once, when the sandbox is made (see :func:`resolve_tier`), so a machine
    that cannot isolate fails here, before any work. ``limits`` (or ``timeout_s`` and
    ``memory_mb`` for the common case) apply to every run; a job may bring its own timeout.

    >>> with Sandbox(workers=4, timeout_s=5) as sandbox:
    ...     results = sandbox.run_many(["print(1)", SandboxJob("print(input())", stdin="2")])
    """

    def __init__(self, *, workers: int = 1, timeout_s: float = 10.0, memory_mb: int = 512,
                 limits: SandboxLimits | None = None, allow_degraded: bool = False, tier: str | None = None,
                 python: str | None = None, site_packages: bool = False):
        if workers < 1:
            raise ValueError("curate-sandbox: workers must be >= 1")
        self.limits = limits or SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb)
        self._tier = resolve_tier(allow_degraded=allow_degraded, tier=tier, python=python,
                                  site_packages=site_packages)
        self.workers = workers
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="curate-sandbox")

    @property
    def tier(self) -> str:
        """The isolation every run of this sandbox gets: ``bubblewrap``, ``unshare`` or ``rlimits``."""
        return self._tier.name

    @property
    def python_version(self) -> str:
        return self._tier.interpreter.version

    def submit(self, job: SandboxJob | str) -> Future[SandboxResult]:
        """Queue one job; the future's result is its :class:`SandboxResult` (or the
        :class:`SandboxError` / ``ValueError`` that stopped it)."""
        job = SandboxJob(job) if isinstance(job, str) else job
        return self._pool.submit(_run_job, self._tier, job, self.limits.with_timeout(job.timeout_s))

    def run(self, code: str, *, stdin: str | bytes | None = None, files: Mapping[str, str | bytes] | None = None,
            timeout_s: float | None = None) -> SandboxResult:
        """Run one program and wait for it."""
        return self.submit(SandboxJob(code, stdin, files, timeout_s)).result()

    def map(self, jobs: Iterable[SandboxJob | str]) -> Iterator[SandboxResult]:
        """Run jobs in parallel; results in the order of the jobs, as they become available."""
        futures = [self.submit(job) for job in jobs]
        return (f.result() for f in futures)

    def run_many(self, jobs: Iterable[SandboxJob | str]) -> list[SandboxResult]:
        """Run jobs in parallel and return every result, in order."""
        return list(self.map(jobs))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_python(code: str, *, timeout_s: float, memory_mb: int = 512, stdin: str | bytes | None = None,
               files: Mapping[str, str | bytes] | None = None, allow_degraded: bool = False,
               max_processes: int = 8, max_open_files: int = 64, disk_mb: int = 64,
               max_output_bytes: int = 1 * MIB, tier: str | None = None, python: str | None = None,
               site_packages: bool = False) -> SandboxResult:
    """Run ``code`` (a Python program, as ``python main.py`` would) in the sandbox and return
    what it did. Failures of the program (exceptions, timeouts, floods) are in the result;
    :class:`SandboxUnavailable` is raised when no accepted tier can run here, and
    :class:`SandboxError` when the sandbox itself broke."""
    limits = SandboxLimits(timeout_s=timeout_s, memory_mb=memory_mb, max_processes=max_processes,
                           max_open_files=max_open_files, disk_mb=disk_mb, max_output_bytes=max_output_bytes)
    chosen = resolve_tier(allow_degraded=allow_degraded, tier=tier, python=python, site_packages=site_packages)
    return _run_job(chosen, SandboxJob(code, stdin, files), limits)
