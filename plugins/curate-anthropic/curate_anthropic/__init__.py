"""curate-anthropic: the ``anthropic`` engine, Anthropic's Claude models through the native
Messages API.

Quick start — the key is read from the environment variable named by ``api_key_env`` (default
``ANTHROPIC_API_KEY``) and never appears in recipes, logs or run files::

    export ANTHROPIC_API_KEY=...

    # recipe.yaml
    engines:
      claude: {use: anthropic, model: claude-haiku-4-5}
    stages:
      - use: read.jsonl
        with: {path: prompts.jsonl}
      - use: generate.responses
        with: {engines: [claude], n: 2, temperature: 0.8, max_tokens: 1024}

``system`` messages are sent as the request's ``system`` field, ``n`` samples as ``n`` requests,
JSON-schema requests (structured output) as a forced tool whose ``input_schema`` is the schema.
Up to ``max_in_flight`` requests run at once; connection errors, timeouts, 408, 409, 429
(honouring ``retry-after``), 5xx and 529 ``overloaded_error`` are retried with exponential backoff
and full jitter, at most ``max_attempts`` times in total — the ``openai`` engine's rules. A request
that still fails fails only its own row. See docs/plugins/anthropic.md.
"""

from curate import hookimpl
from curate_anthropic.engine import AnthropicEngine
from curate_anthropic.live import AnthropicParams

__all__ = ["AnthropicEngine", "AnthropicParams"]


@hookimpl
def curate_register_engines(register):
    register(AnthropicEngine)
