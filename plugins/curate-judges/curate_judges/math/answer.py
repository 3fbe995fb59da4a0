"""What a final answer is, once read: a number or expression, an equation, a tuple or set, an
interval, a multiple-choice letter, a text answer — or text that could not be read.

:func:`parse_answer` tries the shapes from the most specific (a choice letter) to the most general
(an expression, then text); :mod:`curate_judges.math.equivalence` compares the results.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, Union

from curate_judges.math import limits, normalize
from curate_judges.math.expression import ParseError, parse_expression


@dataclass(frozen=True)
class Value:
    """A number or expression. ``exact`` is a :class:`~fractions.Fraction` for plain numbers (no
    sympy needed) or a sympy expression. ``decimals``/``significant``: digits after the point and
    significant digits when the answer was written as a plain decimal (for the rounding rule).
    ``percent``: written with ``%``, and ``exact`` is the number before the sign."""

    exact: Any
    text: str
    decimals: int | None = None
    significant: int | None = None
    percent: bool = False

    @property
    def is_plain(self) -> bool:
        return isinstance(self.exact, Fraction)


@dataclass(frozen=True)
class Equation:
    """``lhs = rhs`` (a chain ``a = b = c`` keeps its first and last parts)."""

    lhs: Value
    rhs: Value
    text: str


@dataclass(frozen=True)
class Items:
    """Several answers. ``bracket``: ``(`` a tuple, ``[`` a list, ``{`` a set, ``""`` a bare list
    (``1, 2`` or ``2 or 3``; compared as a set of answers, or as a tuple against a tuple)."""

    items: tuple["Answer", ...]
    bracket: str
    text: str


@dataclass(frozen=True)
class Intervals:
    """A union of intervals: ``pieces`` are ``(left, right, left_open, right_open)`` with sympy
    endpoints (``-oo``/``oo`` for unbounded ends)."""

    pieces: tuple[tuple[Any, Any, bool, bool], ...]
    text: str


@dataclass(frozen=True)
class Choice:
    """A multiple-choice letter: ``(B)``, ``B``, ``\\text{(B)}``."""

    letter: str
    text: str


@dataclass(frozen=True)
class Text:
    """A text answer in normal form (:func:`normalize.text_key`): ``yes``, ``monday``."""

    key: str
    text: str


@dataclass(frozen=True)
class Unparsed:
    """Text that looks like mathematics but could not be read; ``error`` says why."""

    text: str
    error: str


Answer = Union[Value, Equation, Items, Intervals, Choice, Text, Unparsed]

_CHOICE = re.compile(r"^(?:\(\s*([A-Ja-j])\s*\)|([A-J]))$")
_LEADING_CHOICE = re.compile(
    r"^(?:(?:option|choice|answer)\s*:?\s*)?(?:\(\s*([A-Ja-j])\s*\)|([A-J])(?=$|[.):\s]))", re.I)
_RELATION = re.compile(r"\\leq|\\geq|\\neq|<=|>=|!=|=<|=>|<|>")
_OR = re.compile(r"\s*(?:\bor\b|\band\b|;|\\text\s*\{\s*or\s*\})\s*")
_ALL_REALS = re.compile(r"^(?:\\mathbb\s*\{?R\}?|\(-\\infty\s*,\s*\\infty\)|all real numbers|\\R)$", re.I)
_IN = re.compile(r"^[A-Za-z]\s*\\in\s*")
_WORDS = re.compile(r"^[A-Za-z][A-Za-z '\-]*$")
_CONSTANT_WORDS = frozenset({"pi", "inf", "infty", "infinity"})
_COLON = re.compile(r"^\d+(?:\s*:\s*\d+)+(?:\s*[ap]\.?m\.?)?$", re.I)


_ANY_CHOICE = re.compile(r"\(\s*([A-Ja-j])\s*\)|(?<![\w\\])([A-J])(?!\w)")


def leading_choice(text: str) -> str | None:
    """The choice letter an answer starts with: ``(B) 12``, ``B. 12``, ``Option B`` -> ``B``;
    ``None`` when it names two letters (``(A) or (C)``)."""
    s = normalize.clean(text).strip()
    m = _LEADING_CHOICE.match(s)
    if m is None:
        return None
    letters = {(a or b).upper() for a, b in _ANY_CHOICE.findall(s)}
    return (m.group(1) or m.group(2)).upper() if len(letters) == 1 else None


@lru_cache(maxsize=65536)
def parse_answer(raw: str) -> Answer:
    """Read one final answer (already extracted from its response). Never raises for bad input:
    what cannot be read is :class:`Unparsed` or :class:`Text`; only :class:`limits.TimeLimit`
    passes through."""
    s = normalize.strip_outer(normalize.clean(raw))
    if not s:
        return Unparsed(raw, "empty answer")
    try:
        return _parse(s, raw, top=True)
    except (ParseError, limits.TooComplex) as exc:
        return Unparsed(raw, str(exc))
    except Exception as exc:  # noqa: BLE001 - sympy raises many kinds; any of them means "unreadable"
        return Unparsed(raw, f"{type(exc).__name__}: {exc}")


def _parse(s: str, raw: str, top: bool = False) -> Answer:
    s = normalize.strip_outer(s.strip())
    if not s:
        raise ParseError("empty part")
    if m := _CHOICE.match(s):
        return Choice((m.group(1) or m.group(2)).upper(), raw)
    if len(s) > limits.MAX_ANSWER_CHARS:
        raise limits.TooComplex(f"longer than {limits.MAX_ANSWER_CHARS} characters")
    if _ALL_REALS.match(s):
        import sympy

        return Intervals(((-sympy.oo, sympy.oo, True, True),), raw)
    if re.fullmatch(r"\\emptyset|\\\{\s*\\\}|\{\s*\}", s):
        return Items((), "{", raw)
    s = _IN.sub("", s)
    if top and (alternatives := _plus_minus(s)):
        return Items(tuple(_parse(a, a) for a in alternatives), "", raw)
    if len(union := _split(s, r"\cup")) > 1:
        return Intervals(tuple(p for part in union for p in _interval(part).pieces), raw)
    parts = _split_regex(s, _OR)
    if len(parts) > 1:
        if _RELATION.search(s) and not re.search(r"(?<![<>!\\a-z])=(?!=)", s):
            pieces = [p for part in parts for p in _inequality(part).pieces]
            return Intervals(tuple(pieces), raw)
        answers = tuple(_parse(p, p) for p in parts)
        if all(not isinstance(a, Text) for a in answers):
            return Items(answers, "", raw)
        return _text(s, raw)
    bracketed = _brackets(s)
    if bracketed is not None:
        return _bracketed(*bracketed, raw)
    if not normalize.is_thousands(normalize.strip_units(normalize.strip_currency(s))):
        parts = _split(s, ",")
        if len(parts) > 1:
            return Items(tuple(_parse(p, p) for p in parts), "", raw)
    if _RELATION.search(s):
        return _inequality(s)
    sides = _split(s, "=")
    if len(sides) > 1:
        lhs, rhs = _value(sides[0], sides[0]), _value(sides[-1], sides[-1])
        return Equation(lhs, rhs, raw)
    if _COLON.match(s):  # a ratio (3:2) or a time (3:30 pm): compared as text
        return Text(normalize.text_key(s), raw)
    if _WORDS.match(s) and re.search(r"[A-Za-z]{2}", s):
        # words are a text answer, unless a number word ("five") or a constant ("pi", "infinity")
        if normalize.plain_number(s) is not None or s.lower() in _CONSTANT_WORDS:
            return _value(s, raw)
        return _text(s, raw)
    return _value(s, raw)


def _text(s: str, raw: str) -> Answer:
    if re.search(r"[\d\\^=]", s):
        raise ParseError("neither mathematics nor a text answer")
    return Text(normalize.text_key(s), raw)


def _value(s: str, raw: str) -> Value:
    s = normalize.strip_outer(normalize.strip_currency(s.strip()))
    s, percent = normalize.split_percent(s)
    s = normalize.strip_units(normalize.strip_degrees(normalize.strip_units(s)))
    s = normalize.strip_outer(normalize.strip_currency(s))
    if not s:
        raise ParseError("no value")
    plain = normalize.plain_number(s)
    if plain is not None:
        return Value(plain.value, raw, plain.decimals, plain.significant, percent)
    expr = parse_expression(s)
    if expr.is_Rational:
        return Value(Fraction(int(expr.p), int(expr.q)), raw, percent=percent)
    return Value(expr, raw, percent=percent)


def _plus_minus(s: str) -> list[str] | None:
    """``1 \\pm \\sqrt{2}`` -> the two answers (one sign at most; more is left unparsed)."""
    signs = re.findall(r"\\pm(?![A-Za-z])|\\mp(?![A-Za-z])|\+-|\+/-", s)
    if len(signs) != 1:
        return None
    plus = re.sub(r"\\pm(?![A-Za-z])|\+-|\+/-", "+", s).replace(r"\mp", "-")
    minus = re.sub(r"\\pm(?![A-Za-z])|\+-|\+/-", "-", s).replace(r"\mp", "+")
    return [plus, minus]


# --- splitting at the top level ------------------------------------------------------------------

_OPEN = {"(": ")", "[": "]", "{": "}"}


def _depths(s: str) -> list[int]:
    """Bracket depth at each character (``\\{``, ``(``, ``[``, ``{`` open; interval brackets may
    mismatch, so any closer closes)."""
    depth, out, i = 0, [], 0
    while i < len(s):
        two = s[i:i + 2]
        if two in (r"\{", r"\}"):
            depth += 1 if two == r"\{" else -1
            out += [depth, depth]
            i += 2
            continue
        c = s[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        out.append(depth)
        i += 1
    return out


def _split(s: str, sep: str) -> list[str]:
    """``s`` split at ``sep`` where no bracket is open; ``[s]`` when it does not occur there."""
    depths = _depths(s)
    parts, start, i = [], 0, 0
    while (i := s.find(sep, i)) != -1:
        if depths[i] == 0 and (sep[-1].isalpha() is False or not s[i + len(sep):i + len(sep) + 1].isalpha()):
            parts.append(s[start:i])
            start = i + len(sep)
        i += len(sep)
    parts.append(s[start:])
    return [p.strip() for p in parts] if len(parts) > 1 else [s]


def _split_regex(s: str, pattern: re.Pattern) -> list[str]:
    depths = _depths(s)
    parts, start = [], 0
    for m in pattern.finditer(s):
        if depths[m.start()] == 0 and m.start() > start:
            parts.append(s[start:m.start()])
            start = m.end()
    parts.append(s[start:])
    return [p.strip() for p in parts if p.strip()] if len(parts) > 1 else [s]


def _brackets(s: str) -> tuple[str, str, list[str]] | None:
    """``(open, close, parts)`` when brackets enclose the whole answer: ``(1, 2]`` or ``\\{1,2\\}``."""
    if s.startswith(r"\{") and s.endswith(r"\}"):
        inner = s[2:-2]
        if all(d >= 0 for d in _depths(inner)) and (not _depths(inner) or _depths(inner)[-1] == 0):
            parts = _split(inner, ",") if inner.strip() else []
            return "{", "}", parts
        return None
    if len(s) < 2 or s[0] not in "([" or s[-1] not in ")]":
        return None
    depths = _depths(s)
    if any(d == 0 for d in depths[:-1]):
        return None  # (a)(b): the first bracket closes before the end
    return s[0], s[-1], _split(s[1:-1], ",")


def _bracketed(open_: str, close: str, parts: list[str], raw: str) -> Answer:
    if open_ == "{":
        return Items(tuple(_parse(p, p) for p in parts), "{", raw)
    if len(parts) == 1:
        return _parse(parts[0], raw)
    infinite = any(re.search(r"\\infty|\binf", p) for p in parts)
    if len(parts) == 2 and (infinite or open_ != "(" or close != ")"):
        return _interval_from(open_, close, parts, raw)
    if open_ + close not in ("()", "[]"):
        raise ParseError(f"brackets {open_}...{close} around {len(parts)} items")
    return Items(tuple(_parse(p, p) for p in parts), open_, raw)


def _interval(part: str) -> Intervals:
    part = normalize.strip_outer(part.strip())
    if _ALL_REALS.match(part):
        import sympy

        return Intervals(((-sympy.oo, sympy.oo, True, True),), part)
    bracketed = _brackets(part)
    if bracketed is None:
        if _RELATION.search(part):
            return _inequality(part)
        raise ParseError(f"{part!r} is not an interval")
    open_, close, parts = bracketed
    if open_ == "{":  # {3} in a union
        import sympy

        values = [_sympy(_value(p, p)) for p in parts]
        return Intervals(tuple((v, v, False, False) for v in values), part)
    if len(parts) != 2:
        raise ParseError(f"{part!r} is not an interval")
    return _interval_from(open_, close, parts, part)


def _interval_from(open_: str, close: str, parts: list[str], raw: str) -> Intervals:
    left, right = (_sympy(_value(p, p)) for p in parts)
    return Intervals(((left, right, open_ == "(", close == ")"),), raw)


def _sympy(value: Value):
    import sympy

    if value.percent:
        raise ParseError("a percent as an interval end")
    return sympy.Rational(value.exact.numerator, value.exact.denominator) if value.is_plain else value.exact


_OPS = {r"\leq": "<=", r"\geq": ">=", "=<": "<=", "=>": ">=", r"\neq": "!=", "!=": "!="}


def _inequality(s: str) -> Intervals:
    """``1 \\leq x < 2``, ``x > 3``, ``3 < x``, ``x \\neq 3`` as intervals of the one variable."""
    import sympy

    pieces = _RELATION.split(s)
    ops = [_OPS.get(op, op) for op in _RELATION.findall(s)]
    if len(pieces) not in (2, 3):
        raise ParseError(f"{s!r}: not an inequality in one variable")
    pieces = [p.strip() for p in pieces]
    variable = [i for i, p in enumerate(pieces) if re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", p)]
    if len(variable) != 1:
        if len(pieces) == 2:
            return _solved_inequality(pieces[0], ops[0], pieces[1], s)
        raise ParseError(f"{s!r}: not an inequality in one variable")
    at = variable[0]
    lo, hi = -sympy.oo, sympy.oo
    lo_open = hi_open = True
    for k, op in enumerate(ops):
        if op == "!=":
            if len(ops) != 1:
                raise ParseError(f"{s!r}: a chain with !=")
            other = _sympy(_value(pieces[1 - at], pieces[1 - at]))
            return Intervals(((-sympy.oo, other, True, True), (other, sympy.oo, True, True)), s)
        # relation pieces[k] op pieces[k+1]; the bound is the piece that is not the variable
        if at not in (k, k + 1):
            raise ParseError(f"{s!r}: not an inequality in one variable")
        bound_at = k if at == k + 1 else k + 1
        bound = _sympy(_value(pieces[bound_at], pieces[bound_at]))
        less = op in ("<", "<=")
        strict = op in ("<", ">")
        # variable on the right of "<" or on the left of ">" means the bound is below it
        below = (at == k + 1) == less
        if below:
            lo, lo_open = bound, strict
        else:
            hi, hi_open = bound, strict
    return Intervals(((lo, hi, lo_open or lo == -sympy.oo, hi_open or hi == sympy.oo),), s)


_MAX_SOLVED_DEGREE = 4
_COMPARE = {"<": lambda v: v < 0, "<=": lambda v: v <= 0, ">": lambda v: v > 0, ">=": lambda v: v >= 0,
            "!=": lambda v: v != 0}


def _solved_inequality(lhs: str, op: str, rhs: str, raw: str) -> Intervals:
    """An inequality such as ``|x| > 3`` or ``x^2 \\leq 4`` in one variable, solved over the reals
    by sign analysis: polynomials up to degree 4, with at most two ``|..|``."""
    import sympy

    left, right = (_sympy(_value(p, p)) for p in (lhs, rhs))
    symbols = (left - right).free_symbols
    if len(symbols) != 1:
        raise ParseError(f"{raw!r}: not an inequality in one variable")
    x = sympy.Symbol("x", real=True)
    f = (left - right).subs(symbols.pop(), x)
    holds = _COMPARE[op]
    points = sorted(_critical_points(f, x), key=lambda p: float(p))
    # the pieces: (-oo, p0), {p0}, (p0, p1), {p1}, ..., (pn, oo); each holds or not
    samples = [points[0] - 1] if points else [sympy.Integer(0)]
    for a, b in zip(points, points[1:]):
        samples += [a, (a + b) / 2]
    if points:
        samples += [points[-1], points[-1] + 1]
    pieces, run_start = [], None
    bounds = [-sympy.oo] + [p for p in points for _ in (0, 1)] + [sympy.oo]  # the ends of each piece
    for k, sample in enumerate(samples):
        value = f.subs(x, sample).evalf(30)
        inside = holds(0 if abs(value) < 1e-20 else value)
        lo = bounds[k]  # pieces alternate: even k an open interval, odd k a single point
        if inside and run_start is None:
            run_start = (lo, k % 2 == 0)  # an open piece starts open
        if not inside and run_start is not None:
            pieces.append((run_start[0], lo, run_start[1], k % 2 == 1))  # ended before a point: open
            run_start = None
    if run_start is not None:
        pieces.append((run_start[0], sympy.oo, run_start[1], True))
    return Intervals(tuple(pieces), raw)


def _critical_points(f, x) -> set:
    """Where ``f`` may change sign: the real roots of its ``|..|`` arguments, and of ``f`` itself
    between them (where each ``|g|`` is ``g`` or ``-g``)."""
    import sympy

    inner = [a.args[0] for a in f.atoms(sympy.Abs)]
    if len(inner) > 2:
        raise limits.TooComplex("an inequality with more than two |..|")
    points = set()
    for g in inner:
        points.update(_real_roots(g, x))
    ordered = sorted(points, key=lambda p: float(p))
    edges = [None, *ordered, None]
    for lo, hi in zip(edges, edges[1:]):
        sample = (lo + hi) / 2 if lo is not None and hi is not None else (
            (hi - 1) if lo is None and hi is not None else (lo + 1) if lo is not None else sympy.Integer(0))
        piece = f.replace(sympy.Abs, lambda g: g if g.subs(x, sample) >= 0 else -g)
        for root in _real_roots(piece, x):
            if (lo is None or root > lo) and (hi is None or root < hi):
                points.add(root)
    return points


def _real_roots(g, x) -> list:
    import sympy

    try:
        poly = sympy.Poly(sympy.expand(g), x)
    except sympy.PolynomialError:
        raise ParseError("only polynomial inequalities (with |..|) are solved") from None
    if poly.degree() > _MAX_SOLVED_DEGREE:
        raise limits.TooComplex(f"an inequality of degree {poly.degree()}")
    return [r for r in poly.real_roots()] if poly.degree() > 0 else []
