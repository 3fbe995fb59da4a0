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
