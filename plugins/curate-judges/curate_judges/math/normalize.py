"""Text clean-up before parsing: LaTeX presentation commands, units, currency, thousands separators,
and the normal form of text answers.

Everything here is plain string work (no sympy), so the common answers — integers, decimals,
fractions written ``a/b`` — never pay for a symbolic parser.
"""

from __future__ import annotations

import re
from fractions import Fraction
from functools import lru_cache

# --- braces -------------------------------------------------------------------------------------


def matching_brace(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``{`` at ``start`` (escaped ``\\{``/``\\}`` do not count);
    -1 when it is never closed."""
    depth = 0
    i = start
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


@lru_cache(maxsize=64)
def _command_pattern(names: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\\(?:%s)(?![A-Za-z])\s*" % "|".join(map(re.escape, names)))


def command_args(text: str, names: tuple[str, ...]) -> list[tuple[int, int, str]]:
    """Every ``\\name{arg}`` of ``names`` in ``text``: ``(start, end, arg)``, outermost first, the
    argument with nested braces intact. A command without a braced argument is skipped."""
    found = []
    pattern = _command_pattern(names)
    pos = 0
    while (m := pattern.search(text, pos)) is not None:
        if m.end() < len(text) and text[m.end()] == "{":
            close = matching_brace(text, m.end())
            if close != -1:
                found.append((m.start(), close + 1, text[m.end() + 1:close]))
                pos = close + 1
                continue
        pos = m.end()
    return found


def unwrap(text: str, names: tuple[str, ...], pad: bool = False) -> str:
    """Replace ``\\name{arg}`` by ``arg`` (with spaces around it when ``pad``), innermost too."""
    for _ in range(8):  # nested wrappers: \text{\textbf{x}}
        spans = command_args(text, names)
        if not spans:
            return text
        out, last = [], 0
        for start, end, arg in spans:
            out += [text[last:start], f" {arg} " if pad else arg]
            last = end
        text = "".join(out) + text[last:]
    return text


# --- LaTeX clean-up -------------------------------------------------------------------------------

_UNICODE = {
    "\u2212": "-", "\u2013": "-", "\u2014": "-", "\u00d7": r"\times ", "\u22c5": r"\cdot ", "\u00b7": r"\cdot ",
    "\u00f7": r"\div ", "\u2264": r"\leq ", "\u2265": r"\geq ", "\u2260": r"\neq ", "\u03c0": r"\pi ",
    "\u221e": r"\infty ", "\u222a": r"\cup ", "\u2229": r"\cap ", "\u00b0": r"^\circ", "\u00b2": "^2",
    "\u00b3": "^3", "\u221a": r"\sqrt", "\u00bd": "1/2", "\u00bc": "1/4", "\u00be": "3/4", "\u00a0": " ",
    "\u2009": " ", "\u202f": " ", "\u2248": "=", "\u2205": r"\emptyset ", "\u2208": r"\in ",
}
_ALIASES_SOURCE = [
    (r"\\[dtc]frac(?![A-Za-z])", r"\\frac"), (r"\\[dt]binom(?![A-Za-z])", r"\\binom"),
    (r"\\(?:le|leqslant)(?![A-Za-z])", r"\\leq"), (r"\\(?:ge|geqslant)(?![A-Za-z])", r"\\geq"),
    (r"\\lt(?![A-Za-z])", "<"), (r"\\gt(?![A-Za-z])", ">"), (r"\\ne(?![A-Za-z])", r"\\neq"),
    (r"\\(?:varnothing)(?![A-Za-z])", r"\\emptyset"), (r"\\lbrace(?![A-Za-z])", r"\\{"),
    (r"\\rbrace(?![A-Za-z])", r"\\}"), (r"\\land(?![A-Za-z])", " and "), (r"\\lor(?![A-Za-z])", " or "),
    (r"\\varpi(?![A-Za-z])", r"\\pi"), (r"\\approx(?![A-Za-z])", "="), (r"\\colon(?![A-Za-z])", ":"), (r"\\vert(?![A-Za-z])", "|"),
    (r"\\lvert(?![A-Za-z])|\\rvert(?![A-Za-z])", "|"), (r"\\mid(?![A-Za-z])", "|"),
]
_ALIASES = [(re.compile(pattern), repl) for pattern, repl in _ALIASES_SOURCE]
_LEFT_RIGHT = re.compile(r"\\left\s*\.|\\right\s*\.|\\(?:left|right)(?![A-Za-z])\s*")
_LATEX_THOUSANDS = re.compile(r"(?<=\d)(?:\{,\}|\\,|\\ |~|\\!|\\;)(?=\d{3}(?!\d))")  # 1{,}000, 1\,000
_OPERATORNAME = re.compile(r"\\operatorname\*?\{([A-Za-z]+)\}")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_POWER = re.compile(r"\s+(?=\^)")  # "cm ^2" after unwrapping \text{ cm}^2
_TRAILING = re.compile(r"(?:\\\\|[.,;:?]|(?<![\w)}])!)+$")  # a full stop, a trailing \\ (not 5!)
_LEADING = re.compile(r"^(?:\\quad|=)\s*")
_SPECIAL = re.compile(r"[\\$~{\u0080-\uffff]")
#: Commands that only change how things look.
_PRESENTATION = re.compile(
    r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits|big|Big|bigg|Bigg|bigl|bigr|Bigl|Bigr|"
    r"biggl|biggr|Biggl|Biggr|middle|quad|qquad|hfill|phantom\{[^{}]*\}|!|,|;|:|>| )(?![A-Za-z])")
_WRAPPERS = ("text", "textrm", "textnormal", "textbf", "textit", "textsf", "texttt", "mathrm", "mathbf",
             "mathit", "mathsf", "mathtt", "boldsymbol", "bm", "mbox", "hbox", "emph", "underline",
             "overline", "mathnormal", "boxed", "fbox", "framebox")
_MATRIX = re.compile(r"\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*?)\\end\{\1\}", re.S)


def _matrix_as_tuple(m: re.Match) -> str:
    rows = [r for r in (row.strip() for row in m.group(2).split(r"\\")) if r]
    cells = [[c.strip() for c in row.split("&")] for row in rows]
    if all(len(r) == 1 for r in cells):  # a column vector
        return "(" + ", ".join(r[0] for r in cells) + ")"
    return "(" + ", ".join("(" + ", ".join(r) + ")" for r in cells) + ")"


_REPEATING = re.compile(r"(?<![\d.])(-?)(\d*)\.(\d*)\\(?:overline|bar)\{(\d+)\}")


def _repeating_as_fraction(m: re.Match) -> str:
    r"""``0.1\overline{6}`` as ``\frac{1}{6}``: a repeating decimal written exactly."""
    sign, whole, fixed, period = m.groups()
    value = Fraction(int(whole or "0")) + Fraction(int(fixed or "0"), 10 ** len(fixed)) + Fraction(
        int(period), (10 ** len(period) - 1) * 10 ** len(fixed))
    return f"{sign}\\frac{{{value.numerator}}}{{{value.denominator}}}"


def clean(text: str) -> str:
    """LaTeX and plain answers to one spelling: math delimiters, ``$`` and presentation commands
    removed, ``\\dfrac`` as ``\\frac``, unicode symbols as commands, ``\\text{..}`` unwrapped, thousands
    separators joined, matrices as tuples, trailing punctuation dropped, spaces collapsed."""
    s = text.strip()
    if _SPECIAL.search(s):  # LaTeX, dollars or unicode: the full treatment
        for char, repl in _UNICODE.items():
            if char in s:
                s = s.replace(char, repl)
        s = _MATRIX.sub(_matrix_as_tuple, s)
        s = _REPEATING.sub(_repeating_as_fraction, s)
        s = _LEFT_RIGHT.sub("", s)
        s = s.replace(r"\$", "").replace("$", "").replace(r"\(", "").replace(r"\)", "")
        s = s.replace(r"\[", "").replace(r"\]", "")
        s = _LATEX_THOUSANDS.sub(",", s)
        for pattern, repl in _ALIASES:
            s = pattern.sub(repl, s)
        s = _OPERATORNAME.sub(r"\\\1", s)
        s = unwrap(s, _WRAPPERS, pad=True)
        s = _PRESENTATION.sub(" ", s)
        s = s.replace("~", " ").replace(r"\%", "%")
    s = _SPACES.sub(" ", s).strip()
    s = _SPACE_BEFORE_POWER.sub("", s)
    s = _TRAILING.sub("", s).strip()
    return _LEADING.sub("", s)


def strip_outer(s: str) -> str:
    """Drop braces wrapping the whole answer: ``{5}`` is ``5`` (``\\{5\\}``, a set, stays)."""
    while s.startswith("{") and not s.startswith(r"\{") and matching_brace(s, 0) == len(s) - 1:
        s = s[1:-1].strip()
    return s


# --- units, currency, degrees, percent -------------------------------------------------------------

#: Words that are mathematics, never a unit, when they follow a number.
_MATH_WORDS = frozenset("""pi sin cos tan sec csc cot log ln exp sqrt or and""".split())
_UNIT_WORD = re.compile(r"[A-Za-z][A-Za-z.']*(?:\^\{?[23]\}?|[23])?(?:/[A-Za-z]+)?$")
#: Units written directly after a number (``5cm``); a longer word needs a space before it.
_ATTACHED_UNIT = re.compile(
    r"(?<=\d)\s*(?:cm|mm|km|kg|mg|ml|mL|ft|yd|mi|in|lbs?|oz|hrs?|mins?|secs?|mph|kph|m/s|km/h|"
    r"sq\.?\s*(?:ft|in|m|cm|units?))(?:\^\{?[23]\}?|[23])?$")
_CURRENCY = re.compile(r"^(?:USD|US\$|Rs\.?|INR|EUR|GBP|[€£¥₹])\s*(?=[-+\d.])")
_DEGREES = re.compile(r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|\s+degrees?)$")
_PERCENT = re.compile(r"\s*(?:%|\s+percent)$")


def strip_units(s: str) -> str:
    """Remove a unit after a number or expression: ``18 dollars``, ``5 \\text{ cm}^2`` (already
    unwrapped), ``12 square feet``, ``60 km/h``, ``5cm``. Words that are mathematics (``pi``, single
    letters) are kept, and nothing is removed when no number would remain."""
    s = _ATTACHED_UNIT.sub("", s).strip()
    words = s.split(" ")
    while len(words) > 1:
        last = words[-1]
        letters = re.match(r"[A-Za-z.']*", last).group().rstrip(".")
        if len(letters) < 2 or not _UNIT_WORD.match(last) or letters.lower() in _MATH_WORDS:
            break  # a single letter (r^2 too) is a variable, never a unit
        words.pop()
    rest = " ".join(words)
    return rest if rest and re.search(r"[\d)}]\.?$|\\pi$|\\infty$", rest) else s


def strip_currency(s: str) -> str:
    return _CURRENCY.sub("", s)


def split_percent(s: str) -> tuple[str, bool]:
    """``("50", True)`` for ``50%`` / ``50 percent``; the text unchanged and False otherwise."""
    m = _PERCENT.search(s)
    return (s[:m.start()].strip(), True) if m and m.start() > 0 else (s, False)


def strip_degrees(s: str) -> str:
    m = _DEGREES.search(s)
    return s[:m.start()].strip() if m and m.start() > 0 else s


# --- plain numbers (no sympy) ----------------------------------------------------------------------

_PLAIN_NUMBER = re.compile(r"^([-+])?\s*(\d{1,3}(?:,\d{3})+|\d+)?(?:\.(\d+))?(?:[eE]([-+]?\d+))?$")
_SIMPLE_FRACTION = re.compile(r"^([-+])?\s*(\d+)\s*/\s*(\d+)$")
_MIXED = re.compile(r"^([-+])?\s*(\d+)\s+(\d+)\s*/\s*(\d+)$|^([-+])?\s*(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$")
_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80,
                      "ninety": 90, "hundred": 100, "thousand": 1000, "million": 10 ** 6, "half": Fraction(1, 2)})


class PlainNumber:
    """A number read without sympy: its exact value, and for decimals the digits written after
    the point and the significant digits (the rounding rule needs both)."""

    __slots__ = ("value", "decimals", "significant")

    def __init__(self, value: Fraction, decimals: int | None = None, significant: int | None = None):
        self.value, self.decimals, self.significant = value, decimals, significant


def is_thousands(s: str) -> bool:
    """``1,000`` or ``12,345.5``: a number with thousands separators, not a list of two numbers."""
    return re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s) is not None


_SPACED_THOUSANDS = re.compile(r"^([-+]?\d{1,3})((?: \d{3})+)((?:\.\d+)?)$")


def plain_number(s: str) -> PlainNumber | None:
    """Integers (thousands separated by commas or spaces), decimals, ``3e5``, ``a/b``, mixed numbers
    (``3 1/2``, ``3\\frac{1}{2}``) and number words; ``None`` for anything else."""
    if m := _SPACED_THOUSANDS.match(s):
        s = m.group(1) + m.group(2).replace(" ", ",") + m.group(3)
    m = _PLAIN_NUMBER.match(s)
    if m and (m.group(2) or m.group(3)):
        sign, whole, frac, exp = m.groups()
        value = Fraction(int((whole or "0").replace(",", "")))
        if frac:
            value += Fraction(int(frac), 10 ** len(frac))
        if exp:
            if abs(int(exp)) > 400:
                return None  # left to the expression parser and its size limits
            value *= Fraction(10) ** int(exp)
        if sign == "-":
            value = -value
        decimals = significant = None
        if frac and not exp:
            digits = ((whole or "").replace(",", "") + frac).lstrip("0")
            decimals, significant = len(frac), len(digits)
        return PlainNumber(value, decimals, significant)
    if m := _SIMPLE_FRACTION.match(s):
        if int(m.group(3)) == 0:
            return None
        value = Fraction(int(m.group(2)), int(m.group(3)))
        return PlainNumber(-value if m.group(1) == "-" else value)
    if m := _MIXED.match(s):
        sign, whole, num, den = m.groups()[:4] if m.group(2) else m.groups()[4:]
        if int(den) == 0:
            return None
        value = int(whole) + Fraction(int(num), int(den))
        return PlainNumber(-value if sign == "-" else value)
    word = s.lower()
    if word in _NUMBER_WORDS:
        return PlainNumber(Fraction(_NUMBER_WORDS[word]))
    return None


# --- text answers -----------------------------------------------------------------------------------

_ARTICLES = re.compile(r"^(?:the|a|an)\s+")


def text_key(s: str) -> str:
    """The normal form of a text answer: case, punctuation, spacing, quotes and a leading article
    do not count (``"Yes."``, ``yes``, ``\\text{Yes}`` are one answer)."""
    s = clean(s).lower()
    s = re.sub(r"[\"'`*_{}]", "", s)
    s = re.sub(r"[^\w\s\\^+\-/=<>().,]", " ", s)
    s = re.sub(r"\s+", " ", s).strip(" .,;:!?")
    return _ARTICLES.sub("", s)


def loose_key(s: str) -> str:
    """The answer's text without spaces and presentation: the last resort for answers that do not
    parse (equal keys are equal answers)."""
    return re.sub(r"\s+", "", clean(s)).lower()
