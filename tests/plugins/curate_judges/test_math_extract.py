"""judge.math, part 1: finding the final answer in a response and in a reference."""

from __future__ import annotations

import pytest

from curate_judges.math import final_answers, reference_answer
from curate_judges.math.extract import boxed_contents


def answers(response: str, **kw) -> list[tuple[str, str]]:
    return [(c.text, c.source) for c in final_answers(response, **kw)]


# --- \boxed ------------------------------------------------------------------------------------------

def test_boxed_keeps_nested_braces():
    assert boxed_contents(r"so $\boxed{\frac{a+1}{\sqrt{\frac{b}{2}}}}$.") == [r"\frac{a+1}{\sqrt{\frac{b}{2}}}"]


def test_boxed_variants():
    assert boxed_contents(r"\fbox{42} and \boxed 7$ and \boxed {x}") == ["42", "7", "x"]
    assert boxed_contents(r"\boxed{} \boxed{unclosed") == []  # empty and unclosed boxes are no answer


def test_every_box_is_a_candidate_in_order():
    assert answers(r"\boxed{3} then \boxed{4}") == [("3", "boxed"), ("4", "boxed")]


# --- GSM8K #### --------------------------------------------------------------------------------------

def test_gsm8k_marker_on_the_last_line():
    assert answers("5 * 3 = 15\n#### 15") == [("15", "####")]
    assert answers("#### 1,234 dollars\n") == [("1,234 dollars", "####")]


def test_markdown_headings_are_not_the_marker():
    # a level-4 heading in the middle, or one naming a section, is not GSM8K's answer line
    assert answers("#### 12\nThen we add 3 more to get 15.") == [("15", "concluding sentence")]
    assert answers("The sum is 9.\n#### Final Answer") == [("9", "concluding sentence")]


# --- answer phrases ----------------------------------------------------------------------------------

@pytest.mark.parametrize("response, expected", [
    ("The answer is 27.", "27"),
    ("Therefore the final answer is 3.5.", "3.5"),
    ("Final answer: x = 4", "x = 4"),
    ("**Answer:** 64", "64"),
    ("The correct answer is (C).", "(C)"),
    ("The correct option is A.", "A"),
    ("The answer to the question is 12.", "12"),
    ("So the answer would be $\\frac{3}{4}$ of the cake.", "\\frac{3}{4}"),
    ("The answer is \\(2\\sqrt{3}\\).", "2\\sqrt{3}"),
    ("The final answer is:\n\n42", "42"),
    ("The final answer is:\n$$x^2 + 1$$", "x^2 + 1"),
    ("The answer is 10 because each of the 2 boxes holds 5.", "10"),
    ("The answer is 5 apples, but only if none are eaten.", "5 apples"),
    ("The answer is that she needs 5 more apples.", "5"),
    ("Answer: The cost is $5 per apple, so for 3 apples it is $15.", "15"),
    ("The answer is yes, since 7 is prime.", "yes"),
])
def test_answer_phrases(response, expected):
    assert answers(response) == [(expected, "answer phrase")]


def test_minerva_format_gives_one_answer():
    found = answers("Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.")
    assert {text for text, _ in found} == {"\\frac{3}{4}"}


@pytest.mark.parametrize("response", [
    "The answer is not obvious, so we compute.",
    "The answer is as follows: first we add.",
    "To find the answer, we add the numbers.",
])
def test_phrases_that_introduce_no_answer(response):
    assert [s for _, s in answers(response, concluding_sentence=False)] == []


def test_phrase_and_box_are_both_candidates():
    assert answers("The answer is 12. Hence \\boxed{13}.") == [("13", "boxed"), ("12", "answer phrase")]
    # a box right after the phrase is the phrase's answer
    assert answers("The answer is \\boxed{5}.") == [("5", "boxed"), ("5", "answer phrase")]


# --- the concluding sentence -------------------------------------------------------------------------

@pytest.mark.parametrize("response, expected", [
    ("Janet sells 9 eggs. She makes 9 * 2 = 18 dollars every day.", "18"),
    ("So she has $18 left.", "18"),
    ("Therefore, $x = 7$.", "x = 7"),
    ("Adding, $3 + 5 = 8$.", "8"),
    ("Solving gives\n$$x = \\frac{5}{2}$$", "x = \\frac{5}{2}"),
    ("So Janet makes $18 per day at the market, which is 2 times 9.", "18"),
    ("The total is 12 cookies.\n\nLet me know if you need anything else!", "12"),
    ("We get 1,250 in the end.", "1,250"),
])
def test_concluding_sentence(response, expected):
    assert answers(response) == [(expected, "concluding sentence")]


def test_concluding_sentence_only_without_a_marker_and_when_allowed():
    assert answers("So the answer is 4. In total 5 apples were eaten.") == [("4", "answer phrase")]
    assert answers("She makes 18 dollars.", concluding_sentence=False) == []
    assert answers("I do not know how to do this.") == []


# --- reasoning blocks --------------------------------------------------------------------------------

def test_only_the_text_after_thinking_counts():
    assert answers("<think>maybe \\boxed{5}</think>The answer is 6.") == [("6", "answer phrase")]
    assert answers("<think>the answer is 6, probably") == []  # still thinking: no answer yet


def test_empty_response():
    assert answers("") == [] and answers("   \n") == []


# --- references ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("reference, expected", [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\nAltogether 72 clips.\n#### 72", "72"),
    ("#### 1,000", "1,000"),
    ("The probability is $\\frac{2}{8} = \\boxed{\\frac{1}{4}}$.", "\\frac{1}{4}"),
    ("First $x=\\boxed{2}$ is rejected, so $y=\\boxed{3}$.", "3"),
    ("\\frac{1}{2}", "\\frac{1}{2}"),
    ("  42.  ", "42"),
    ("We add the two parts and simplify the fraction carefully, step by step.\nThe answer is 7.", "7"),
])
def test_reference_answer(reference, expected):
    assert reference_answer(reference) == expected


def test_reference_without_an_answer():
    assert reference_answer(None) is None
    assert reference_answer("   ") is None
    assert reference_answer("The solution follows.\n####   ") is None
