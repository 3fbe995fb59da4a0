"""Which part of a response is the Python program `judge.code` runs.

The rule, in order:

1. Fenced blocks (```` ``` ```` or ``~~~``, three or more, at the start of a line, possibly
   indented; a block left open by a truncated response runs to the end of the text) labelled
   ``python``, ``py``, ``python3`` or ``py3``: the longest one (the last of equally long ones).
2. Else unlabelled fenced blocks: the longest one, as above.
3. Else, when the response has fenced blocks but all in other languages (``bash``, ``text``,
   ``output``...): no code.
4. Else (no fence at all): the whole response.

The longest block, because answers often add a usage example or the program's expected output
in a small block after the solution, and a later, complete version of a solution is longer
than the draft it replaces. Whitespace-only code counts as no code.
"""

from __future__ import annotations

import re

PYTHON_LABELS = frozenset({"python", "py", "python3", "py3"})
_OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\n`]*)$")


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Every fenced block as (label in lower case, or "", code)."""
    lines = text.replace("\r\n", "\n").split("\n")
    blocks: list[tuple[str, str]] = []
    i = 0
    while i < len(lines):
        opened = _OPEN.match(lines[i])
        i += 1
        if not opened:
            continue
        fence, indent = opened["fence"], opened["indent"]
        label = opened["info"].strip().split(" ")[0].strip("{}.").lower()
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        body = []
        while i < len(lines) and not closing.match(lines[i]):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip(" \t"))
            i += 1
        i += 1  # the closing fence
        blocks.append((label, "\n".join(body)))
    return blocks


def _longest(codes: list[str]) -> str:
    best = ""
    for code in codes:  # `>=`: the last of equally long blocks
        if len(code.strip()) >= len(best.strip()):
            best = code
    return best


def extract_code(response: str | None) -> str | None:
    """The program in ``response`` by the rule above, or ``None`` when there is none."""
    if response is None:
        return None
    blocks = fenced_blocks(response)
    if not blocks:
        code = response
    else:
        python = [code for label, code in blocks if label in PYTHON_LABELS]
        plain = [code for label, code in blocks if not label]
        code = _longest(python or plain)
    return code if code.strip() else None
