"""A scripted engine for tests: queued replies, recorded history. Never a product feature."""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable, Iterable, Union

from pydantic import Field

from curate.engine import (ChatEngine, ChatRequest, ChatResult, Completion, EngineParams, OnResult, OnScore,
                           ScoreEngine, ScoreRequest, ScoreResult)

Reply = Union[str, Exception, Callable[[ChatRequest], "str | Exception"]]


class ScriptedParams(EngineParams):
    model: str = Field("scripted", description="Model name reported in provenance and cache keys.")


class ScriptedEngine(ChatEngine):
    """Answers each sample of each request with the next queued reply.

    A reply is a string, an exception (that request fails with its message) or a callable taking
    the request. When the queue is empty ``default`` is used (an echo of the last user message
    unless given).
    """

    name = "scripted"
    Params = ScriptedParams
    supports_json_schema = False

    def __init__(self, replies: Iterable[Reply] = (), *, default: Reply | None = None, model: str = "scripted"):
        super().__init__({"model": model})
        self.replies: deque[Reply] = deque(replies)
        self.default: Reply = default if default is not None else (lambda req: req.messages[-1]["content"])
        self.history: list[ChatRequest] = []
        self.started = False
        self._lock = threading.Lock()

    def start(self) -> None:
        self.started = True

    def _next(self, req: ChatRequest) -> str | Exception:
        with self._lock:
            reply = self.replies.popleft() if self.replies else self.default
        return reply(req) if callable(reply) and not isinstance(reply, Exception) else reply

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        results = []
        for req in requests:
            self.history.append(req)
            completions, error = [], None
            for _ in range(req.sampling.n):
                reply = self._next(req)
                if isinstance(reply, Exception):
                    error = f"{type(reply).__name__}: {reply}"
                    break
                completions.append(Completion(reply, "stop"))
            result = ChatResult(req.id, [] if error else completions, error=error,
                                prompt_tokens=sum(len(m["content"].split()) for m in req.messages),
                                completion_tokens=sum(len(c.text.split()) for c in completions))
            if on_result:
                on_result(result)
            results.append(result)
        return results

    def identity(self) -> dict[str, Any]:
        return {"backend": "scripted", "model": self.params.model}


Scorer = Callable[[ScoreRequest], "dict[str, float] | float | Exception"]


class ScriptedScorer(ScoreEngine):
    """A score engine for tests: ``score_fn(request)`` gives each pair's scores (a dict of named
    attributes, a float for ``{"reward": x}``, or an exception that fails that request).
    Every request is recorded in ``history``."""

    name = "scripted-scorer"
    Params = ScriptedParams

    def __init__(self, score_fn: Scorer | None = None, *, model: str = "scripted-scorer",
                 attributes: tuple[str, ...] = ("reward",)):
        super().__init__({"model": model})
        self.score_fn: Scorer = score_fn or (lambda req: float(len(req.response)))
        self.attributes = attributes  # type: ignore[misc]
        self.history: list[ScoreRequest] = []
        self.started = False

    def start(self) -> None:
        self.started = True

    def score(self, requests: list[ScoreRequest], on_result: OnScore | None = None) -> list[ScoreResult]:
        results = []
        for req in requests:
            self.history.append(req)
            value = self.score_fn(req)
            if isinstance(value, Exception):
                result = ScoreResult(req.id, error=f"{type(value).__name__}: {value}")
            else:
                result = ScoreResult(req.id, value if isinstance(value, dict) else {"reward": float(value)})
            if on_result:
                on_result(result)
            results.append(result)
        return results

    def identity(self) -> dict[str, Any]:
        return {"backend": "scripted-scorer", "model": self.params.model}
