"""curate: recipe files in, LLM post-training datasets out.

Library use::

    import curate
    result = curate.run("recipes/quickstart.yaml", overrides={"stages.dedup.with.column": "prompt"})
    result.outputs["write.jsonl"]          # polars.DataFrame: the rows that writer wrote
    result.stats["dedup"].rows_removed

Plugin authors subclass one of the component or engine bases below and register it with a hook
(see ``curate.hookspecs`` and CONTRIBUTING.md). Everything a plugin needs is importable from
``curate`` itself (and test helpers from ``curate.testing``); other modules are internal and may
change without notice.
"""

from curate._version import __version__
from curate.component import (Component, Dedup, Filter, FilterParams, Generator, Judge, Params, Partitioning, Reader,
                              Reporter, RowStage, Source, StageContext, StageInfo, StageOutput, Writer)
from curate.engine import (ChatEngine, ChatRequest, ChatResult, Completion, Engine, EngineError, EngineParams,
                           EngineRef, Message, OnResult, OnScore, Pricing, SamplingParams, ScoreEngine, ScoreEngineRef,
                           ScoreRequest, ScoreResult, read_chat_template)
from curate.engines.structured import StructuredResult, generate_structured
from curate.engine import EngineRun
from curate.engines.batch import (BatchChatEngine, BatchItemError, BatchJob, BatchParams, BatchStatus,
                                   TransientEngineError)
from curate.errors import BatchesPending
from curate.errors import CurateError, DataError, PluginError, RecipeError, StageFailure, UserInputError
from curate.formats import (MESSAGE, MESSAGES, assistant_message, conversation, is_messages, prompt_messages,
                            render_messages, to_format, user_message)
from curate.hookspecs import hookimpl
from curate.recipe import EngineSpec, Join, Recipe, Resources, Stage, load_recipe
from curate.rundir import RunDir, StageRecord, parquet_source
from curate.runner import Executor, LocalExecutor, RunResult, StageStats, run
from curate.runner.executor import (ExecutorParams, StageRun, StageTask, group_batches, merge_inputs, process_rows,
                                    with_ids)
from curate.engines.cache import CachedEngine, RequestCache
from curate.plugins import registry as plugin_registry
from curate.http import (MAX_RETRY_AFTER, Backoff, LoopThread, RetryParams, check_env_name, env_proxy, is_local_host, SharedSession, describe_error, is_retryable,
                         post_retrying, retry_after_seconds, run_pool, run_sync)
from curate.files import atomic_write
from curate import storage
from curate.templates import Template, TemplateParam, load_template, package_template
from curate.text import text_columns, text_of

__all__ = [
    "__version__",
    # running
    "run", "load_recipe", "Recipe", "Stage", "EngineSpec", "Join", "RunResult", "StageStats", "RunDir",
    "StageRecord", "Executor", "LocalExecutor", "ExecutorParams", "StageTask", "StageRun", "Resources",
    "merge_inputs", "group_batches", "with_ids", "process_rows", "parquet_source", "CachedEngine", "RequestCache",
    "plugin_registry", "run_pool", "post_retrying", "SharedSession", "describe_error", "run_sync", "LoopThread",
    "Backoff", "is_retryable", "retry_after_seconds", "MAX_RETRY_AFTER", "RetryParams", "check_env_name", "env_proxy",
    "is_local_host",
    # writing stage plugins
    "hookimpl", "Component", "Params", "FilterParams", "Source", "Reader", "Writer", "RowStage", "Generator",
    "Judge", "Filter", "Dedup", "StageContext", "StageInfo", "StageOutput", "Reporter", "Partitioning",
    # writing engine plugins, and using engines from stages
    "Engine", "ChatEngine", "ScoreEngine", "EngineParams", "EngineRef", "ScoreEngineRef", "ChatRequest",
    "ChatResult", "Completion", "ScoreRequest", "ScoreResult", "SamplingParams", "Pricing", "Message", "OnResult",
    "OnScore",
    "EngineError", "read_chat_template", "generate_structured", "StructuredResult",
    # batch engines (provider batch APIs: persisted, resumable jobs)
    "EngineRun", "BatchChatEngine", "BatchParams", "BatchJob", "BatchStatus", "BatchItemError", "TransientEngineError",
    "BatchesPending",
    # prompt templates (Jinja2, sandboxed)
    "Template", "TemplateParam", "load_template", "package_template",
    # data: the column schema and text
    "MESSAGE", "MESSAGES", "is_messages", "prompt_messages", "user_message", "assistant_message", "conversation",
    "render_messages", "to_format", "text_of", "text_columns", "atomic_write",
    # where readers read and writers write: local paths and fsspec URIs (`curate.storage.resolve`, ...)
    "storage",
    # errors
    "CurateError", "UserInputError", "RecipeError", "DataError", "PluginError", "StageFailure",
]
