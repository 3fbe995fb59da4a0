"""The ``transformers-reward`` score engine: a local sequence-classification reward model.

Each (conversation, response) pair goes through the tokenizer's chat template with the response
as the last assistant turn, and the model's head gives the scores: one output is a scalar
``{"reward": x}``, several are named attributes (HelpSteer2-style ``helpfulness``,
``correctness`` ...), named by the config's ``id2label`` or the ``attributes`` param.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

import curate
from curate_transformers._loading import load
from curate import EngineError, OnScore, ScoreRequest, ScoreResult


class RewardParams(curate.EngineParams):
    model: str = Field(description="Local folder of a sequence-classification reward model (or a hub name "
                                   "already in the local cache).")
    device: str = Field("auto", description="`auto` (cuda when available, else cpu), `cpu`, `cuda`, `cuda:1` ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; `auto` is bfloat16 on GPU and float32 on CPU.")
    batch_size: int = Field(16, ge=1, description="Pairs per forward pass (sorted by length to reduce padding).")
    max_model_len: int | None = Field(None, ge=1, description="Longest pair in tokens (chat template applied); "
                                      "default the model's `max_position_embeddings`. Longer pairs fail alone.")
    attributes: list[str] | None = Field(
        None, min_length=1,
        description="Names of the head's outputs, in order (must match `num_labels`). Default: `reward` for a "
                    "one-output head, else the config's `id2label`.")
    trust_remote_code: bool = Field(False, description="Allow model code from the model folder.")


class TransformersRewardEngine(curate.ScoreEngine):
    """A local Hugging Face reward model (sequence classification), batched, with its chat template."""

    name = "transformers-reward"
    Params = RewardParams

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._model: Any = None
        self._tokenizer: Any = None
        self._names: list[str] = []
        #: The attribute names :meth:`score` returns: the ``attributes`` param, else known at start.
        self.attributes = tuple(self.params.attributes or ())  # type: ignore[misc]

    # --- identity (final before start: files only) -------------------------------------------
    def identity_exclude(self) -> set[str]:
        return {"batch_size", "device"}

    def chat_template(self) -> str | None:
        return curate.read_chat_template(self.params.model)

    # --- start --------------------------------------------------------------------------------
    def start(self) -> None:
        if self._model is not None:
            return
        p = self.params
        where = f"engine transformers-reward ({p.model})"
        tok, model, device = load("AutoModelForSequenceClassification", p, where)
        self._names = self._attribute_names(model.config, where)
        self.attributes = tuple(self._names)  # type: ignore[misc]
        # The head reads the last token that is not padding (GenericForSequenceClassification), so
        # pad on the right with the id the model's config names, and tell the model when it names none.
        text_config = model.config.get_text_config()
        pad = text_config.pad_token_id
        if pad is None:
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            if pad is None:
                raise EngineError(f"{where}: neither the model nor the tokenizer names a padding or end token, "
                                  "so pairs cannot be batched")
            text_config.pad_token_id = pad
        self._pad = int(pad)
        self._device, self._tokenizer, self._model = device, tok, model
        self._max_len = p.max_model_len or getattr(text_config, "max_position_embeddings", None) or 2048

    def _attribute_names(self, config: Any, where: str) -> list[str]:
        num = int(config.num_labels)
        if self.params.attributes is not None:
            if len(self.params.attributes) != num:
                raise EngineError(f"{where}: `attributes` names {len(self.params.attributes)} outputs but the "
                                  f"model's head has {num} (num_labels)")
            return list(self.params.attributes)
        if num == 1:
            return ["reward"]
        labels = {int(k): str(v) for k, v in (config.id2label or {}).items()}
        return [labels.get(i, f"LABEL_{i}") for i in range(num)]

    def close(self) -> None:
        self._model = None

    # --- score --------------------------------------------------------------------------------
    def score(self, requests: list[ScoreRequest], on_result: OnScore | None = None) -> list[ScoreResult]:
        self.start()
        results: dict[str, ScoreResult] = {}

        def done(result: ScoreResult) -> None:
            results[result.id] = result
            if on_result is not None:
                on_result(result)

        valid: list[tuple[ScoreRequest, list[int]]] = []
        for req in requests:
            ids, error = self._encode(req)
            if error is not None:
                done(ScoreResult(req.id, error=error))
            else:
                valid.append((req, ids))
        valid.sort(key=lambda pair: len(pair[1]))  # similar lengths together: less padding
        size = self.params.batch_size
        for start in range(0, len(valid), size):
            for result in self._score_batch(valid[start:start + size]):
                done(result)
        return [results[r.id] for r in requests]

    def _encode(self, req: ScoreRequest) -> tuple[list[int], str | None]:
        """Token ids of the pair (conversation + response as the last assistant turn), or why not."""
        messages = [*req.messages, {"role": "assistant", "content": req.response}]
        try:
            ids = self._tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=False)
        except Exception as exc:  # noqa: BLE001 - a template that rejects this conversation fails it alone
            return [], f"the chat template failed on this conversation: {type(exc).__name__}: {exc}"
        if hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
            ids = ids["input_ids"]
        ids = list(ids)
        if len(ids) > self._max_len:
            return [], f"the pair is {len(ids)} tokens, over the context length {self._max_len}"
        if not ids:
            return [], "the chat template produced no tokens"
        return ids, None

    def _score_batch(self, batch: list[tuple[ScoreRequest, list[int]]]) -> list[ScoreResult]:
        import torch

        width = max(len(ids) for _, ids in batch)
        input_ids = torch.tensor([ids + [self._pad] * (width - len(ids)) for _, ids in batch], device=self._device)
        attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for _, ids in batch], device=self._device)
        try:
            with torch.inference_mode():
                logits = self._model(input_ids=input_ids, attention_mask=attention).logits
        except (RuntimeError, ValueError) as exc:  # a failing batch fails its pairs, not the stage
            return [ScoreResult(req.id, error=f"forward pass failed: {exc}") for req, _ in batch]
        rows = logits.float().cpu().tolist()
        return [ScoreResult(req.id, dict(zip(self._names, map(float, row)))) for (req, _), row in zip(batch, rows)]

