"""``generate.responses``: sample responses to each row's prompt from one or more engines.

This is the response-sampling step of Nemotron-4 (several models, the best one sampled several
times) and of Llama 2/3 rejection sampling. Each response keeps which engine, model and sampling
params produced it (the ``generation`` column).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import polars as pl
from pydantic import Field

from curate.component import REASON, Generator, Params, StageOutput
from curate.engine import ChatRequest, ChatResult, EngineRef, SamplingParams
from curate.formats import MESSAGES, prompt_messages


class ResponsesParams(Params, SamplingParams):
    engines: list[EngineRef] = Field([EngineRef("default")], min_length=1,
                                     description="Recipe engine names to sample from; each gives `n` responses per prompt.")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature; 0 is greedy.")
    n_per_engine: dict[str, int] = Field(
        default_factory=dict, description="Responses per prompt for particular engines, overriding `n` (Nemotron-4 "
                                          "samples its best model several times): e.g. {strong: 4, weak: 1}.")
    system_prompt: str | None = Field(None, description="System message prepended to every conversation.")
    output: Literal["rows", "list"] = Field(
        "rows", description="`rows`: one row per response (id `<row id>/<engine>/<k>`, `prompt_id` keeps the "
                            "original); `list`: one row per prompt with `responses` (list) and `response_engines`.")


class GenerateResponses(Generator):
    """Sample `n` responses per prompt (or conversation) from one or more engines."""

    name = "generate.responses"
    Params = ResponsesParams
    reads = (("prompt", "messages"),)
    reports_progress = True

    def output_columns(self) -> list[str]:
        if self.params.output == "list":
            return ["responses", "response_engines"]
        return ["response", "finish_reason", "prompt_id", "response_index", "generation"]

    def sampling(self, engine: str | None = None) -> SamplingParams:
        n = self.params.n_per_engine.get(engine, self.params.n) if engine else self.params.n
        return SamplingParams.from_params(self.params, n=n)

    def progress_total(self, rows_in: int) -> int | None:
        return rows_in * len(self.params.engines) or None

    def requests(self, df: pl.DataFrame, engine: str) -> list[ChatRequest]:
        messages = df.select(prompt_messages(df).alias("m"))["m"].to_list()
        system = [{"role": "system", "content": self.params.system_prompt}] if self.params.system_prompt else []
        sampling = self.sampling(engine)
        return [ChatRequest(f"{rid}#{engine}", system + [dict(m) for m in msgs], sampling)
                for rid, msgs in zip(df["id"].to_list(), messages)]

    def process_batch(self, df: pl.DataFrame) -> StageOutput:
        ctx = self.ctx
        assert ctx is not None
        results: dict[str, list[ChatResult]] = {}
        models: dict[str, Any] = {}

        def on_result(result: ChatResult) -> None:
            ctx.advance(1)
            ctx.count("requests_cached" if result.cached else "requests_sent")
            if not result.ok:
                ctx.count("requests_failed")

        for name in self.params.engines:
            engine = ctx.engine(name)
            models[name] = engine.identity().get("model")
            results[name] = engine.generate(self.requests(df, name), on_result)
        return self._rows(df, results, models)

    def _rows(self, df: pl.DataFrame, results: dict[str, list[ChatResult]], models: dict[str, Any]) -> StageOutput:
        sampling_json = {name: json.dumps(self.sampling(name).model_dump(exclude_none=True), sort_keys=True)
                         for name in results}
        ids = df["id"].to_list()
        kept_rows: list[dict[str, Any]] = []
        failed: list[tuple[int, str]] = []
        for name, res_list in results.items():
            for i, res in enumerate(res_list):
                if not res.ok:
                    failed.append((i, f"generation failed on engine {name!r}: {res.error}"))
                    continue
                for k, comp in enumerate(res.completions):
                    kept_rows.append({"__row": i, "id": f"{ids[i]}/{name}/{k}", "prompt_id": ids[i],
                                      "response": comp.text, "finish_reason": comp.finish_reason,
                                      "response_index": k, "engine": name})
        gen = pl.DataFrame(kept_rows, schema={"__row": pl.Int64, "id": pl.Utf8, "prompt_id": pl.Utf8,
                                              "response": pl.Utf8, "finish_reason": pl.Utf8,
                                              "response_index": pl.Int64, "engine": pl.Utf8})
        gen = gen.with_columns(pl.struct(
            pl.lit(self.ctx.stage_id if self.ctx else "").alias("stage"), pl.col("engine"),
            pl.col("engine").replace_strict({k: str(v) for k, v in models.items()}, default=None).alias("model"),
            pl.col("engine").replace_strict(sampling_json, default=None).alias("sampling"),
        ).alias("generation")).drop("engine")
        base = df.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
        removed = None
        if failed:
            fail = pl.DataFrame({"__row": [i for i, _ in failed], REASON: [r for _, r in failed]},
                                schema={"__row": pl.Int64, REASON: pl.Utf8})
            removed = fail.join(base, on="__row", how="left").drop("__row")
        if self.params.output == "list":
            grouped = gen.group_by("__row", maintain_order=True).agg(
                pl.col("response").alias("responses"), pl.col("generation").struct.field("engine").alias("response_engines"))
            kept = base.join(grouped, on="__row", how="inner").sort("__row").drop("__row")
        else:
            kept = gen.join(base.drop("id"), on="__row", how="left").sort(["__row", "id"]).drop("__row")
        if "messages" in kept.columns and kept.schema["messages"] != MESSAGES:
            kept = kept.with_columns(pl.col("messages").cast(MESSAGES))
        return StageOutput(kept, removed)
