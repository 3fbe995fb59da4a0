"""The ``transformers`` engine: batched ``generate`` over a local model with its chat template."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

import curate
from curate_transformers._loading import load
from curate import ChatRequest, ChatResult, Completion, OnResult


class TransformersParams(curate.EngineParams):
    model: str = Field(description="Local model folder (or a hub name already in the local cache).")
    device: str = Field("auto", description="`auto` (cuda when available, else cpu), `cpu`, `cuda`, `cuda:1` ...")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="Weights dtype; `auto` is bfloat16 on GPU and float32 on CPU.")
    batch_size: int = Field(8, ge=1, description="Prompts per `generate` call.")
    max_model_len: int | None = Field(None, ge=1, description="Context length (prompt + response); default "
                                      "the model's `max_position_embeddings`. Longer requests fail alone.")
    trust_remote_code: bool = Field(False, description="Allow model code from the model folder.")


class TransformersEngine(curate.ChatEngine):
    """A local Hugging Face causal LM, batched, with the tokenizer's chat template."""

    name = "transformers"
    Params = TransformersParams

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._model = None
        self._tokenizer = None

    def identity_exclude(self) -> set[str]:
        return {"batch_size", "device"}

    def chat_template(self) -> str | None:
        # From the model folder's files: the identity must be final before the model loads.
        return curate.read_chat_template(self.params.model)

    def start(self) -> None:
        if self._model is not None:
            return
        p = self.params
        tok, model, device = load("AutoModelForCausalLM", p, "engine transformers")
        tok.padding_side = "left"  # decoder-only models generate after the prompt: pad on the left
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        self._device, self._tokenizer, self._model = device, tok, model
        self._max_len = p.max_model_len or getattr(model.config, "max_position_embeddings", None) or 2048

    def close(self) -> None:
        self._model = None

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        self.start()
        results: dict[str, ChatResult] = {}
        valid: list[tuple[ChatRequest, list[int]]] = []
        for req in requests:
            ids = self._tokenizer.apply_chat_template(req.messages, add_generation_prompt=True, tokenize=True)
            if hasattr(ids, "keys"):  # newer transformers return a BatchEncoding
                ids = ids["input_ids"]
            if len(ids) + req.sampling.max_tokens > self._max_len:
                results[req.id] = ChatResult(req.id, error=(
                    f"prompt of {len(ids)} tokens + max_tokens {req.sampling.max_tokens} exceeds the context "
                    f"length {self._max_len}"), prompt_tokens=len(ids))
                if on_result:
                    on_result(results[req.id])
            else:
                valid.append((req, list(ids)))
        # Batch requests that share sampling params; each batch is one `generate` call.
        groups: dict[str, list[tuple[ChatRequest, list[int]]]] = {}
        for req, ids in valid:
            groups.setdefault(req.sampling.model_dump_json(), []).append((req, ids))
        for group in groups.values():
            for start in range(0, len(group), self.params.batch_size):
                for res in self._generate_batch(group[start:start + self.params.batch_size]):
                    results[res.id] = res
                    if on_result:
                        on_result(res)
        return [results[r.id] for r in requests]

    def _generate_batch(self, batch: list[tuple[ChatRequest, list[int]]]) -> list[ChatResult]:
        import torch

        tok, s = self._tokenizer, batch[0][0].sampling
        width = max(len(ids) for _, ids in batch)
        input_ids = torch.tensor([[tok.pad_token_id] * (width - len(ids)) + ids for _, ids in batch], device=self._device)
        attention = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for _, ids in batch], device=self._device)
        if s.seed is not None:
            torch.manual_seed(s.seed)
        sample = s.temperature > 0
        kwargs: dict[str, Any] = {"max_new_tokens": s.max_tokens, "num_return_sequences": s.n, "do_sample": sample,
                                  "pad_token_id": tok.pad_token_id}
        if sample:
            kwargs.update(temperature=s.temperature, top_p=s.top_p)
        try:
            with torch.inference_mode():
                out = self._model.generate(input_ids=input_ids, attention_mask=attention, **kwargs)
        except (RuntimeError, ValueError) as exc:  # a failing batch fails its requests, not the stage
            return [ChatResult(req.id, error=f"generate failed: {exc}") for req, _ in batch]
        configured = getattr(self._model.generation_config, "eos_token_id", None)
        eos = {tok.eos_token_id} | set(configured if isinstance(configured, list) else [configured])
        eos.discard(None)
        results = []
        for i, (req, ids) in enumerate(batch):
            completions, generated = [], 0
            for k in range(s.n):
                new = out[i * s.n + k, width:].tolist()
                while new and new[-1] == tok.pad_token_id and tok.pad_token_id not in eos:
                    new.pop()
                stopped = any(t in eos for t in new)
                if stopped:
                    new = new[:next(j for j, t in enumerate(new) if t in eos)]
                text = tok.decode(new, skip_special_tokens=True)
                reason = "stop" if stopped else ("length" if len(new) >= s.max_tokens else "stop")
                for stop in s.stop or []:
                    if stop in text:
                        text, reason = text[:text.index(stop)], "stop"
                completions.append(Completion(text, reason))
                generated += len(new)
            results.append(ChatResult(req.id, completions, prompt_tokens=len(ids), completion_tokens=generated))
        return results
