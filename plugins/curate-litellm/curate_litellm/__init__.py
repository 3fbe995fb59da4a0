"""curate-litellm: the ``litellm`` engine, any provider LiteLLM speaks, without an engine each.

Quick start — name the model ``provider/model``; the key is read from the environment variable
named by ``api_key_env`` (or, when that is ``null``, LiteLLM reads the provider's usual variable)::

    pip install curate-litellm
    export GEMINI_API_KEY=...

    # recipe.yaml
    engines:
      gemini: {use: litellm, model: gemini/gemini-2.0-flash, api_key_env: GEMINI_API_KEY}
      local:  {use: litellm, model: openai/my-model, api_base: "http://127.0.0.1:8000/v1"}
    stages:
      - use: read.jsonl
        with: {path: prompts.jsonl}
      - use: generate.responses
        with: {engines: [gemini, local], temperature: 0.7}

Requests go through ``litellm.acompletion`` with LiteLLM's own retries off: up to ``max_in_flight``
at once, timeouts, connection errors, 408, 409, 429 (honouring ``Retry-After``) and 5xx retried
with exponential backoff and full jitter, at most ``max_attempts`` times — the ``openai`` engine's
rules; a request that still fails fails only its row. The identity (request cache, stage
fingerprints, the ``generation`` column's model) is the backend, ``model``, ``api_base`` and
``extra_params``, never a key. LiteLLM is imported on first use. See docs/plugins/litellm.md.
"""

from curate import hookimpl
from curate_litellm.engine import LiteLLMEngine, LiteLLMParams

__all__ = ["LiteLLMEngine", "LiteLLMParams"]


@hookimpl
def curate_register_engines(register):
    register(LiteLLMEngine)
