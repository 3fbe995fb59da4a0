"""A small parser from LaTeX or plain-text mathematics to sympy, safe on adversarial input.

Why not ``sympy.parse_expr``: it ``eval``s its input (a response is untrusted text) and evaluates
``9^{9^{9}}`` before anything can stop it. This parser reads a fixed grammar — numbers, letters,
``+ - * / ^ !``, brackets, ``|x|``, ``\\frac``, ``\\sqrt``, ``\\binom``, ``\\log_b``, named functions,
implicit multiplication — and builds sympy objects bottom-up, bounding the digits of every number
before it is computed (:mod:`curate_judges.math.limits`). Anything else is a :class:`ParseError`.

Conventions: ``e`` is Euler's number and ``i`` the imaginary unit; a run of two or three letters is
a product (``xy``), a longer unknown word is not mathematics; ``2^10`` is ``2^{10}``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from curate_judges.math import limits


class ParseError(ValueError):
    """The text is not an expression this parser reads."""


FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "sec": "sec", "csc": "csc", "cot": "cot",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "asin": "asin", "acos": "acos", "atan": "atan",
    "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "log": "log", "ln": "log", "exp": "exp", "sqrt": "sqrt",
    "abs": "Abs", "floor": "floor", "ceil": "ceiling",
}
GREEK = frozenset("""alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu nu xi
rho sigma tau upsilon phi varphi chi psi omega Gamma Delta Theta Lambda Xi Sigma Phi Psi Omega""".split())
_CONSTANT_WORDS = {"pi": "pi", "infty": "oo", "inf": "oo", "infinity": "oo"}
_OPERATOR_COMMANDS = {"times": "*", "cdot": "*", "ast": "*", "div": "/"}
_TOKEN = re.compile(r"""
    (?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+(?![A-Za-z]))?|\.\d+)
  | (?P<cmd>\\[A-Za-z]+)
  | (?P<word>[A-Za-z]+)
  | (?P<op>[-+*/^!()\[\]{}|_,])
  | (?P<space>\s+)
""", re.X)


@dataclass(frozen=True)
class Token:
    kind: str  # num, name, const, func, cmd, op, end
    text: str


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text``: numbers, names (letters split as described above), commands, operators."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise ParseError(f"unexpected {text[pos]!r}")
        pos = m.end()
        kind, value = m.lastgroup, m.group()
        if kind == "space":
            continue
        if kind == "num":  # "3e5" is a number; "2e" (no digits after e) is 2 times e
            tokens.append(Token("num", value.rstrip(".") or "0"))
        elif kind == "cmd":
            name = value[1:]
            if name in _OPERATOR_COMMANDS:
                tokens.append(Token("op", _OPERATOR_COMMANDS[name]))
            elif name in FUNCTIONS:
                tokens.append(Token("func", FUNCTIONS[name]))
            elif name in _CONSTANT_WORDS:
                tokens.append(Token("const", _CONSTANT_WORDS[name]))
            elif name in GREEK:
                tokens.append(Token("name", name))
            elif name in ("frac", "binom"):
                tokens.append(Token("cmd", name))
            else:
                raise ParseError(f"unknown command \\{name}")
        elif kind == "word":
            tokens.extend(_word_tokens(value))
        else:
            tokens.append(Token("op", value))
    tokens.append(Token("end", ""))
    return tokens


def _word_tokens(word: str) -> list[Token]:
    lower = word.lower()
    if lower in FUNCTIONS:
        return [Token("func", FUNCTIONS[lower])]
    if lower in _CONSTANT_WORDS:
        return [Token("const", _CONSTANT_WORDS[lower])]
    if len(word) > 3:
        raise ParseError(f"{word!r} is a word, not mathematics")
    out = []
    for letter in word:  # xy is x*y; e and i are constants
        out.append(Token("const", {"e": "E", "i": "I"}[letter]) if letter in "ei" else Token("name", letter))
    return out


# --- the parser -----------------------------------------------------------------------------------

#: Digits of a constant that a transcendental function (exp, sin, log, ...) may be applied to.
_MAX_FUNCTION_DIGITS = 100


def _too_big(value) -> bool:
    """A constant too large for an exact factorial or binomial (or not a real number at all)."""
    if value.free_symbols:
        return False
    try:
        return bool(abs(value) > limits.MAX_FACTORIAL)
    except TypeError:
        return True


def _digits(n: int) -> int:
    return len(str(abs(n))) if abs(n) < 10 ** 50 else int(math.log10(abs(n))) + 1


class _Parser:
    """Recursive descent over tokens. Every method returns ``(sympy expression, size)``, where size
    bounds the digits of the numbers the expression holds."""

    def __init__(self, tokens: list[Token], sp: Any):
        self.tokens, self.pos, self.sp, self.depth, self.in_abs = tokens, 0, sp, 0, 0

    # helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def take(self) -> Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text or tok.kind != "op":
            raise ParseError(f"expected {text!r}, found {tok.text or 'the end'!r}")

    def nest(self) -> None:
        self.depth += 1
        if self.depth > limits.MAX_DEPTH:
            raise limits.TooComplex("nested too deeply")

    # grammar
    def parse(self):
        value = self.sum()
        if self.peek().kind != "end":
            raise ParseError(f"unexpected {self.peek().text!r}")
        return value

    def sum(self):
        left, size = self.product()
        while self.peek().kind == "op" and self.peek().text in "+-":
            op = self.take().text
            right, rsize = self.product()
            left, size = (left + right if op == "+" else left - right), size + rsize + 1
        return left, size

    def starts_operand(self) -> bool:
        tok = self.peek()
        if tok.kind in ("num", "name", "const", "func", "cmd"):
            return True
        return tok.kind == "op" and (tok.text in "([{" or (tok.text == "|" and not self.in_abs))

    def product(self):
        left, size = self.unary()
        while True:
            tok = self.peek()
            if tok.kind == "op" and tok.text in "*/":
                self.take()
                right, rsize = self.unary()
                if tok.text == "/":
                    if right == 0:
                        raise ParseError("division by zero")
                    left = left / right
                else:
                    left = left * right
            elif self.starts_operand():  # implicit multiplication: 2x, 3\sqrt{2}, (x+1)(x-1)
                if tok.kind == "num" and self.tokens[self.pos - 1].kind == "num":
                    raise ParseError("two numbers side by side")  # "1 000", "2 3": never a product
                right, rsize = self.power()
                left = left * right
            else:
                return left, size
            size += rsize
            self.check(size)

    def unary(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in "+-":
            self.take()
            value, size = self.unary()
            return (-value if tok.text == "-" else value), size
        return self.power()

    def power(self):
        base, size = self.postfix()
        if self.peek().kind == "op" and self.peek().text == "^":
            self.take()
            exponent, esize = self.exponent()
            return self.pow(base, size, exponent, esize)
        return base, size

    def exponent(self):
        tok = self.peek()
        if tok.kind == "op" and tok.text in "+-":
            self.take()
            value, size = self.exponent()
            return (-value if tok.text == "-" else value), size
        return self.power()

    def pow(self, base, bsize, exponent, esize):
        if exponent.has(self.sp.oo, self.sp.zoo) or base.has(self.sp.oo):
            raise ParseError("infinite power")
        if exponent.free_symbols or base in (0, 1, -1):
            return self.sp.Pow(base, exponent), bsize + esize
        if esize > 7:
            raise limits.TooComplex("an exponent too large to compute")
        value = abs(complex(self.sp.N(exponent, 15)))
        size = bsize * max(1.0, value)
        self.check(size)
        return self.sp.Pow(base, exponent), int(size) + 1

    def postfix(self):
        value, size = self.atom()
        while self.peek().kind == "op" and self.peek().text == "!":
            self.take()
            value, size = self.factorial(value, size)
        return value, size

    def factorial(self, value, size):
        if not value.free_symbols:
            if not (value.is_integer and value.is_nonnegative) or _too_big(value):
                raise limits.TooComplex(f"factorial of {value}")
            return self.sp.factorial(value), int(value * math.log10(max(int(value), 2))) + 1
        return self.sp.factorial(value), size

    def atom(self):
        tok = self.take()
        sp = self.sp
        if tok.kind == "num":
            exp = re.search(r"[eE]([-+]?\d+)$", tok.text)
            if exp and abs(int(exp.group(1))) > limits.MAX_DIGITS:
                raise limits.TooComplex(f"numbers of more than {limits.MAX_DIGITS} digits")
            value = sp.Rational(tok.text)
            return value, max(_digits(value.p), _digits(value.q))
        if tok.kind == "name":
            name = tok.text
            if self.peek().kind == "op" and self.peek().text == "_":  # x_1, a_{n}
                self.take()
                name += "_" + self.subscript()
            return sp.Symbol(name), 1
        if tok.kind == "const":
            return {"pi": sp.pi, "E": sp.E, "I": sp.I, "oo": sp.oo}[tok.text], 1
        if tok.kind == "func":
            return self.function(tok.text)
        if tok.kind == "cmd":
            return self.command(tok.text)
        if tok.kind == "op" and tok.text in "([{":
            self.nest()
            value = self.sum()
            self.expect({"(": ")", "[": "]", "{": "}"}[tok.text])
            self.depth -= 1
            return value
        if tok.kind == "op" and tok.text == "|" and not self.in_abs:
            self.nest()
            self.in_abs += 1
            value, size = self.sum()
            self.in_abs -= 1
            self.expect("|")
            self.depth -= 1
            return sp.Abs(value), size
        raise ParseError(f"unexpected {tok.text or 'end'!r}")

    def group(self):
        """A braced argument ``{...}``, or a single token (``\\frac12``, ``\\sqrt2``)."""
        tok = self.peek()
        if tok.kind == "op" and tok.text == "{":
            return self.atom()
        if tok.kind == "num" and len(tok.text) > 1 and tok.text.isdigit():  # \frac12: one digit each
            self.tokens[self.pos] = Token("num", tok.text[1:])
            value = self.sp.Integer(tok.text[0])
            return value, 1
        return self.atom()

    def subscript(self) -> str:
        tok = self.take()
        if tok.kind == "op" and tok.text == "{":
            parts = []
            while not (self.peek().kind == "op" and self.peek().text == "}"):
                part = self.take()
                if part.kind == "end":
                    raise ParseError("unclosed subscript")
                parts.append(part.text)
            self.take()
            return "".join(parts)
        if tok.kind in ("num", "name"):
            return tok.text
        raise ParseError("bad subscript")

    def command(self, name: str):
        sp = self.sp
        self.nest()
        if name == "frac":
            num, nsize = self.group()
            den, dsize = self.group()
            if den == 0:
                raise ParseError("division by zero")
            value, size = num / den, nsize + dsize
        elif name == "binom":
            n, nsize = self.group()
            k, ksize = self.group()
            if _too_big(n) or _too_big(k):
                raise limits.TooComplex("binomial too large")
            value, size = sp.binomial(n, k), (nsize + ksize) * 300
        else:  # sqrt, with an optional index: \sqrt[3]{x}
            index = None
            if self.peek().kind == "op" and self.peek().text == "[":
                self.take()
                index, _ = self.sum()
                self.expect("]")
            radicand, size = self.group()
            value = sp.sqrt(radicand) if index is None else sp.root(radicand, index)
        self.depth -= 1
        self.check(size)
        return value, size

    def function(self, name: str):
        sp = self.sp
        if name == "sqrt":  # \sqrt[3]{x}, \sqrt{x}, \sqrt2 (one digit: \sqrt23 is 3\sqrt2), sqrt(x)
            return self.command("sqrt")
        power = None
        base = None
        if name == "log" and self.peek().kind == "op" and self.peek().text == "_":  # \log_2 8
            self.take()
            base, _ = self.group()
        if self.peek().kind == "op" and self.peek().text == "^":  # \sin^2 x
            self.take()
            power, _ = self.exponent()
        self.nest()
        arg, size = self.power()
        self.depth -= 1
        if size > _MAX_FUNCTION_DIGITS and not arg.free_symbols and name not in ("sqrt", "Abs"):
            raise limits.TooComplex(f"{name} of a {size}-digit number")  # evalf would need that precision
        fn = getattr(sp, name)
        value = fn(arg, base) if base is not None else fn(arg)
        if power is not None:
            value = value ** power
        return value, size

    def check(self, size: float) -> None:
        if size > limits.MAX_DIGITS:
            raise limits.TooComplex(f"numbers of more than {limits.MAX_DIGITS} digits")


def parse_expression(text: str):
    """``text`` as a sympy expression, or :class:`ParseError` / :class:`limits.TooComplex`."""
    import sympy

    if len(text) > limits.MAX_ANSWER_CHARS:
        raise limits.TooComplex(f"longer than {limits.MAX_ANSWER_CHARS} characters")
    text = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", text)
    value, _ = _Parser(tokenize(text), sympy).parse()
    if value.has(sympy.zoo, sympy.nan):
        raise ParseError("undefined value")
    return value
