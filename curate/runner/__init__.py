"""Running recipes: planning, executing, checkpointing."""

from curate.runner.run import RunResult, StageStats, run

__all__ = ["run", "RunResult", "StageStats"]
