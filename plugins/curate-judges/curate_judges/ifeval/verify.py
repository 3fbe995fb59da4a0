"""Strict and loose verification of one response against a list of instructions.

Strict: the response as it is. Loose (IFEval's upper bound): the response also passes when one
of its 8 variants does — itself, without its first line, without its last line, without both,
and each of these with every ``*`` removed (so markdown emphasis and a chatty first or last
line are forgiven). In both modes a blank response (or variant) follows nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from curate_judges.ifeval.catalog import InvalidKwargs, UnknownInstruction, instruction


def loose_variants(response: str) -> list[str]:
    """The 8 texts loose mode tries, in the reference's order (duplicates included)."""
    lines = response.split("\n")
    without_first = "\n".join(lines[1:]).strip()
    without_last = "\n".join(lines[:-1]).strip()
    without_both = "\n".join(lines[1:-1]).strip()
    return [response, response.replace("*", ""), without_first, without_last, without_both,
            without_first.replace("*", ""), without_last.replace("*", ""), without_both.replace("*", "")]


def check(instruction_id: str, response: str, kwargs: Mapping[str, Any] | None = None,
          prompt: str | None = None, *, loose: bool = False, seed: int = 0) -> bool:
    """Whether ``response`` follows one instruction.

    ``kwargs`` as in IFEval's data (nulls count as absent); ``prompt`` is used by
    ``combination:repeat_prompt`` when ``kwargs`` has no ``prompt_to_repeat``; ``seed`` seeds
    langdetect. Raises :class:`~curate_judges.ifeval.UnknownInstruction` or
    :class:`~curate_judges.ifeval.InvalidKwargs`.
    """
    spec = instruction(instruction_id)
    args = spec.validate(kwargs, prompt)
    texts = loose_variants(response) if loose else [response]
    seen = set()
    for text in texts:
        if text in seen:
            continue
        seen.add(text)
        if text.strip() and spec.checker(text, args, seed):
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    """Per instruction, whether the response follows it, strictly and loosely."""

    strict: list[bool]
    loose: list[bool]

    @property
    def all_strict(self) -> bool:
        return all(self.strict)

    @property
    def all_loose(self) -> bool:
        return all(self.loose)


def evaluate(instruction_ids: Sequence[str], response: str, kwargs: Sequence[Mapping[str, Any] | None],
             prompt: str | None = None, *, seed: int = 0) -> Verdict:
    """Check ``response`` against every instruction of a prompt (``kwargs[i]`` belongs to
    ``instruction_ids[i]``). Every instruction is validated before any is checked, so bad input
    raises (:class:`~curate_judges.ifeval.UnknownInstruction` or
    :class:`~curate_judges.ifeval.InvalidKwargs`, naming the position) instead of giving a
    partial verdict."""
    if len(kwargs) != len(instruction_ids):
        raise InvalidKwargs(f"{len(instruction_ids)} instruction ids but {len(kwargs)} kwargs entries")
    specs, args = [], []
    for i, (instruction_id, kw) in enumerate(zip(instruction_ids, kwargs)):
        try:
            spec = instruction(instruction_id)
        except UnknownInstruction as err:
            raise UnknownInstruction(f"instruction_id_list[{i}]: {err}") from None
        try:
            args.append(spec.validate(kw, prompt))
        except InvalidKwargs as err:
            raise InvalidKwargs(f"kwargs[{i}] of {instruction_id!r}: {err}") from None
        specs.append(spec)
    variants = loose_variants(response)
    strict, loose = [], []
    for spec, kw in zip(specs, args):
        verdicts: dict[str, bool] = {}  # a variant equal to an earlier one has its verdict

        def follows(text: str) -> bool:
            if text not in verdicts:
                verdicts[text] = bool(text.strip()) and spec.checker(text, kw, seed)
            return verdicts[text]

        strict.append(follows(response))
        loose.append(strict[-1] or any(follows(v) for v in variants[1:]))
    return Verdict(strict, loose)
