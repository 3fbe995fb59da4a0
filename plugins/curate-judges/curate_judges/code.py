"""`judge.code`: run the Python program in each response against the row's tests, in a sandbox.

Ground truth for code, as Llama 3 and Nemotron-4 use execution feedback to keep only solutions
that work. The program is taken from the response by :mod:`curate_judges.code_extract`'s rule;
the tests (assert statements, or stdin/stdout pairs) are read by :mod:`curate_judges.code_tests`.
Every run goes through :mod:`curate_sandbox` (bubblewrap; degraded isolation only with
``allow_degraded_sandbox: true``), so a program that loops, floods its output, eats memory or
attacks the machine is a failed test with its reason, never a crash of the stage.

Columns written: ``code_passed`` (every test passed), ``code_results`` (per test: ``passed``,
``error``, ``stdout`` excerpt, ``timed_out``) and ``code_tier`` (the isolation that ran). Rows
whose tests are missing or malformed, or whose response is null, are removed with the reason.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from pydantic import Field

import curate
from curate_judges import _groups
from curate_judges.code_extract import extract_code
from curate_judges.code_tests import AssertTests, BadTests, IOTests, compare_output, parse_tests

HARNESS = (Path(__file__).with_name("code_harness.py")).read_text()
HARNESS_SHA = hashlib.sha256(HARNESS.encode()).hexdigest()[:16]
RESULT = pl.Struct({"passed": pl.Boolean, "error": pl.Utf8, "stdout": pl.Utf8, "timed_out": pl.Boolean})
NO_CODE = "no Python code in the response"

if TYPE_CHECKING:  # imported where used, so that the other judges load without curate-sandbox
    import curate_sandbox


class CodeJudgeParams(curate.Params):
    response_column: str = Field("response", description="Column with the response holding the program.")
    tests_column: str = Field("tests", description="Column with the row's tests: assert statements (a string or "
                                                   "a list of strings) or stdin/stdout pairs (`[{input, output}]`).")
    timeout_s: float = Field(5.0, gt=0, le=600, description="Seconds per test. stdin/stdout tests: wall clock of "
                                                            "each run, interpreter start-up included. Assert tests: "
                                                            "an alarm per test and one for the solution's top-level "
                                                            "code; the run as a whole gets (tests + 1) x timeout_s "
                                                            "+ 1 s.")
    memory_mb: int = Field(512, ge=32, description="Address-space limit of each run, in MiB (`MemoryError` past it).")
    workers: int = Field(4, ge=1, le=256, description="Sandboxed runs at the same time.")
    allow_degraded_sandbox: bool = Field(
        False, description="Without bubblewrap, run programs with weaker isolation (tiers `unshare`, then "
                           "`rlimits`: not a security boundary) instead of failing at validation.")
    site_packages: bool = Field(False, description="Let programs import the interpreter's site-packages (numpy, "
                                                   "...); by default they see the standard library only.")
    max_output_kb: int = Field(1024, ge=1, description="Largest stdout (and stderr) of a run, in KiB; past it the "
                                                       "run is stopped and the test fails.")
    excerpt_chars: int = Field(500, ge=0, description="Characters of each test's stdout kept in `code_results`.")


class CodeJudge(curate.Judge):
    """Run each response's Python program against its row's tests in a sandbox.

    ``code_passed`` says whether every test passed, ``code_results`` how each went, ``code_tier``
    which isolation ran them."""

    name = "judge.code"
    Params = CodeJudgeParams
    writes = ("code_passed", "code_results", "code_tier")
    reports_progress = True

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.response_column, self.params.tests_column]

    def _tier(self) -> Any:
        try:
            import curate_sandbox
        except ImportError:
            raise curate.RecipeError("judge.code needs the curate-sandbox package, which is not installed",
                                     where=self.where, hint="pip install -e plugins/curate-sandbox "
                                                            "(scripts/install.sh installs it)") from None
        try:
            return curate_sandbox.resolve_tier(allow_degraded=self.params.allow_degraded_sandbox,
                                               site_packages=self.params.site_packages)
        except curate_sandbox.SandboxUnavailable as exc:
            raise curate.RecipeError(f"the code sandbox cannot run here: {exc.problems}", where=self.where,
                                     hint=exc.hint) from None

    def cache_key(self) -> dict[str, Any]:
        tier = self._tier()  # fails validation, before anything runs, on a machine that cannot isolate
        return {"sandbox_tier": tier.name, "python": tier.interpreter.version, "harness_sha": HARNESS_SHA}

    def setup(self, ctx: curate.StageContext) -> None:
        super().setup(ctx)
        self._sandbox: curate_sandbox.Sandbox | None = None

    def teardown(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None

    def sandbox(self) -> curate_sandbox.Sandbox:
        import curate_sandbox

        if self._sandbox is None:
            p = self.params
            self._tier()  # the same error as at validation if the machine changed since
            limits = curate_sandbox.SandboxLimits(timeout_s=p.timeout_s, memory_mb=p.memory_mb,
                                                  max_output_bytes=p.max_output_kb * 1024)
            self._sandbox = curate_sandbox.Sandbox(workers=p.workers, limits=limits, site_packages=p.site_packages,
                                                   allow_degraded=p.allow_degraded_sandbox)
        return self._sandbox

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        responses = curate.text_of(df, p.response_column, where=self.where).to_list()
        tests = df[p.tests_column].to_list()
        reasons: dict[int, str] = {}
        plans: dict[int, tuple[str | None, AssertTests | IOTests]] = {}
        for row, (response, row_tests) in enumerate(zip(responses, tests)):
            try:
                parsed = parse_tests(row_tests)
            except BadTests as exc:
                reasons[row] = f"bad tests: {exc}"
                continue
            if response is None:
                reasons[row] = f"no response ({p.response_column} is null)"
                continue
            plans[row] = (extract_code(response), parsed)

        sandbox = self.sandbox() if plans else None
        results: dict[int, list[dict[str, Any]]] = {}
        # A window of rows in flight: the pool stays busy while finished runs (up to
        # max_output_kb of output each) are reduced to their results in order.
        order = list(plans)
        window = 4 * self.params.workers
        pending = {row: self._submit(sandbox, *plans[row]) for row in order[:window]}
        for k, row in enumerate(order):
            if k + window < len(order):
                ahead = order[k + window]
                pending[ahead] = self._submit(sandbox, *plans[ahead])
            results[row] = self._collect(*plans[row], pending.pop(row))
            self.ctx.advance(1)
        self.ctx.advance(len(reasons))

        indexed = df.with_row_index("__row")
        kept_rows = [row for row in range(df.height) if row not in reasons]
        passed = [bool(results[row]) and all(r["passed"] for r in results[row]) for row in kept_rows]
        self._count(kept_rows, results, passed)
        kept = indexed.filter(pl.col("__row").is_in(kept_rows)).drop("__row").with_columns(
            pl.Series("code_passed", passed, dtype=pl.Boolean),
            pl.Series("code_results", [results[row] for row in kept_rows], dtype=pl.List(RESULT)),
            pl.lit(sandbox.tier if sandbox else None, dtype=pl.Utf8).alias("code_tier"),
        )
        return curate.StageOutput(kept, _groups.removed(indexed, reasons))

    # --- running -----------------------------------------------------------------------------
    def _submit(self, sandbox: curate_sandbox.Sandbox, code: str | None,
                parsed: AssertTests | IOTests) -> tuple[list[Future], str]:
        """Queue a row's runs: one per stdin/stdout case, or one harness run for all its asserts
        (its reports carry a fresh nonce, returned too)."""
        from curate_sandbox import SandboxJob

        if code is None:
            return [], ""
        if isinstance(parsed, IOTests):
            return [sandbox.submit(SandboxJob(code, stdin=stdin)) for stdin, _ in parsed.cases], ""
        nonce = secrets.token_hex(16)
        config = {"nonce": nonce, "tests": list(parsed.tests), "timeout_s": self.params.timeout_s,
                  "excerpt_chars": self.params.excerpt_chars}
        # the solution's top-level code and every test get timeout_s each, plus a second to start
        whole = self.params.timeout_s * (len(parsed.tests) + 1) + 1
        job = SandboxJob(HARNESS, files={"solution.py": code, "tests.json": json.dumps(config)},
                                        timeout_s=whole)
        return [sandbox.submit(job)], nonce

    def _collect(self, code: str | None, parsed: AssertTests | IOTests,
                 submitted: tuple[list[Future], str]) -> list[dict[str, Any]]:
        futures, nonce = submitted
        n_tests = len(parsed.cases) if isinstance(parsed, IOTests) else len(parsed.tests)
        if code is None:
            return [_result(False, NO_CODE)] * n_tests
        if isinstance(parsed, IOTests):
            return [self._io_result(self._outcome(f), expected) for f, (_, expected) in zip(futures, parsed.cases)]
        return self._assert_results(self._outcome(futures[0]), nonce, n_tests)

    def _outcome(self, future: Future) -> curate_sandbox.SandboxResult | str:
        """The run's result, or the reason it could not run (a program too large for the sandbox)."""
        import curate_sandbox

        try:
            return future.result()
        except ValueError as exc:
            return str(exc)
        except curate_sandbox.SandboxError as exc:  # the sandbox broke, not the program: stop the stage
            raise RuntimeError(f"{self.where}: {exc}") from exc

    def _io_result(self, run: curate_sandbox.SandboxResult | str, expected: str) -> dict[str, Any]:
        if isinstance(run, str):
            return _result(False, run)
        excerpt = run.stdout[:self.params.excerpt_chars]
        if not run.ok:
            return _result(False, run.failure(), excerpt, run.timed_out)
        return _result((wrong := compare_output(run.stdout, expected)) is None, wrong, excerpt)

    def _assert_results(self, run: curate_sandbox.SandboxResult | str, nonce: str, n_tests: int) -> list[dict[str, Any]]:
        if isinstance(run, str):
            return [_result(False, run)] * n_tests
        reports = _reports(run.stdout, nonce)
        setup = next((r for r in reports if r.get("step") == "solution"), None)
        by_index = {r.get("index"): r for r in reports if r.get("step") == "test"}
        if setup is not None and setup.get("error"):
            failed = _result(False, f"the solution failed before the tests: {setup['error']}",
                             str(setup.get("stdout") or ""), bool(setup.get("timed_out")))
            return [failed] * n_tests
        out = []
        for index in range(n_tests):
            r = by_index.get(index)
            if r is None:  # never reported: the run ended (or was ended) before this test finished
                why = run.failure() or "the program exited before this test finished"
                out.append(_result(False, f"did not finish: {why}", "", run.timed_out))
            else:
                out.append(_result(bool(r.get("passed")), r.get("error"), str(r.get("stdout") or ""),
                                   bool(r.get("timed_out"))))
        return out

    def _count(self, rows: list[int], results: dict[int, list[dict[str, Any]]], passed: list[bool]) -> None:
        self.ctx.count("passed", sum(passed))
        self.ctx.count("failed", len(passed) - sum(passed))
        self.ctx.count("tests_run", sum(len(results[row]) for row in rows))
        self.ctx.count("tests_timed_out", sum(r["timed_out"] for row in rows for r in results[row]))
        self.ctx.count("no_code", sum(1 for row in rows if results[row] and results[row][0]["error"] == NO_CODE))


def _result(passed: bool, error: str | None, stdout: str = "", timed_out: bool = False) -> dict[str, Any]:
    return {"passed": passed, "error": error, "stdout": stdout, "timed_out": timed_out}


def _reports(stdout: str, nonce: str) -> list[dict[str, Any]]:
    """The harness's reports: lines starting with this run's nonce."""
    found = []
    prefix = nonce + " "
    for line in stdout.split("\n"):
        if line.startswith(prefix):
            try:
                report = json.loads(line[len(prefix):])
            except ValueError:
                continue
            if isinstance(report, dict):
                found.append(report)
    return found
