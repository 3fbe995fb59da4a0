"""curate-openai: the ``openai`` engine, for any OpenAI-compatible chat completions server.

Quick start — serve a model with vLLM (or SGLang, llama.cpp's ``llama-server``, TGI) and point a
recipe at it::

    vllm serve Qwen/Qwen2.5-7B-Instruct --port 8000

    # recipe.yaml
    engines:
      default: {use: openai, model: Qwen/Qwen2.5-7B-Instruct, base_url: http://127.0.0.1:8000/v1}
    stages:
      - use: read.jsonl
        with: {path: prompts.jsonl}
      - use: generate.responses
        with: {engines: [default], n: 2, temperature: 0.8}

Hosted APIs work the same way; the key is read from the environment variable named by
``api_key_env`` (default ``OPENAI_API_KEY``) and never appears in recipes, logs or run files::

    export OPENAI_API_KEY=...
    engines:
      default: {use: openai, model: gpt-4o-mini}

Up to ``max_in_flight`` requests run at once; connection errors, timeouts, 408, 409, 429 (honouring
``Retry-After``) and 5xx are retried with exponential backoff and full jitter, at most
``max_attempts`` times in total. A request that still fails (or gets another 4xx, such as a prompt
over the context length) fails only its own row. ``start()`` checks that the server answers and
serves the model before anything runs. See docs/plugins/openai.md.

``batch: true`` sends the same requests through OpenAI's Batch API (half the price, answers within
24 h; :mod:`curate_openai.batch`): same engine identity, so live and batch answers share the
request cache, and submitted batches are recorded in the run directory and resumed by a rerun::

    engines:
      default: {use: openai, model: gpt-4o-mini, batch: true}
"""

from curate import hookimpl
from curate_openai.engine import OpenAIEngine, OpenAIParams
from curate_openai.reward import NimRewardEngine, VllmRewardEngine

__all__ = ["OpenAIEngine", "OpenAIParams", "NimRewardEngine", "VllmRewardEngine"]


@hookimpl
def curate_register_engines(register):
    register(OpenAIEngine)


@hookimpl
def curate_register_score_engines(register):
    register(NimRewardEngine)
    register(VllmRewardEngine)
