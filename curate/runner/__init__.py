"""Running recipes: planning the stage graph, executing it, checkpointing."""

from curate.runner.executor import Executor, LocalExecutor, StageRun, StageTask
from curate.runner.result import RunResult, StageStats
from curate.runner.run import run

__all__ = ["run", "RunResult", "StageStats", "Executor", "LocalExecutor", "StageTask", "StageRun"]
