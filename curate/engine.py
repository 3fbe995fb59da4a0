"""The engine interface: how stages talk to models.

Engines come in two capabilities, each with its own base class and registration hook:

* :class:`ChatEngine` (``curate_register_engines``) completes conversations: a batch of
  :class:`ChatRequest` in, one :class:`ChatResult` per request out, matched by ``id``;
* :class:`ScoreEngine` (``curate_register_score_engines``) scores (conversation, response) pairs
  with named attributes (a reward model): :class:`ScoreRequest` in, :class:`ScoreResult` out.

One bad request fails only itself (``result.error``); it never fails the batch and is never
returned as empty text or a zero score. A recipe declares engines by name under ``engines:``,
and a stage refers to them with typed params (:class:`EngineRef`, :class:`ScoreEngineRef`), which
is how the planner knows, wherever the field sits, which engines a stage uses and what they must
be able to do::

    engines:
      default: {use: openai, model: my-model, base_url: http://127.0.0.1:8000/v1}
      reward:  {use: transformers-reward, model: /models/rm}
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler
from pydantic_core import core_schema

from curate.errors import CurateError

Message = dict[str, str]  # {"role": "user" | "assistant" | "system", "content": "..."}

CHAT, SCORE = "chat", "score"
#: Engine params that never change outputs, left out of every identity (see :meth:`Engine.identity`).
NOT_IDENTITY = frozenset({"pricing"})


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

    @classmethod
    def from_params(cls, params: BaseModel, **overrides: Any) -> "SamplingParams":
        """The sampling fields of a stage's params (a params class that inherits them)."""
        values = {k: getattr(params, k) for k in cls.model_fields if hasattr(params, k)}
        return cls(**{**values, **overrides})


def _digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class ChatRequest:
    """One chat to complete. ``json_schema`` asks for structured output when the engine can."""

    id: str
    messages: list[Message]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None

    def fingerprint(self, engine_identity: dict[str, Any]) -> str:
        """Cache key: engine identity + messages + sampling + schema (not the id)."""
        return _digest({"engine": engine_identity, "messages": self.messages,
                        "sampling": self.sampling.model_dump(), "schema": self.json_schema})


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
    #: answered through a provider's batch API (priced at the batch rates of :class:`Pricing`)
    batch: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        data = {"completions": [vars(c) for c in self.completions], "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "error": self.error}
        if self.batch:  # only when set: rows written before the flag existed read back the same
            data["batch"] = True
        return data

    @classmethod
    def from_json(cls, id: str, data: dict[str, Any]) -> "ChatResult":
        return cls(id=id, completions=[Completion(**c) for c in data["completions"]],
                   prompt_tokens=data.get("prompt_tokens", 0), completion_tokens=data.get("completion_tokens", 0),
                   error=data.get("error"), cached=True, batch=bool(data.get("batch", False)))


@dataclass
class ScoreRequest:
    """One (conversation, response) pair to score. ``messages`` is the conversation so far."""

    id: str
    messages: list[Message]
    response: str

    def fingerprint(self, engine_identity: dict[str, Any]) -> str:
        return _digest({"engine": engine_identity, "messages": self.messages, "response": self.response})


@dataclass
class ScoreResult:
    """Named attribute scores of one pair, e.g. ``{"reward": 1.3}`` or HelpSteer2's five."""

    id: str
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_json(self) -> dict[str, Any]:
        return {"scores": self.scores, "error": self.error}

    @classmethod
    def from_json(cls, id: str, data: dict[str, Any]) -> "ScoreResult":
        return cls(id=id, scores=dict(data["scores"]), error=data.get("error"), cached=True)


class EngineError(CurateError, RuntimeError):
    """The engine as a whole cannot work: unreachable server, unknown model, bad settings."""


OnResult = Callable[[ChatResult], None]
OnScore = Callable[[ScoreResult], None]


@dataclass(frozen=True)
class EngineRun:
    """What the runner tells an engine about the run it serves (see :meth:`Engine.bind`)."""

    #: the engine's name in the recipe (``engines: {name: ...}``)
    name: str
    #: ``RUN_DIR/engines/<name>``: state that must survive the process (submitted batch jobs) and
    #: ``status.json`` for ``curate status``; created by the engine when it first writes there
    state_dir: Path
    #: ``False`` for ``curate run --no-wait``: submit long-running jobs, do not wait for them
    wait: bool = True


class Pricing(BaseModel):
    """What an engine's tokens cost, in USD per million tokens; set as the engine param ``pricing``::

        engines:
          default: {use: openai, model: gpt-4o-mini, pricing: {prompt_per_mtok: 0.15, completion_per_mtok: 0.60}}

    Only requests the engine answered in this run are priced; answers from the request cache
    cost nothing. Results flagged :attr:`ChatResult.batch` are priced at the batch rates."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_per_mtok: float = Field(ge=0, description="USD per 1M prompt (input) tokens of live requests.")
    completion_per_mtok: float = Field(ge=0, description="USD per 1M completion (output) tokens of live requests.")
    batch_prompt_per_mtok: float | None = Field(
        None, ge=0, description="USD per 1M prompt tokens of batch-API requests; default: half of `prompt_per_mtok`.")
    batch_completion_per_mtok: float | None = Field(
        None, ge=0, description="USD per 1M completion tokens of batch-API requests; default: half of "
                                "`completion_per_mtok`.")

    def cost(self, prompt_tokens: int, completion_tokens: int, batch: bool = False) -> float:
        """USD for one request's tokens."""
        if batch:
            prompt = self.prompt_per_mtok / 2 if self.batch_prompt_per_mtok is None else self.batch_prompt_per_mtok
            completion = (self.completion_per_mtok / 2 if self.batch_completion_per_mtok is None
                          else self.batch_completion_per_mtok)
        else:
            prompt, completion = self.prompt_per_mtok, self.completion_per_mtok
        return (prompt_tokens * prompt + completion_tokens * completion) / 1_000_000


class EngineParams(BaseModel):
    """Base of every engine's params: unknown keys are errors, every field is described."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pricing: Pricing | None = Field(
        None, description="Price table (USD per 1M prompt/completion tokens, live and batch) to report what the "
                          "run cost per stage; not part of the engine's identity (changing it reruns nothing).")


class Engine:
    """What every model backend shares: a name, described params, an identity, start and close.

    Subclass :class:`ChatEngine` or :class:`ScoreEngine`, not this. An engine is not a pipeline
    stage: it has no columns and no stage lifecycle.
    """

    #: ``"chat"`` or ``"score"``: what a stage may ask of it.
    capability: ClassVar[str] = ""
    name: ClassVar[str] = ""
    Params: ClassVar[type[BaseModel]] = EngineParams
    #: Filled in by the registry: the distribution and version that registered the class.
    package: ClassVar[str | None] = None
    version: ClassVar[str | None] = None

    def __init__(self, params: BaseModel | dict[str, Any] | None = None, **kwargs: Any):
        if isinstance(params, BaseModel):
            self.params = params
        else:
            self.params = self.Params.model_validate({**(params or {}), **kwargs})

    def identity(self) -> dict[str, Any]:
        """What makes two engines produce the same outputs: backend, model, endpoint, template.

        Part of stage fingerprints and request cache keys, so it must be final *before*
        :meth:`start` (read files, do not load models) and must never include secrets."""
        ident = {"backend": self.name, **self.params.model_dump(exclude=self.identity_exclude() | NOT_IDENTITY)}
        template = self.chat_template()
        if template:
            ident["chat_template"] = hashlib.sha256(template.encode()).hexdigest()[:16]
        return ident

    def chat_template(self) -> str | None:
        """The chat template the engine applies itself (part of the identity); see
        :func:`read_chat_template`. Called before :meth:`start`."""
        return None

    def identity_exclude(self) -> set[str]:
        """Params that do not change outputs (concurrency, timeouts) — left out of the identity."""
        return set()

    def start(self) -> None:
        """Check the engine can work (server reachable, model served, weights load) and get ready.
        Raise :class:`EngineError` with a clear message when it cannot. Called before any stage
        that uses it executes."""

    def bind(self, run: EngineRun) -> None:
        """Called by the runner for every engine of a run, before :meth:`start`: the engine's
        recipe name, its state folder in the run directory and the run's ``wait`` option. Engines
        that keep state across processes (batch jobs) need it; the default ignores it."""

    def close(self) -> None:
        """Release the model or connections."""

    @classmethod
    def summary(cls) -> str:
        doc = (cls.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


class ChatEngine(Engine):
    """A model that completes conversations. Implement :meth:`generate`."""

    capability = CHAT
    #: True when the engine constrains decoding to a JSON schema itself.
    supports_json_schema: ClassVar[bool] = False

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        """Complete every request; call ``on_result`` as each finishes (for persistence and
        progress). Return results in the order of ``requests``."""
        raise NotImplementedError


class ScoreEngine(Engine):
    """A model that scores (conversation, response) pairs, e.g. a reward model. Implement :meth:`score`."""

    capability = SCORE
    #: The attribute names :meth:`score` returns, when fixed (e.g. HelpSteer2's five); for docs and checks.
    attributes: ClassVar[tuple[str, ...]] = ()

    def score(self, requests: list[ScoreRequest], on_result: OnScore | None = None) -> list[ScoreResult]:
        """Score every request; call ``on_result`` as each finishes. Return results in order."""
        raise NotImplementedError


# --- typed references from stage params to recipe engines ---------------------------------------

class EngineRef(str):
    """A stage param naming a recipe engine that can *chat*. Use it as the field's type::

        class Params(curate.Params):
            judge: curate.EngineRef = Field("default", description="Engine that judges.")
            helpers: list[curate.EngineRef] = Field([], description="More engines.")

    The planner finds every such value, wherever it sits in the params (nested models, lists,
    dicts), checks the engine is declared and able, puts its identity in the stage fingerprint,
    wraps it in the request cache and starts it before the stage runs.
    """

    capability: ClassVar[str] = CHAT

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(min_length=1),
            serialization=core_schema.plain_serializer_function_ser_schema(str))


class ScoreEngineRef(EngineRef):
    """A stage param naming a recipe engine that can *score* (a reward model)."""

    capability: ClassVar[str] = SCORE


def engine_refs(value: Any) -> Iterator[EngineRef]:
    """Every :class:`EngineRef` in a params object, in field order (nested models, lists, dicts)."""
    if isinstance(value, EngineRef):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from engine_refs(getattr(value, name))
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from engine_refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from engine_refs(item)


def read_chat_template(model: str, override: str | None = None) -> str | None:
    """The chat template of a local model folder, read from its files without loading anything
    (``chat_template.jinja``, else ``tokenizer_config.json``'s ``chat_template``); ``override``
    wins. For a hub name (not a local folder) returns ``None``: the name identifies it."""
    if override is not None:
        return override
    folder = Path(model).expanduser()
    if not folder.is_dir():
        return None
    jinja = folder / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    try:
        config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    template = config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": ..., "template": ...}]
        template = json.dumps(template, sort_keys=True)
    return template if isinstance(template, str) else None
