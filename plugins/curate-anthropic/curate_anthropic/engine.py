"""The ``anthropic`` engine: live Messages API requests, or Message Batches with ``batch: true``
(one line in a recipe; the identity, and so the request cache, is the same either way)."""

from __future__ import annotations

from typing import Any

from curate import BatchChatEngine, ChatRequest, ChatResult, OnResult
from curate_anthropic import wire
from curate_anthropic.batches import MAX_SAMPLES, AnthropicBatches
from curate_anthropic.live import AnthropicLive, AnthropicParams


class AnthropicEngine(AnthropicLive, AnthropicBatches, BatchChatEngine):
    """Anthropic's Claude models through the native Messages API, live or as Message Batches."""

    name = "anthropic"
    Params = AnthropicParams
    supports_json_schema = True  # a forced tool whose input_schema is the schema

    def __init__(self, params: Any = None, **kwargs: Any):
        super().__init__(params, **kwargs)
        self._live_init()
        self._batch_init()

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        if not self.params.batch:
            return self.generate_live(requests, on_result)
        # What the Messages API cannot do fails its request here, not the batch file.
        results: dict[str, ChatResult] = {}
        batchable: list[ChatRequest] = []
        for req in requests:
            try:
                wire.request_body(req, self.params.model)
                if req.sampling.n > MAX_SAMPLES:
                    raise ValueError(f"n={req.sampling.n} is over {MAX_SAMPLES} samples per request in a batch")
            except (TypeError, ValueError) as exc:
                results[req.id] = self._failed(req, f"cannot send the request: {exc}", 0)
                if on_result is not None:
                    on_result(results[req.id])
            else:
                batchable.append(req)
        self.remember_shapes(batchable, self.identity())
        for result in super().generate(batchable, on_result) if batchable else []:
            results[result.id] = result
        return [results[r.id] for r in requests]
