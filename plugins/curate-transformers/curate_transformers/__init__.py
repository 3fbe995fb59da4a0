"""curate-transformers: run a local Hugging Face model with ``transformers`` (CPU or GPU).

The engine for small models on machines without vLLM: batched ``generate`` with the tokenizer's
chat template::

    engines:
      small: {use: transformers, model: /models/Qwen2.5-0.5B-Instruct, batch_size: 8}
"""

import curate
from curate_transformers.engine import TransformersEngine
from curate_transformers.reward import TransformersRewardEngine

__all__ = ["TransformersEngine", "TransformersRewardEngine"]


@curate.hookimpl
def curate_register_engines(register):
    register(TransformersEngine)


@curate.hookimpl
def curate_register_score_engines(register):
    register(TransformersRewardEngine)
