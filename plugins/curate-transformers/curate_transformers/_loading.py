"""Loading a local model and its tokenizer, the same way for the chat and the reward engine."""

from __future__ import annotations

from typing import Any

from curate import EngineError


def load(model_class: str, params: Any, what: str) -> tuple[Any, Any, str]:
    """(tokenizer, model on its device in eval mode, device) for ``params.model``: ``device``
    ``auto`` picks cuda when there is one; dtype ``auto`` is bfloat16 on GPU, float32 on CPU.
    The tokenizer must have a chat template (conversations are rendered with it)."""
    import torch
    import transformers

    device = params.device if params.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"auto": torch.bfloat16 if device.startswith("cuda") else torch.float32, "float32": torch.float32,
             "bfloat16": torch.bfloat16, "float16": torch.float16}[params.dtype]
    try:
        tok = transformers.AutoTokenizer.from_pretrained(params.model, trust_remote_code=params.trust_remote_code)
        model = getattr(transformers, model_class).from_pretrained(
            params.model, dtype=dtype, trust_remote_code=params.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise EngineError(f"{what}: transformers could not load model {params.model!r}: {exc}") from None
    if not getattr(tok, "chat_template", None):
        raise EngineError(f"{what}: the tokenizer of {params.model!r} has no chat template, so conversations cannot "
                          "be rendered; use an instruct/chat model (or add a chat template to its tokenizer_config.json)")
    return tok, model.to(device).eval(), device
