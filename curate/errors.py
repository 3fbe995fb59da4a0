"""Errors that reach users. Each says what went wrong, where, and how to fix it.

The CLI maps :class:`UserInputError` to exit code 2 and :class:`StageFailure` to exit code 1.
"""

from __future__ import annotations


class CurateError(Exception):
    """Base class of every error curate raises on purpose."""


class UserInputError(CurateError):
    """Invalid recipe, params or input data (CLI exit code 2).

    ``where`` locates the problem (``recipe.yaml:12 stages[1].with.column``), ``hint`` says how to
    fix it. Both are folded into ``str(error)``.
    """

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:  # rendered when shown, so a `where` added later is never lost
        return self.render()

    def located(self, where: str) -> "UserInputError":
        """Set ``where`` unless the error already knows it; returns the error (for ``raise``)."""
        self.where = self.where or where
        return self

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


class RecipeError(UserInputError):
    """The recipe file or object is invalid."""


class DataError(UserInputError):
    """Input data is missing, empty or malformed."""


class PluginError(CurateError):
    """A plugin could not be loaded or registered something invalid."""


class StageFailure(CurateError):
    """A stage raised while running (CLI exit code 1). Earlier stages stay checkpointed."""

    def __init__(self, stage: str, cause: BaseException, *, run_dir: str | None = None):
        self.stage = stage
        self.cause = cause
        self.run_dir = run_dir
        msg = f"stage {stage!r} failed: {type(cause).__name__}: {cause}"
        if run_dir:
            msg += (
                f"\n  finished stages are checkpointed in {run_dir};"
                " rerun the same command to resume from this stage"
            )
        super().__init__(msg)


class BatchesPending(CurateError):
    """Batch jobs are still running and the run was asked not to wait for them
    (``curate run --no-wait``, ``curate.run(..., wait=False)``). Not a failure: finished stages
    are checkpointed, the batches are recorded in the run directory, and running the same command
    again picks them up. The CLI prints it and exits 0.

    ``batches``: ids of the batches still running; ``submitted``: those submitted by this run;
    ``stages``: the stages waiting for them (filled in by the runner)."""

    #: ids listed in the message; the rest are counted
    SHOWN = 5

    def __init__(self, batches: list[str], *, submitted: list[str] = (), engine: str | None = None,
                 stages: list[str] = ()):
        self.batches = list(dict.fromkeys(batches))
        self.submitted = list(dict.fromkeys(submitted))
        self.engine = engine
        self.stages = list(stages)
        super().__init__(self.message())

    def __str__(self) -> str:  # rendered when shown, so stages added by the runner are included
        return self.message()

    @staticmethod
    def _ids(ids: list[str]) -> str:
        shown = ", ".join(ids[: BatchesPending.SHOWN])
        return shown + (f" and {len(ids) - BatchesPending.SHOWN} more" if len(ids) > BatchesPending.SHOWN else "")

    def message(self) -> str:
        def count(n: int) -> str:
            return f"{n} batch{'es' if n != 1 else ''}"

        parts = []
        if self.submitted:
            parts.append(f"submitted {count(len(self.submitted))} ({self._ids(self.submitted)})")
        waiting = [b for b in self.batches if b not in self.submitted]
        if waiting:
            parts.append(f"{count(len(waiting))} still running ({self._ids(waiting)})")
        text = "; ".join(parts) or "batches still running"
        if self.stages:
            text += f"; waiting: stage{'s' if len(self.stages) != 1 else ''} {', '.join(self.stages)}"
        return text + "; run the same command again to pick them up"

    @classmethod
    def merge(cls, pending: list["BatchesPending"], stages: list[str] = ()) -> "BatchesPending":
        """One error for every stage left waiting."""
        return cls([b for p in pending for b in p.batches], submitted=[b for p in pending for b in p.submitted],
                   stages=list(stages))
