"""judge.math, part 2: reading answers and deciding when two are the same (one test per rule)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from curate_judges.math import Rules
from curate_judges.math.answer import (Choice, Equation, Intervals, Items, Text, Unparsed, Value, leading_choice,
                                       parse_answer)
from curate_judges.math.equivalence import equivalent


def same(answer: str, reference: str, **rules) -> bool:
    return equivalent(parse_answer(answer), parse_answer(reference), Rules(**rules))


def check(pairs: list[tuple[str, str, bool]], **rules) -> None:
    wrong = [(a, r, want) for a, r, want in pairs if same(a, r, **rules) is not want]
    assert not wrong, f"judged wrongly (answer, reference, expected): {wrong}"


# --- reading: the shape of an answer -------------------------------------------------------------------

@pytest.mark.parametrize("text, shape", [
    ("42", Value), ("1,000 dollars", Value), (r"\frac{1}{2}", Value), ("x^2+1", Value), ("50%", Value),
    ("x = 5", Equation), ("(1, 2)", Items), (r"\{1, 2\}", Items), ("1, 2", Items), ("2 or 3", Items),
    ("[1, 2)", Intervals), (r"x \geq 3", Intervals), (r"(-\infty, 0) \cup (1, 2]", Intervals),
    ("(B)", Choice), (r"\text{Yes}", Text), ("no solution", Text), (r"\frac{1}{", Unparsed),
])
def test_shapes(text, shape):
    assert isinstance(parse_answer(text), shape), parse_answer(text)


def test_plain_numbers_are_exact_fractions_without_sympy():
    value = parse_answer("1,234.50")
    assert value.exact == Fraction(246900, 200) and value.decimals == 2 and value.significant == 6
    assert parse_answer("3 1/2").exact == Fraction(7, 2)
    assert parse_answer(r"-2\frac{1}{4}").exact == Fraction(-9, 4)
    assert parse_answer("1 000 000").exact == 1_000_000
    assert parse_answer("five").exact == 5


def test_leading_choice():
    assert leading_choice("(B) 12") == "B"
    assert leading_choice(r"\textbf{(E)}") == "E"
    assert leading_choice("Option C") == "C"
    assert leading_choice("(b)") == "B"
    assert leading_choice("(A) or (C)") is None  # two letters: no choice
    assert leading_choice("12") is None


# --- one test per category ----------------------------------------------------------------------------

def test_integers_thousands_units_currency():
    check([("1,000", "1000", True), ("$1,000", "1000", True), ("1,000 dollars", "1000", True),
           (r"1{,}000", "1000", True), (r"18 \text{ dollars}", "18", True), (r"5 \text{ cm}^2", "5", True),
           ("12 square feet", "12", True), ("5cm", "5", True), ("1.000", "1000", False), ("2,50", "250", False),
           ("-7", "7", False), ("1,001", "1000", False)])


def test_decimals_fractions_mixed_numbers_are_exact():
    check([("0.5", r"\frac{1}{2}", True), ("1.50", "1.5", True), (".75", r"\frac34", True),
           ("0.33", r"\frac13", False), ("0.333", r"\frac13", False), ("12", "1.2", False),
           (r"3\frac{1}{2}", "3.5", True), (r"\frac{3}{2}", r"3\frac{1}{2}", False),
           (r"0.\overline{3}", r"\frac13", True), (r"0.1\overline{6}", r"\frac16", True),
           (r"0.\overline{6}", r"\frac13", False)])


def test_percent_is_a_unit():
    check([("50%", "50", True), ("50%", "0.5", True), (r"50\%", r"\frac12", True), ("25 percent", "25", True),
           ("0.5%", "50%", False), ("5%", "50", False), ("33%", r"\frac13", False), ("12.5%", "0.125", True)])
    check([("50%", "0.5", False), ("50%", "50", True)], percent_as_fraction=False)


def test_irrationals_match_decimals_rounded_or_truncated_to_the_digits_given():
    check([("1.41", r"\sqrt2", True), ("1.414", r"\sqrt2", True), ("1.4142", r"\sqrt 2", True),
           ("1.42", r"\sqrt2", False), ("1.4", r"\sqrt2", False), ("3.14", r"\pi", True),
           ("3.1415", r"\pi", True), ("3.1416", r"\pi", True), ("3.15", r"\pi", False), ("22/7", r"\pi", False),
           ("28.27", r"9\pi", True), (r"9\pi", "28.3", True), ("2.718", "e", True)])
    check([("1.41", r"\sqrt2", False)], rounded_irrationals=False)
    check([("1.4", r"\sqrt2", True), ("1.41", r"\sqrt2", True)], min_significant_digits=2)
    check([("1.41", r"\sqrt2", False), ("1.414", r"\sqrt2", True)], min_significant_digits=4)


def test_exact_constants():
    check([(r"\frac{\sqrt2}{2}", r"\frac{1}{\sqrt2}", True), (r"2\sqrt3", r"\sqrt{12}", True),
           (r"\sqrt2+\sqrt3", r"\sqrt{5+2\sqrt6}", True), (r"3\sqrt2", r"2\sqrt3", False),
           (r"\log_2 8", "3", True), (r"e^{i\pi}", "-1", True), ("1-2i", "-2i+1", True), ("1+2i", "1-2i", False)])


def test_scientific_notation():
    check([(r"6.02 \times 10^{23}", "6.02e23", True), (r"1.5 \cdot 10^{-3}", "0.0015", True),
           ("2.5E+4", "25000", True), (r"1.5 \times 10^{-3}", "0.015", False),
           (r"6.02\times10^{22}", "6.02e23", False)])


def test_latex_forms():
    check([(r"\dfrac{3}{4}", r"\frac34", True), (r"\left(\frac12\right)", "0.5", True), (r"2 \cdot 3^{2}", "18", True),
           (r"45^\circ", "45", True), (r"45^{\circ}", "45", True), (r"\mathbf{12}", "12", True),
           (r"\binom{5}{2}", "10", True), (r"\left| -3 \right|", "3", True), ("10!", "3628800", True),
           (r"\sqrt[3]{2}", "2^{1/3}", True), (r"30^\circ", "60", False), (r"\frac12", r"-\frac12", False)])


def test_expressions_are_compared_symbolically():
    check([("x^2+2x+1", "(x+1)^2", True), (r"\frac{x^2-1}{x-1}", "x+1", True), ("3(a+b)", "3a+3b", True),
           (r"\sin^2 x + \cos^2 x", "1", True), (r"\ln(xy)", r"\ln x + \ln y", True), ("x^2+1", "x^2-1", False),
           ("2x", "x^2", False), ("(a-b)^2", "a^2-b^2", False), (r"\sqrt{x^2}", "x", False),
           ("2^{x}+1", r"2 \cdot 2^{x}", False)])


def test_equations():
    check([("x = 5", "5", True), ("5", "x = 5", True), ("x = -5", "5", False), ("2x+1=y", "y=2x+1", True),
           ("y = 2x+1", "2x+1", True), ("2y = 4x+2", "y = 2x+1", True), ("y = 2x-1", "y = 2x+1", False),
           ("y = 5", "x = 5", False), ("x^2+y^2=25", "x^2+y^2-25=0", True), ("x = 2, y = 3", "x=2, y=3", True),
           ("x = 3, y = 2", "x=2, y=3", False)])


def test_tuples_are_ordered_sets_are_not_and_never_equal():
    check([(r"\{1, 2\}", r"\{2, 1\}", True), ("(1, 2)", "(1, 2)", True), ("(2, 1)", "(1, 2)", False),
           ("(1, 2)", r"\{2, 1\}", False), (r"\{1, 2\}", "(1, 2)", False), ("2, 3", "3, 2", True),
           ("x = 2 or x = 3", "2, 3", True), ("2, 3", "2, 3, 4", False), (r"\{1, 2, 2\}", r"\{1, 2\}", True),
           (r"\emptyset", r"\{\}", True), (r"-1 \pm \sqrt3", r"-1+\sqrt3, -1-\sqrt3", True),
           (r"\begin{pmatrix} 1 \\ -2 \end{pmatrix}", "(1, -2)", True), ("(1,2), (3,4)", "(3,4), (1,2)", True)])
    check([("2, 3", "3, 2", False), ("2, 3", "2, 3", True)], unordered_lists=False)


def test_intervals_and_inequalities():
    check([("[1, 2)", r"1 \le x < 2", True), ("(1, 2]", "[1, 2)", False), ("(3, \\infty)", "x > 3", True),
           (r"[3, \infty)", "x > 3", False), (r"(-\infty,-1)\cup(1,\infty)", r"x<-1 \text{ or } x>1", True),
           (r"x \geq 0", r"[0, \infty)", True), (r"(-\infty, \infty)", r"\mathbb{R}", True),
           ("0 < x < 5", "(0, 5)", True), ("5 > x > 0", "(0, 5)", True),
           (r"x \neq 3", r"(-\infty,3)\cup(3,\infty)", True), (r"(-\infty,-3)\cup(3,\infty)", "|x| > 3", True),
           (r"[-2, 2]", r"x^2 \le 4", True), ("[2, 6]", "[2, 5]", False)])


def test_text_answers():
    check([(r"\text{Yes}", "yes", True), ("Yes.", "yes", True), ("no", "yes", False),
           ("yes, because 7 is prime", "Yes", True), ("Monday", "monday", True), ("the north pole", "North Pole", True),
           (r"\text{Tuesday}", "Monday", False), ("even", "odd", False), ("five", "5", True)])


def test_multiple_choice_letters():
    check([("B", "(B)", True), ("(B)", "B", True), (r"\text{(D)}", "D", True), ("(C)", "B", False)])


def test_unparsed_answers_compare_as_text():
    assert same(r"\frac{1}{", r"\frac{1}{") is True
    assert same(r"\frac{1}{", "1") is False


def test_polynomial_and_absolute_value_inequalities_are_solved():
    check([(r"(1, 2) \cup (3, \infty)", "(x-1)(x-2)(x-3) > 0", True), ("(-1, 3)", "|x-1| < 2", True),
           (r"[-1, 3]", r"|x| + |x-2| \le 4", True), (r"(-\infty, \infty)", r"x^2 \ge 0", True),
           (r"(2^{1/3}, \infty)", "x^3 > 2", True), ("[-1, 3]", "|x-1| < 2", False),
           (r"(-\infty,-2)\cup(-2,2)\cup(2,\infty)", r"x^2 \neq 4", True)])
    assert isinstance(parse_answer("x^{1000} < 3"), Unparsed)  # beyond degree 4: not solved
    assert isinstance(parse_answer("1/x > 2"), Unparsed)  # not polynomial
