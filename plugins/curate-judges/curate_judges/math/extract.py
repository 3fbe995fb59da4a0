"""Finding the final answer a response commits to, and the answer inside a reference.

A response commits to an answer with an explicit marker — ``\\boxed{..}`` (or ``\\fbox``), a GSM8K
``#### 42`` last line, "the answer is ..." / "final answer: ..." — and :func:`final_answers` returns
every such answer, so that the judge can reject a response that commits to two different ones.
Only when there is no marker does the concluding sentence speak for the response (its inline math,
the value after its last ``=``, or its last number). Text after ``</think>`` is the response;
an unclosed ``<think>`` has no answer yet.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from curate_judges.math import normalize


@dataclass(frozen=True)
class Candidate:
    """One final answer found in a response: its text and where it was found."""

    text: str
    source: str  # boxed, ####, answer phrase, concluding sentence


_BOXED = re.compile(r"\\(?:boxed|fbox|framebox)(?![A-Za-z])\s*")
_PHRASE = re.compile(
    r"(?:\bfinal\s+answer|\b(?:the\s+)?(?:correct\s+|final\s+|right\s+)?answer"
    r"(?:\s+to\s+(?:this|the|our)\s+[^.\n:]{0,60}?)?|\b(?:correct|right)\s+(?:option|choice))"
    r"\s*(?:\b(?:is|would\s+be|will\s+be|should\s+be)\b\s*:?|:|=)[ \t]*",
    re.I)
#: "The answer is not ..." is never an answer; the other words introduce an explanation, which
#: is an answer only when it states a number ("the answer is that she needs 5 more").
_NOT_AN_ANSWER = re.compile(r"^not\b", re.I)
_EXPLAINS = re.compile(
    r"^(?:as|that|because|given|shown|below|above|follows|the following|calculated|found|determined|"
    r"obtained|to|in|clear|simple|straightforward|this|these|correct|incorrect|wrong|unclear)\b", re.I)
_EXPLANATION = re.compile(
    r",?\s+(?:which|so|but|because|since|as|where|meaning|therefore|hence|and\s+(?:so|this|that|the))\b.*$"
    r"|\s+\((?=[a-z]{2,}).*$", re.I | re.S)
_NUMBER = re.compile(r"(?<![\w.])[-−]?\$?\d[\d,]*(?:\.\d+)?(?:\s*/\s*\d+)?(?:\s*%)?")
_INLINE_MATH = re.compile(r"\$(?!\s)([^$]*?[^\s$\\])\$(?!\d)|\\\((.+?)\\\)", re.S)
_DISPLAY_END = re.compile(r"(?:\$\$(.+?)\$\$|\\\[(.+?)\\\])\s*$", re.S)


def braced(text: str, start: int) -> tuple[str, int] | None:
    """The ``{...}`` group at ``start`` (nested braces kept) and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    close = normalize.matching_brace(text, start)
    return (text[start + 1:close], close + 1) if close != -1 else None


def boxed_contents(text: str) -> list[str]:
    """Contents of every ``\\boxed{..}`` / ``\\fbox{..}`` (and ``\\boxed 5``), in order."""
    found = []
    for m in _BOXED.finditer(text):
        group = braced(text, m.end())
        if group is not None:
            found.append(group[0].strip())
        elif m.end() < len(text) and text[m.end()] != "{":  # \boxed 5 (an unclosed brace is no answer)
            word = re.match(r"[^\s$]+", text[m.end():])
            if word:
                found.append(word.group())
    return [f for f in found if f]


def _after_think(text: str) -> str | None:
    if "</think>" in text:
        return text.rsplit("</think>", 1)[1]
    if "<think>" in text:
        return None  # still thinking: no answer yet
    return text


def final_answers(response: str, concluding_sentence: bool = True) -> list[Candidate]:
    """Every answer the response commits to, in order of appearance within each kind."""
    text = _after_think(response or "")
    if text is None or not text.strip():
        return []
    found = [Candidate(b, "boxed") for b in boxed_contents(text)]
    plain = re.sub(r"\*\*|__", "", text)  # markdown emphasis around "**Answer:** 42"
    for content in _phrase_answers(plain):
        found.append(Candidate(content, "answer phrase"))
    lines = [line for line in plain.strip().splitlines() if line.strip()]
    if lines and (m := re.match(r"^\s*####\s*(.+)$", lines[-1])) and not re.match(
            r"(?i)(?:step|final|answer|solution|conclusion|summary|verification|explanation)\b", m.group(1)):
        found.append(Candidate(_tidy(m.group(1)), "####"))
    if not found and concluding_sentence:
        last = _concluding(plain)
        if last:
            found.append(Candidate(last, "concluding sentence"))
    return found


def _phrase_answers(text: str) -> list[str]:
    answers = []
    for m in _PHRASE.finditer(text):
        content = _phrase_content(text, m.end())
        if content:
            answers.append(content)
    return answers


def _phrase_content(text: str, start: int) -> str | None:
    rest = text[start:]
    while lead := _PHRASE.match(rest.lstrip()):  # "Final Answer: The final answer is $5$"
        rest = rest.lstrip()[lead.end():]
    if not rest.split("\n", 1)[0].strip():  # "The answer is:" then the answer on the next line
        rest = rest.lstrip()
    if rest.startswith(("$$", r"\[")):
        m = re.match(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]", rest, re.S)
        return _reduce(m.group(1) or m.group(2)) if m else None
    if rest.startswith(("$", r"\(")) and (m := _INLINE_MATH.match(rest)):
        return _reduce(m.group(1) or m.group(2))
    end = _sentence_end(rest)
    sentence = rest[:end].strip()
    if re.match(r"(?:\$|\\\(|\\\[)?\s*\\(?:boxed|fbox)", sentence):  # "is \boxed{5}"
        return next(iter(boxed_contents(sentence)), None)
    if not sentence or _NOT_AN_ANSWER.match(sentence) or (
            _EXPLAINS.match(sentence) and not re.search(r"\d", sentence)):
        return None
    return _reduce(_EXPLANATION.sub("", sentence), sentence)


def _sentence_end(text: str) -> int:
    """Index where the sentence starting ``text`` ends (math in ``$..$`` is never cut)."""
    in_math = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            i += 2
            continue
        if c == "$" and (in_math or "$" in text[i + 1:].split("\n", 1)[0]):
            in_math = not in_math  # a lone "$" on its line is a currency sign, not math
        elif not in_math and (c == "\n" or (c in ".!?;" and (i + 1 == len(text) or text[i + 1].isspace()))):
            return i
        i += 1
    return len(text)


def _reduce(content: str, sentence: str | None = None) -> str | None:
    """An answer phrase's content when it reads as an answer; else, when it is a sentence, the
    number it states: the first when the sentence starts with it ("5 apples, not 6"), the last
    otherwise ("that she needs 5 more apples", "The cost is $5 each, so $15 in all")."""
    from curate_judges.math.answer import Text, Unparsed, leading_choice, parse_answer

    content = _tidy(content)
    if not content:
        return None
    if leading_choice(content):
        return content  # "(B) 12": the letter is the answer
    parsed = parse_answer(content)
    if not isinstance(parsed, (Unparsed, Text)) or (isinstance(parsed, Text) and len(parsed.key.split()) <= 3):
        return content
    sentence = _tidy(sentence or content)
    numbers = _NUMBER.findall(sentence)
    if not numbers:
        return None
    return _number(numbers[0] if _NUMBER.match(sentence) else numbers[-1])


def _tidy(text: str) -> str:
    return text.strip().strip("*").strip().rstrip(".,;:").strip()


def _number(text: str) -> str:
    """A number found in prose, without its currency sign: ``$1,250`` -> ``1,250``."""
    return _tidy(text.replace("$", "").replace("\u2212", "-"))


def _concluding(text: str) -> str | None:
    """The answer of the last sentence that states a number or some math."""
    body = text.strip()
    if m := _DISPLAY_END.search(body):
        return _after_equals(m.group(1) or m.group(2))
    sentences = []
    start = 0
    while start < len(body):
        end = _sentence_end(body[start:]) + start
        sentences.append(body[start:end])
        start = end + 1
    for sentence in reversed(sentences):
        maths = [a or b for a, b in _INLINE_MATH.findall(sentence)]
        if maths:
            return _after_equals(maths[-1])
        if re.search(r"\d", sentence):
            head = _EXPLANATION.sub("", sentence)  # "$18 a day, which is 2 times 9": not 9
            return _after_equals(head if re.search(r"\d", head) else sentence, prose=True)
    return None


def _after_equals(math: str, prose: bool = False) -> str | None:
    """``x = 5`` stays (an equation is an answer); ``3 + 5 = 8`` gives ``8``; prose gives its last
    number after the last ``=``."""
    math = math.strip()
    if "=" in math:
        lhs, _, rhs = math.rpartition("=")
        if not prose and re.fullmatch(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*", lhs):
            return _tidy(math)
        math = rhs
    if prose:
        numbers = _NUMBER.findall(math)
        return _number(numbers[-1]) if numbers else None
    return _tidy(math) or None


def reference_answer(reference: str | None) -> str | None:
    """The answer inside a reference: after GSM8K's ``####``, the last ``\\boxed{}`` of a MATH
    solution, an "answer is" phrase, or the whole text (a bare answer)."""
    if reference is None:
        return None
    text = reference.strip()
    if "####" in text:
        return _tidy(text.rsplit("####", 1)[1].strip().split("\n")[0]) or None
    boxed = boxed_contents(text)
    if boxed:
        return boxed[-1]
    if "\n" in text or len(text) > 80:
        phrases = _phrase_answers(re.sub(r"\*\*|__", "", text))
        if phrases:
            return phrases[-1]
    return _tidy(text) or None
