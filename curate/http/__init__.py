"""What every HTTP engine shares, so that an `openai`, an `anthropic` and a `litellm` stage retry,
pool connections and run their event loops alike: retry rules (:mod:`.retry`: backoff with full
jitter, ``Retry-After``, which statuses to retry), a bounded pool of requests over one aiohttp
session (:mod:`.pool`) and event loops callable from synchronous code (:mod:`.loop`). Public
through ``curate`` (``curate.run_pool``, ``curate.post_retrying``, ``curate.Backoff``, ...)."""

from curate.http.loop import LoopThread, run_sync
from curate.http.params import RetryParams, check_env_name, env_proxy, is_local_host
from curate.http.pool import SharedSession, describe as describe_error, post_retrying, run_pool
from curate.http.retry import MAX_RETRY_AFTER, RETRY_STATUSES, Backoff, is_retryable, retry_after_seconds

__all__ = ["RetryParams", "check_env_name", "env_proxy", "is_local_host", "LoopThread", "run_sync", "SharedSession", "describe_error", "post_retrying", "run_pool",
           "MAX_RETRY_AFTER", "RETRY_STATUSES", "Backoff", "is_retryable", "retry_after_seconds"]
