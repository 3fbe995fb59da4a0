"""When two answers are the same answer.

The rules (docs/plugins/judges-math.md explains each with examples):

* **rationals compare exactly**: ``0.5 = 1/2 = 2/4``, ``1.50 = 1.5``, but ``0.33 != 1/3`` and
  ``12 != 1.2``;
* **a decimal matches an irrational exact value** (``\\sqrt 2``, ``\\pi``, ``\\ln 3``) when it has at
  least ``min_significant_digits`` significant digits and equals the exact value rounded or truncated
  to the decimals it gives: ``1.41``, ``1.414``, ``1.4142`` match ``\\sqrt 2``; ``1.42`` and ``1.4``
  do not;
* **percent is a unit**: ``50%`` matches ``50`` (the unit dropped) and ``0.5`` (the same quantity),
  never ``0.5%`` or ``5``;
* **other constants** (``\\frac{\\sqrt 2}{2}`` vs ``\\frac{1}{\\sqrt 2}``) agree to 35 significant
  digits; **expressions with variables** agree at several fixed rational points (to 25 digits),
  which decides polynomial and rational identities without ``simplify``;
* **equations**: ``x = 5`` matches ``5``; ``y = 2x + 1`` matches ``2x + 1 = y`` and ``2y = 4x + 2``
  (same solutions: one side minus the other agree up to a non-zero factor);
* **tuples are ordered, sets are not, and they never match each other**; a bare list (``1, 2``)
  is unordered against a set or another bare list, ordered against a tuple; ``(a, b)`` also
  matches the open interval ``a < x < b``;
* **intervals** compare ends and openness; inequalities are read as intervals;
* **text** compares in normal form (case, spacing, punctuation, a leading article); a yes/no or
  true/false reference matches an answer whose first word it is (``Yes, because ...``);
* **choices** compare letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from curate_judges.math import normalize
from curate_judges.math.answer import Answer, Choice, Equation, Intervals, Items, Text, Unparsed, Value


@dataclass(frozen=True)
class Rules:
    """The choices an equivalence check leaves open (the stage's params set them)."""

    percent_as_fraction: bool = True
    rounded_irrationals: bool = True
    min_significant_digits: int = 3
    unordered_lists: bool = True


DEFAULT_RULES = Rules()
_YES_NO = frozenset({"yes", "no", "true", "false"})
#: Substituted for the variables of an expression (fixed, so verdicts are reproducible).
_POINTS = ("31/17", "-11/13", "5/3", "7/29", "-23/7", "13/11", "2/9", "-3/5", "19/6", "41/37")
_CONSTANT_DIGITS = 50
_CONSTANT_TOLERANCE = 35  # significant digits two constants must share
_POINT_TOLERANCE = 25


def equivalent(answer: Answer, reference: Answer, rules: Rules = DEFAULT_RULES) -> bool:
    """Whether ``answer`` (from a response) states the same thing as ``reference``."""
    a, r = answer, reference
    if isinstance(r, Text) and r.key in _YES_NO and isinstance(a, (Text, Unparsed)):
        return _first_word(a.text) == r.key  # "Yes, because 7 is prime"
    if isinstance(a, Unparsed) or isinstance(r, Unparsed):
        return normalize.loose_key(a.text) == normalize.loose_key(r.text)
    if isinstance(r, Choice) or isinstance(a, Choice):
        return isinstance(a, Choice) and isinstance(r, Choice) and a.letter == r.letter
    if isinstance(r, Text) or isinstance(a, Text):
        if not (isinstance(a, Text) and isinstance(r, Text)):
            return False
        return a.key == r.key
    if isinstance(a, Value) and isinstance(r, Value):
        return values_equal(a, r, rules)
    if isinstance(a, Equation) and isinstance(r, Equation):
        return equations_equal(a, r, rules)
    if isinstance(a, Equation) and isinstance(r, Value):
        return equation_value_equal(a, r, rules)
    if isinstance(a, Value) and isinstance(r, Equation):
        return equation_value_equal(r, a, rules)
    if isinstance(a, Items) and isinstance(r, Items):
        return items_equal(a, r, rules)
    if isinstance(a, Intervals) or isinstance(r, Intervals):
        return intervals_equal(_as_intervals(a), _as_intervals(r))
    return False


def _first_word(text: str) -> str:
    words = normalize.text_key(text).replace(",", " ").split()
    return words[0] if words else ""


# --- numbers and expressions --------------------------------------------------------------------

def values_equal(a: Value, b: Value, rules: Rules = DEFAULT_RULES) -> bool:
    if a.percent != b.percent:
        p, x = (a, b) if a.percent else (b, a)
        as_number = Value(p.exact, p.text, p.decimals, p.significant)
        if _same(as_number, x, rules):
            return True
        if not rules.percent_as_fraction:
            return False
        hundredth = Fraction(1, 100) if p.is_plain else _sympy(Fraction(1, 100))
        decimals = None if p.decimals is None else p.decimals + 2
        return _same(Value(p.exact * hundredth, p.text, decimals, p.significant), x, rules)
    return _same(a, b, rules)


def _same(a: Value, b: Value, rules: Rules) -> bool:
    if a.is_plain and b.is_plain:
        return a.exact == b.exact
    x, y = _sympy(a.exact), _sympy(b.exact)
    if x == y:
        return True
    if x.free_symbols or y.free_symbols:
        return expressions_equal(x, y)
    if x.has(_sp().oo) or y.has(_sp().oo) or x.has(_sp().zoo) or y.has(_sp().zoo):
        return False  # equal infinities were caught by x == y
    if rules.rounded_irrationals:
        for decimal, exact in ((a, y), (b, x)):
            if decimal.decimals is not None and exact.is_rational is not True:
                return rounds_to(decimal, exact, rules.min_significant_digits)
    return constants_equal(x, y)


def rounds_to(decimal: Value, exact: Any, min_significant: int) -> bool:
    """Whether the decimal ``decimal`` is the irrational ``exact`` rounded (half up) or truncated
    to the digits it gives, with at least ``min_significant`` significant digits."""
    if (decimal.significant or 0) < min_significant:
        return False
    value = exact.evalf(decimal.decimals + _CONSTANT_DIGITS)
    if not value.is_real:
        return False
    digits = Decimal(str(value))
    step = Decimal(1).scaleb(-decimal.decimals)
    given = Fraction(decimal.exact)
    return any(Fraction(digits.quantize(step, rounding=mode)) == given for mode in (ROUND_HALF_UP, ROUND_DOWN))


def constants_equal(x: Any, y: Any, digits: int = _CONSTANT_TOLERANCE) -> bool:
    """Two constant expressions that agree to ``digits`` significant digits (complex allowed)."""
    vx, vy = x.evalf(_CONSTANT_DIGITS), y.evalf(_CONSTANT_DIGITS)
    if not (vx.is_number and vy.is_number) or vx.has(_sp().nan) or vy.has(_sp().nan):
        return False
    diff = abs(complex(vx - vy)) if not (vx - vy).is_real else abs(float(vx - vy))
    scale = max(1.0, abs(complex(vx)), abs(complex(vy)))
    return diff <= scale * 10.0 ** -digits


def expressions_equal(x: Any, y: Any) -> bool:
    """Expressions with variables: equal at every fixed point where both are defined (at least
    three such points). A polynomial or rational identity cannot pass by chance at ten points."""
    sp = _sp()
    symbols = sorted(x.free_symbols | y.free_symbols, key=str)
    defined = 0
    for k in range(len(_POINTS)):
        subs = {s: sp.Rational(_POINTS[(k + 3 * j) % len(_POINTS)]) for j, s in enumerate(symbols)}
        vx, vy = x.evalf(_CONSTANT_DIGITS, subs=subs), y.evalf(_CONSTANT_DIGITS, subs=subs)
        if not (vx.is_number and vy.is_number) or any(v.has(sp.nan, sp.zoo, sp.oo, -sp.oo) for v in (vx, vy)):
            continue  # outside the domain of one side
        if _real(vx) != _real(vy):
            continue  # real on one side only: outside the real domain of the other (ln x at x < 0)
        if not constants_equal(vx, vy, _POINT_TOLERANCE):
            return False
        defined += 1
        if defined >= 6:
            break
    return defined >= 3


def _real(value: Any) -> bool:
    """A numeric value whose imaginary part is zero to the working precision."""
    re_part, im_part = value.as_real_imag()
    return abs(float(im_part)) <= max(1.0, abs(float(re_part))) * 10.0 ** -_POINT_TOLERANCE


# --- equations ----------------------------------------------------------------------------------

def _symbol(value: Value) -> Any | None:
    return value.exact if not value.is_plain and value.exact.is_Symbol else None


def _constant(value: Value) -> bool:
    return value.is_plain or not value.exact.free_symbols


def _solved(eq: Equation) -> tuple[Any, Value] | None:
    """``(x, 5)`` for ``x = 5`` or ``5 = x``: a lone variable equal to a constant."""
    for var, value in ((eq.lhs, eq.rhs), (eq.rhs, eq.lhs)):
        if _symbol(var) is not None and _constant(value):
            return _symbol(var), value
    return None


def equation_value_equal(eq: Equation, value: Value, rules: Rules = DEFAULT_RULES) -> bool:
    """``x = 5`` against ``5``: the side opposite a lone variable (else the right side)."""
    if _symbol(eq.rhs) is not None and _symbol(eq.lhs) is None:
        return values_equal(eq.lhs, value, rules)
    return values_equal(eq.rhs, value, rules)


def equations_equal(a: Equation, b: Equation, rules: Rules = DEFAULT_RULES) -> bool:
    """The same variable equal to the same constant (``x = 5`` vs ``5 = x``), or the same
    solutions: ``lhs - rhs`` of one is a non-zero constant times the other's (``y = 2x + 1`` vs
    ``2x + 1 = y`` or ``2y = 4x + 2``)."""
    solved_a, solved_b = _solved(a), _solved(b)
    if solved_a is not None and solved_b is not None:
        return solved_a[0] == solved_b[0] and values_equal(solved_a[1], solved_b[1], rules)
    da = _sympy(a.lhs.exact) - _sympy(a.rhs.exact)
    db = _sympy(b.lhs.exact) - _sympy(b.rhs.exact)
    if not (da.free_symbols or db.free_symbols):
        return constants_equal(da, db)  # two numeric statements, e.g. 2 + 3 = 5
    return proportional(da, db)


def proportional(x: Any, y: Any) -> bool:
    """``x = c * y`` for a constant ``c != 0``, checked at the fixed points."""
    sp = _sp()
    symbols = sorted(x.free_symbols | y.free_symbols, key=str)
    ratio = None
    defined = 0
    for k in range(len(_POINTS)):
        subs = {s: sp.Rational(_POINTS[(k + 3 * j) % len(_POINTS)]) for j, s in enumerate(symbols)}
        vx, vy = x.evalf(_CONSTANT_DIGITS, subs=subs), y.evalf(_CONSTANT_DIGITS, subs=subs)
        if not (vx.is_number and vy.is_number) or any(v.has(sp.nan, sp.zoo, sp.oo) for v in (vx, vy)):
            continue
        if _real(vx) != _real(vy):
            continue
        zero_x, zero_y = (constants_equal(v, sp.Integer(0), _POINT_TOLERANCE) for v in (vx, vy))
        if zero_x or zero_y:
            if zero_x != zero_y:
                return False  # a solution of one equation only
            continue
        q = vx / vy
        if ratio is None:
            ratio = q
        elif not constants_equal(q, ratio, _POINT_TOLERANCE):
            return False
        defined += 1
        if defined >= 6:
            break
    return defined >= 3


# --- collections and intervals -------------------------------------------------------------------

def items_equal(a: Items, b: Items, rules: Rules = DEFAULT_RULES) -> bool:
    """Tuples in order, sets as sets, bare lists as the other side says (see the module doc)."""
    brackets = {a.bracket, b.bracket}
    if "{" in brackets and brackets & {"(", "["}:
        return False  # a set is never a tuple
    if a.bracket in "([" and b.bracket in "([" and a.bracket and b.bracket:
        if a.bracket != b.bracket and len(a.items) == 2:
            return False  # (1, 2) and [1, 2] differ as intervals
        ordered = True
    elif brackets & {"(", "["}:
        ordered = True  # a bare list against a tuple: in order
    else:
        ordered = not rules.unordered_lists and brackets == {""}
    if ordered:
        return len(a.items) == len(b.items) and all(
            equivalent(x, y, rules) for x, y in zip(a.items, b.items))
    return all(any(equivalent(x, y, rules) for y in b.items) for x in a.items) and \
        all(any(equivalent(x, y, rules) for x in a.items) for y in b.items)


def _as_intervals(answer: Answer) -> Intervals | None:
    if isinstance(answer, Intervals):
        return answer
    if isinstance(answer, Items) and answer.bracket == "(" and len(answer.items) == 2 and \
            all(isinstance(v, Value) and not v.percent for v in answer.items):
        left, right = (_sympy(v.exact) for v in answer.items)
        return Intervals(((left, right, True, True),), answer.text)  # (a, b) read as an open interval
    return None


def intervals_equal(a: Intervals | None, b: Intervals | None) -> bool:
    if a is None or b is None or len(a.pieces) != len(b.pieces):
        return False
    key = lambda piece: _order(piece[0])  # noqa: E731
    for (la, ra, loa, roa), (lb, rb, lob, rob) in zip(sorted(a.pieces, key=key), sorted(b.pieces, key=key)):
        if (loa, roa) != (lob, rob) or not (_end_equal(la, lb) and _end_equal(ra, rb)):
            return False
    return True


def _end_equal(x: Any, y: Any) -> bool:
    if x == y:
        return True
    if x.is_infinite or y.is_infinite or x.free_symbols or y.free_symbols:
        return False
    return constants_equal(x, y)


def _order(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("inf")


# --- helpers -------------------------------------------------------------------------------------

def _sp():
    import sympy

    return sympy


def _sympy(value: Any) -> Any:
    if isinstance(value, Fraction):
        return _sp().Rational(value.numerator, value.denominator)
    return value
