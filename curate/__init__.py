"""curate: recipe files in, LLM post-training datasets out.

Library use::

    import curate
    result = curate.run("recipes/quickstart.yaml", overrides={"stages.dedup.with.column": "prompt"})
    result.outputs["write.jsonl"]          # polars.DataFrame written by that stage
    result.stats["dedup"].rows_removed

Plugin authors subclass one of the component bases below and register it with a hook
(see ``curate.hookspecs`` and CONTRIBUTING.md).
"""

__version__ = "0.1.0"

from curate.component import (  # noqa: E402
    Component,
    Dedup,
    Filter,
    FilterParams,
    Generator,
    Judge,
    Params,
    Reader,
    RowStage,
    StageContext,
    StageOutput,
    Writer,
)
from curate.engine import ChatRequest, ChatResult, Completion, Engine, EngineError, SamplingParams  # noqa: E402
from curate.errors import CurateError, DataError, PluginError, RecipeError, StageFailure, UserInputError  # noqa: E402
from curate.hookspecs import hookimpl  # noqa: E402
from curate.recipe import EngineSpec, Recipe, Stage, load_recipe  # noqa: E402
from curate.runner import RunResult, StageStats, run  # noqa: E402

__all__ = [
    "__version__",
    # running
    "run", "load_recipe", "Recipe", "Stage", "EngineSpec", "RunResult", "StageStats",
    # writing plugins
    "hookimpl", "Component", "Params", "FilterParams", "Reader", "Writer", "RowStage", "Generator", "Judge",
    "Filter", "Dedup", "StageContext", "StageOutput",
    "Engine", "ChatRequest", "ChatResult", "Completion", "SamplingParams", "EngineError",
    # errors
    "CurateError", "UserInputError", "RecipeError", "DataError", "PluginError", "StageFailure",
]
