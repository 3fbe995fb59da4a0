"""A tiny, randomly initialised Llama-style model that can be built offline.

Tests and plugin authors sometimes need a *real* Hugging Face model directory --
one that ``transformers`` and vLLM can load, tokenize for, and run a chat
template on -- but model hubs are not reachable from CI or from many developer
machines.  :func:`build_tiny_llama` creates such a directory from nothing:

* a byte-level BPE tokenizer trained on a few KB of English text embedded in
  this module (written for this project, no third-party data), wrapped as a
  ``transformers.PreTrainedTokenizerFast`` with bos/eos/pad tokens and a
  ChatML chat template (so ``tokenizer.apply_chat_template`` and vLLM's
  ``LLM.chat`` / ``/v1/chat/completions`` work);
* a ``LlamaForCausalLM`` with a few hundred thousand parameters, randomly
  initialised from a fixed seed, saved as safetensors.

The model's output is gibberish by design; it exists to exercise the plumbing
(loading, batching, sampling, structured output, length limits), not quality.
Building takes a couple of seconds and is skipped when the directory already
holds a model built with the same parameters.

Importing this module is cheap: ``tokenizers``, ``transformers`` and ``torch``
are imported only inside :func:`build_tiny_llama`.

Example::

    from curate.testing.tiny_model import build_tiny_llama
    path = build_tiny_llama(tmp_path / "tiny-llama")
    # vllm.LLM(model=str(path), max_model_len=512) ...
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = [
    "BOS_TOKEN",
    "CHAT_TEMPLATE",
    "EOS_TOKEN",
    "HELPSTEER2_LABELS",
    "IM_START_TOKEN",
    "PAD_TOKEN",
    "TRAINING_TEXT",
    "build_tiny_llama",
    "build_tiny_reward_model",
]

#: Bumped whenever the recipe below changes, so stale builds are rebuilt.
RECIPE_VERSION = 1

#: Name of the file written last into a finished build; holds its parameters.
MARKER_FILE = "curate_tiny_model.json"

PAD_TOKEN = "<|endoftext|>"
BOS_TOKEN = "<s>"
EOS_TOKEN = "<|im_end|>"
IM_START_TOKEN = "<|im_start|>"
SPECIAL_TOKENS = [PAD_TOKEN, BOS_TOKEN, EOS_TOKEN, IM_START_TOKEN]

#: ChatML template.  ``content`` is treated as a string (vLLM flattens
#: OpenAI-style content-part lists for string templates).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

#: Training text for the tokenizer.  Original prose written for this module.
TRAINING_TEXT = """\
The morning was cool and quiet. A thin fog lay over the river, and the first
boats moved slowly past the old stone bridge. On the bank, a man with a grey
coat was feeding the ducks, while a small dog watched him with great interest.

Mara opened the bakery at six o'clock, as she did every day. She turned on the
ovens, checked the dough that had been rising overnight, and wrote the day's
specials on the board: rye bread, apple tarts, and a lemon cake that her
grandmother used to make. By seven, there was a line at the door.

"Good morning," said the first customer. "Is the lemon cake ready yet?"
"Not yet," Mara answered with a smile. "Come back in twenty minutes."
"Then I will take two rolls and a coffee, please."

The city library is one of the oldest buildings in town. Its reading room has
tall windows, long wooden tables, and shelves that reach the ceiling. Students
come here to study for exams, and retired teachers come to read the newspaper.
The librarian knows almost every visitor by name, and she remembers which books
they like: history for one, poetry for another, and detective stories for the
man who always sits near the door.

To solve a problem, first make sure you understand the question. Write down
what you know and what you need to find. If the problem is large, split it into
smaller parts and solve each part on its own. Then check your answer: does it
make sense, and does it agree with the facts you started with? For example, if
a train travels 120 kilometers in 2 hours, its average speed is 60 kilometers
per hour. If the answer were 600, something would clearly be wrong.

A good recipe lists the ingredients before the steps. For a simple tomato soup
you need 1 kilogram of tomatoes, 2 onions, 3 cloves of garlic, olive oil, salt,
pepper, and a little sugar. Cut the onions, cook them in the oil until they are
soft, add the garlic and the tomatoes, and let everything simmer for thirty
minutes. Blend the soup, taste it, and adjust the salt.

Computers follow instructions exactly. A program is a list of such instructions,
written in a language that people can read and machines can run. When a program
does something unexpected, the programmer looks for the bug: a wrong value, a
missing check, or a step in the wrong order. Tests help, because they show what
the program should do and warn you when it stops doing it.

Data is often stored as records with named fields. One record might look like
this: {"name": "Ada", "age": 36, "city": "London", "tags": ["math", "poetry"]}.
Another might be: {"id": 7, "score": 0.93, "passed": true, "notes": null}.
Lists, numbers, strings, and true or false values are enough to describe many
things, from a shopping list to the settings of a large machine.

In the spring, the hills behind the village turn green, and the farmers begin
to plant. Children walk to school along the narrow road, counting the cows and
the sheep. In the summer, the days are long and warm, and families eat dinner
outside. In the autumn, the leaves turn red and yellow, and the wind carries
them across the fields. In the winter, snow covers the roofs, and smoke rises
from every chimney.

Question: What is the capital of France?
Answer: The capital of France is Paris.
Question: How many days are there in a week?
Answer: There are seven days in a week.
Question: Why is the sky blue?
Answer: Sunlight is scattered by the air, and blue light is scattered the most.

Dear team, thank you for your hard work this month. We finished the project on
time, fixed most of the open issues, and learned a lot along the way. Next week
we will review what went well and what we should change. Please send me your
notes before Friday. Best regards, Sam.

The assistant read the user's message carefully. It thought about what the user
wanted, answered the question in a clear and friendly way, and asked whether
anything else was needed. When it did not know the answer, it said so honestly
instead of guessing.
"""


def _recipe(vocab_size: int, seed: int) -> dict:
    return {
        "recipe_version": RECIPE_VERSION,
        "vocab_size": vocab_size,
        "seed": seed,
        "hidden_size": 128,
        "intermediate_size": 256,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "dtype": "bfloat16",
    }


def _is_built(path: Path, recipe: dict) -> bool:
    marker = path / MARKER_FILE
    try:
        return json.loads(marker.read_text()) == recipe
    except (OSError, ValueError):
        return False


def build_tiny_llama(path: str | Path, *, vocab_size: int = 1024, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random Llama model + tokenizer at ``path``.

    No network access is needed.  The directory afterwards contains
    ``config.json``, ``generation_config.json``, ``model.safetensors``,
    ``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja``
    (ChatML) and a marker file.  It is written with transformers 5
    (``tokenizer_class: TokenizersBackend``), which is what vLLM 0.32 uses.  If ``path`` already holds a build
    with the same parameters it is returned untouched; a build with other
    parameters is replaced.

    Architecture: hidden size 128, 2 layers, 4 attention heads (head dim 32,
    the smallest vLLM's CPU attention backend accepts), 2 KV heads,
    ``max_position_embeddings`` 2048, tied embeddings, bfloat16 weights
    (the dtype vLLM uses on CPU anyway, so it loads without downcasting).

    ``vocab_size`` is an upper bound for the BPE trainer: with the small
    built-in corpus the real vocabulary may be smaller (it always contains
    the 256 byte-level symbols and the special tokens, so any text can be
    encoded).  The model's embedding matrix matches ``len(tokenizer)``.

    The build is written to a temporary sibling directory and moved into
    place, so concurrent callers never see a half-written model.
    """
    if vocab_size < 256 + len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size must be at least {256 + len(SPECIAL_TOKENS)}, got {vocab_size}")
    path = Path(path)
    recipe = _recipe(vocab_size, seed)
    if _is_built(path, recipe):
        return path

    # Heavy imports stay here so importing this module is cheap.
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast


    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        # --- tokenizer -----------------------------------------------------
        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        bpe.decoder = decoders.ByteLevel()
        bpe.post_processor = processors.ByteLevel(trim_offsets=False)
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            min_frequency=2,
            special_tokens=SPECIAL_TOKENS,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        bpe.train_from_iterator(TRAINING_TEXT.splitlines(keepends=True), trainer=trainer)

        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=bpe,
            bos_token=BOS_TOKEN,
            eos_token=EOS_TOKEN,
            pad_token=PAD_TOKEN,
            additional_special_tokens=[IM_START_TOKEN],
            model_max_length=recipe["max_position_embeddings"],
            clean_up_tokenization_spaces=False,
        )
        tokenizer.chat_template = CHAT_TEMPLATE
        tokenizer.save_pretrained(tmp)

        # --- model ---------------------------------------------------------
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=recipe["hidden_size"],
            intermediate_size=recipe["intermediate_size"],
            num_hidden_layers=recipe["num_hidden_layers"],
            num_attention_heads=recipe["num_attention_heads"],
            num_key_value_heads=recipe["num_key_value_heads"],
            max_position_embeddings=recipe["max_position_embeddings"],
            tie_word_embeddings=True,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForCausalLM(config).to(torch.bfloat16)
        model.generation_config = GenerationConfig(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        model.save_pretrained(tmp, safe_serialization=True)

        (tmp / MARKER_FILE).write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
        # mkdtemp creates 0700 and some writers use 0600; make the build readable.
        tmp.chmod(0o755)
        for f in tmp.iterdir():
            f.chmod(0o644)

        # --- move into place -----------------------------------------------
        if _is_built(path, recipe):  # someone else finished first
            return path
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        try:
            os.replace(tmp, path)
        except OSError:
            if not _is_built(path, recipe):  # lost a race to a different build
                raise
        return path
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


#: HelpSteer2's five attributes (Nemotron-4-340B-Reward): handy ``id2label`` for a 5-label head.
HELPSTEER2_LABELS = ("helpfulness", "correctness", "coherence", "complexity", "verbosity")


def build_tiny_reward_model(path: str | Path, *, num_labels: int = 1, id2label: dict[int, str] | None = None,
                            vocab_size: int = 1024, seed: int = 0) -> Path:
    """Build (or reuse) a tiny random ``LlamaForSequenceClassification`` + tokenizer at ``path``.

    A reward model for tests: the tokenizer (and ChatML template) is the one
    :func:`build_tiny_llama` makes (built in a scratch folder and copied), the backbone has the
    same shape, and the head ``score`` outputs ``num_labels`` floats: one is a scalar reward,
    more are named attributes (``id2label``; default ``LABEL_0`` ...; pass
    ``dict(enumerate(HELPSTEER2_LABELS))`` for HelpSteer2's five). Random weights from ``seed``,
    saved as bfloat16 safetensors with ``pad_token_id`` set, so transformers batches it and vLLM
    0.32 serves it with the pooling runner (``/classify``, ``/pooling``, ``/score``).
    Offline, reused when ``path`` holds a build with the same parameters, written atomically.
    """
    if num_labels < 1:
        raise ValueError(f"num_labels must be at least 1, got {num_labels}")
    labels = {int(k): str(v) for k, v in (id2label or {i: f"LABEL_{i}" for i in range(num_labels)}).items()}
    if sorted(labels) != list(range(num_labels)):
        raise ValueError(f"id2label must name the labels 0..{num_labels - 1}, got {sorted(labels)}")
    path = Path(path)
    recipe = {**_recipe(vocab_size, seed), "kind": "sequence-classification", "num_labels": num_labels,
              "id2label": {str(k): v for k, v in sorted(labels.items())}}
    if _is_built(path, recipe):
        return path

    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        base = build_tiny_llama(tmp / "base", vocab_size=vocab_size, seed=seed)  # the tokenizer to reuse
        out = tmp / "model"
        tokenizer = AutoTokenizer.from_pretrained(base)
        tokenizer.save_pretrained(out)
        config = LlamaConfig(
            vocab_size=len(tokenizer),
            hidden_size=recipe["hidden_size"],
            intermediate_size=recipe["intermediate_size"],
            num_hidden_layers=recipe["num_hidden_layers"],
            num_attention_heads=recipe["num_attention_heads"],
            num_key_value_heads=recipe["num_key_value_heads"],
            max_position_embeddings=recipe["max_position_embeddings"],
            num_labels=num_labels,
            id2label=labels,
            label2id={v: k for k, v in labels.items()},
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = LlamaForSequenceClassification(config)
            # The default init draws the head near zero; a wider head makes scores differ visibly.
            torch.nn.init.normal_(model.score.weight, std=0.5)
            model = model.to(torch.bfloat16)
        model.save_pretrained(out, safe_serialization=True)

        (out / MARKER_FILE).write_text(json.dumps(recipe, indent=2, sort_keys=True) + "\n")
        out.chmod(0o755)
        for f in out.iterdir():
            f.chmod(0o644)

        if _is_built(path, recipe):  # someone else finished first
            return path
        if path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        try:
            os.replace(out, path)
        except OSError:
            if not _is_built(path, recipe):
                raise
        return path
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":  # python -m curate.testing.tiny_model PATH
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m curate.testing.tiny_model PATH")
    print(build_tiny_llama(sys.argv[1]))
