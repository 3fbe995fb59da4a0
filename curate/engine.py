"""The engine interface: how generators and judges talk to models.

An engine takes a batch of :class:`ChatRequest` and returns one :class:`ChatResult` per request,
matched by ``id``. One bad request fails only itself (``result.error``); it never fails the batch
and is never returned as empty text. Engines register through ``curate_register_engines`` and a
recipe declares them by name under ``engines:``::

    engines:
      default: {use: openai, model: my-model, base_url: http://127.0.0.1:8000/v1}
      judge:   {use: vllm, model: /models/judge, tensor_parallel_size: 8}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from curate.component import Component
from curate.errors import CurateError

Message = dict[str, str]  # {"role": "user" | "assistant" | "system", "content": "..."}


class SamplingParams(BaseModel):
    """Sampling parameters of one request (the OpenAI / vLLM names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    n: int = Field(1, ge=1, description="Number of responses to sample for the request.")
    temperature: float = Field(1.0, ge=0, description="Sampling temperature; 0 is greedy.")
    top_p: float = Field(1.0, gt=0, le=1, description="Nucleus sampling probability mass.")
    max_tokens: int = Field(512, ge=1, description="Maximum number of tokens to generate.")
    seed: int | None = Field(None, description="Random seed, for reproducible sampling.")
    stop: list[str] | None = Field(None, description="Strings that end generation.")
    logprobs: int | None = Field(None, ge=0, description="Return this many top logprobs per token.")


@dataclass
class ChatRequest:
    """One chat to complete. ``json_schema`` asks for structured output when the engine can."""

    id: str
    messages: list[Message]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None

    def fingerprint(self, engine_identity: dict[str, Any]) -> str:
        """Cache key: engine identity + messages + sampling + schema (not the id)."""
        payload = {
            "engine": engine_identity,
            "messages": self.messages,
            "sampling": self.sampling.model_dump(),
            "schema": self.json_schema,
        }
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Completion:
    text: str
    finish_reason: str | None = None  # "stop", "length", ...
    logprobs: list[Any] | None = None


@dataclass
class ChatResult:
    id: str
    completions: list[Completion] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {
            "completions": [vars(c) for c in self.completions],
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, id: str, data: dict[str, Any]) -> "ChatResult":
        return cls(
            id=id,
            completions=[Completion(**c) for c in data["completions"]],
            prompt_tokens=data.get("prompt_tokens", 0),
            completion_tokens=data.get("completion_tokens", 0),
            error=data.get("error"),
            cached=True,
        )


class EngineError(CurateError, RuntimeError):
    """The engine as a whole cannot work: unreachable server, unknown model, bad settings."""


OnResult = Callable[[ChatResult], None]


class Engine(Component):
    """Base of model backends. Implement :meth:`generate`; override the rest when it applies."""

    kind = "engine"
    #: True when the engine constrains decoding to a JSON schema itself.
    supports_json_schema: ClassVar[bool] = False

    def identity(self) -> dict[str, Any]:
        """What makes two engines produce the same outputs: backend, model, endpoint, template.
        Used in request cache keys; never include secrets."""
        ident = {"backend": self.name, **self.params.model_dump(exclude=self.identity_exclude())}
        template = self.chat_template()
        if template:
            ident["chat_template"] = hashlib.sha256(template.encode()).hexdigest()[:16]
        return ident

    def chat_template(self) -> str | None:
        """The chat template in use, when the engine applies one itself (part of the identity)."""
        return None

    def identity_exclude(self) -> set[str]:
        """Params that do not change outputs (concurrency, timeouts) — left out of the identity."""
        return set()

    def start(self) -> None:
        """Check the engine can work (server reachable, model served, weights load) and get ready.
        Raise :class:`EngineError` with a clear message when it cannot. Called before any stage
        of the run executes."""

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        """Complete every request; call ``on_result`` as each finishes (for persistence and
        progress). Return results in the order of ``requests``."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the model or connections."""
