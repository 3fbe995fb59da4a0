"""``generate.closed_qa``: Nemotron-4's closed Q&A prompts, grounded in documents.

Reads documents from any reader (JSONL, Parquet, a Hugging Face dataset: the text in
``document_column``), asks the model for instructions about each document (a question the text
answers, a summary, an extraction ...), and makes each prompt from the document and the
instruction with a template, so the prompt includes the document and the row keeps the pairing
(``document``, ``document_id``, ``instruction``). The model writes only the instruction.
"""

from __future__ import annotations

import polars as pl
from pydantic import Field, field_validator

import curate
from curate_synth._prompts import BoundsParams, MixParams, PromptMix, items_model, text_column

#: Kinds of instruction drawn per document; a recipe sets its own.
DEFAULT_INSTRUCTION_TYPES = [
    "a question that the text answers", "a summary of the text, with a length or format requirement",
    "extracting specific facts, names or figures from the text", "rewriting part of the text for another audience",
    "an inference or opinion that must be supported by the text", "a list or table built from the text's content",
]


class ClosedQAParams(MixParams, BoundsParams):
    document_column: str = Field("text", description="Input column holding each document's text.")
    document_id_column: str = Field("id", description="Input column identifying each document (the reader gives "
                                                      "every row an `id`).")
    instructions_per_document: int = Field(2, ge=1, description="Instructions asked for per document.")
    instruction_types: list[str] = Field(default_factory=lambda: list(DEFAULT_INSTRUCTION_TYPES), min_length=1,
                                         description="Kinds of instruction; `instructions_per_document` of them are "
                                                     "drawn per document (seeded) and named in the request.")
    max_document_chars: int = Field(8000, ge=1, description="Longer documents are removed (with the reason) rather "
                                                            "than cut: a cut document may not hold the answer.")

    @field_validator("instruction_types")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise ValueError("an instruction type is empty")
        return value


class ClosedQA(PromptMix):
    """Write instructions grounded in documents; each prompt is the document plus one instruction."""

    name = "generate.closed_qa"
    Params = ClosedQAParams
    task = "closed_qa"
    templates = {"closed_qa_instructions": ("document", "n", "kinds"),
                 "closed_qa_prompt": ("document", "instruction")}

    def input_columns(self) -> list[str | tuple[str, ...]]:
        return [self.params.document_column, self.params.document_id_column]

    def output_columns(self) -> list[str]:
        return ["prompt", "instruction", "document", "document_id", "task", "prompt_generation"]

    def dropped_columns(self) -> list[str]:
        # The text now lives in `document`; a second copy would only grow the dataset.
        column = self.params.document_column
        return [] if column in self.output_columns() else [column]

    def progress_total(self, rows_in: int) -> int | None:
        p = self.params
        return min(rows_in, -(-p.limit // p.instructions_per_document)) if p.limit else rows_in or None

    def process_batch(self, df: pl.DataFrame) -> curate.StageOutput:
        p = self.params
        documents = text_column(df, p.document_column, self.where)
        doc_ids = text_column(df, p.document_id_column, self.where, numbers=True)
        ids = df["id"].to_list()
        failed: dict[int, str] = {}
        for i, doc in enumerate(documents):
            if not (doc or "").strip():
                failed[i] = f"empty document ({p.document_column!r})"
            elif len(doc) > p.max_document_chars:
                failed[i] = f"document of {len(doc)} characters, longer than max_document_chars ({p.max_document_chars})"
        usable = [i for i in range(df.height) if i not in failed]
        chosen = [usable[j] for j in self.choose(len(usable), p.instructions_per_document)]
        self.count_unused(len(usable) - len(chosen))
        kinds = {i: self._kinds(ids[i]) for i in chosen}
        render = self.template("closed_qa_instructions").render
        answers = self.ask([(f"{ids[i]}/{self.task}", render(document=documents[i].strip(), kinds=kinds[i],
                                                             n=p.instructions_per_document)) for i in chosen],
                           items_model(p.instructions_per_document, p.max_item_chars))
        prompt = self.template("closed_qa_prompt").render
        rows = []
        for i, answer in zip(chosen, answers):
            instructions = self.in_answer(answer.value.items, answer.raw)[:p.instructions_per_document] \
                if answer.ok else []
            if not instructions:
                failed[i] = self.unusable(answer, "instructions")
            doc = documents[i].strip()
            for k, instruction in enumerate(instructions):
                rows.append({"__row": i, "id": f"{ids[i]}/{self.task}/{k}", "instruction": instruction,
                             "prompt": prompt(document=doc, instruction=instruction), "document": doc,
                             "document_id": doc_ids[i], "task": self.task})
        rows = self.cut(rows)
        for row in rows:
            i = row["__row"]
            row["prompt_generation"] = self.provenance(["closed_qa_instructions", "closed_qa_prompt"],
                                                       document_id=doc_ids[i], instruction_types=kinds[i])
        self.report_diversity([row["instruction"] for row in rows])
        schema = {"id": pl.Utf8, "prompt": pl.Utf8, "instruction": pl.Utf8, "document": pl.Utf8,
                  "document_id": pl.Utf8, "task": pl.Utf8, "prompt_generation": pl.Utf8}
        kept = self.expand(df, rows, schema, drop=tuple(self.dropped_columns()))
        return self.output(kept, self.removed(df, failed))

    def _kinds(self, row_id: str) -> list[str]:
        types, n = self.params.instruction_types, self.params.instructions_per_document
        rng = self.rng("kinds", row_id)
        return rng.sample(types, n) if n <= len(types) else [rng.choice(types) for _ in range(n)]
