"""``generate.rmboost``: intentional preference pairs (RMBoost).

For each (prompt, response) row, a seeded choice picks an aspect (helpfulness, relevance, ...)
and a direction (the new response should be better or worse on that aspect); the model writes the
second response under those instructions. The pair is then known by construction: chosen is the
better one. The aspect and direction are recorded, so a reward-model trainer can weight or filter
by them. Template, engine, model and sampling are in each row's provenance.
"""

from __future__ import annotations

import json
import random
from typing import Literal

import polars as pl
from pydantic import Field, field_validator

import curate
from curate_judges import _llm

#: Aspects and what each means, shown to the model. A recipe may pass its own.
DEFAULT_ASPECTS = {
    "helpfulness": "how well it meets the user's actual need",
    "correctness": "whether its facts, reasoning and code are right",
    "relevance": "how closely it sticks to what was asked",
    "completeness": "whether it covers every part of the request",
    "clarity": "how easy it is to follow",
    "conciseness": "whether it says what is needed without padding",
}

VARIABLES = {"conversation", "response", "aspect", "aspect_description", "direction"}


class RMBoostParams(curate.Params, curate.SamplingParams):
    engine: curate.EngineRef = Field(curate.EngineRef("default"), description="Engine that writes the second response.")
    aspects: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_ASPECTS),
                                    description="Aspect -> description; one is drawn per row (seeded).")
    direction: Literal["random", "better", "worse"] = Field(
        "random", description="Ask for a better or a worse second response; `random` draws per row (seeded).")
    seed: int | None = Field(0, description="Seed of the aspect/direction draws and of sampling.")
    temperature: float = Field(0.7, ge=0, description="Sampling temperature; 0 is greedy.")
    template: curate.TemplateParam = Field(None, description="Replace the instruction template: inline Jinja or "
                                                             "`file:<path>`. Variables: " + ", ".join(sorted(VARIABLES)))

    @field_validator("aspects")
    @classmethod
    def _some(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("give at least one aspect")
        return value


class RMBoost(curate.Generator):
    """Write a second response that is better or worse on a drawn aspect, giving a pair known by construction."""

    name = "generate.rmboost"
    Params = RMBoostParams
    reads = (("prompt", "messages"), "response")
    writes = ("chosen", "rejected", "rmboost_aspect", "rmboost_direction", "rmboost")
    reports_progress = True

    def cache_key(self) -> dict:
        return {"template": self._template().sha}

    def _template(self) -> curate.Template:
        return _llm.stage_template(self, "rmboost.j2", VARIABLES)

    def _draw(self, row_id: str) -> tuple[str, str]:
        # Seeded by row id, so a row's draw does not depend on batching or on the other rows.
        rng = random.Random(f"{self.params.seed}:{row_id}")
        aspect = rng.choice(sorted(self.params.aspects))
        direction = self.params.direction if self.params.direction != "random" else rng.choice(["better", "worse"])
        return aspect, direction

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        ctx, p = self.ctx, self.params
        template = self._template()
        engine = ctx.engine(p.engine)
        conversations = df.select(curate.prompt_messages(df).alias("m"))["m"].to_list()
        draws = [self._draw(i) for i in df["id"].to_list()]
        requests = []
        for row_id, messages, response, (aspect, direction) in zip(df["id"], conversations, df["response"], draws):
            text = template.render(conversation="\n".join(f"{m['role']}: {m['content']}" for m in messages),
                                   response=response or "", aspect=aspect, direction=direction,
                                   aspect_description=p.aspects[aspect])
            requests.append(curate.ChatRequest(row_id, [{"role": "user", "content": text}],
                                               curate.SamplingParams.from_params(p, n=1)))

        def on_result(result: curate.ChatResult) -> None:
            ctx.advance(1)
            ctx.count("requests_cached" if result.cached else "requests_sent")
            if not result.ok:
                ctx.count("requests_failed")

        results = engine.generate(requests, on_result)
        model = engine.identity().get("model")
        kept, failed = [], []
        for i, (result, (aspect, direction), original) in enumerate(zip(results, draws, df["response"])):
            new = result.completions[0].text.strip() if result.ok and result.completions else ""
            if not result.ok or not new:
                failed.append((i, f"rmboost generation failed: {result.error or 'empty response'}"))
                continue
            chosen, rejected = (new, original) if direction == "better" else (original, new)
            kept.append({"__row": i, "chosen": chosen, "rejected": rejected, "rmboost_aspect": aspect,
                         "rmboost_direction": direction,
                         "rmboost": json.dumps({"template": template.provenance(), "engine": str(p.engine),
                                                "model": model, "seed": p.seed}, sort_keys=True)})
        base = df.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
        new_cols = pl.DataFrame(kept, schema={"__row": pl.Int64, "chosen": pl.Utf8, "rejected": pl.Utf8,
                                              "rmboost_aspect": pl.Utf8, "rmboost_direction": pl.Utf8,
                                              "rmboost": pl.Utf8})
        out = base.drop([c for c in ("chosen", "rejected") if c in base.columns]).join(new_cols, on="__row", how="inner")
        removed = None
        if failed:
            reasons = pl.DataFrame({"__row": [i for i, _ in failed], "reason": [r for _, r in failed]},
                                   schema={"__row": pl.Int64, "reason": pl.Utf8})
            removed = base.join(reasons, on="__row").drop("__row")
        return curate.StageOutput(out.sort("__row").drop("__row"), removed)

    def progress_total(self, rows_in: int) -> int | None:
        return rows_in or None
