"""The 25 checkers: does a response follow one instruction, given its validated kwargs?

Each function takes the response, the instruction's kwargs (validated by the catalog: types
checked, nulls dropped) and the langdetect seed, and returns a bool; it applies the reference's
normalisations of the kwargs itself (stripped phrases, lowercased letters and words). They
reproduce what IFEval's reference decides, quirks included, because the point is to agree with
published IFEval numbers; the quirks worth knowing are in the comments and in
docs/plugins/judges-ifeval.md. Strict/loose handling and the empty-response rule are
:mod:`.verify`'s job, not theirs.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping

from curate_judges.ifeval.language import detect_language
from curate_judges.ifeval.punkt import count_sentences
from curate_judges.ifeval.words import count_capital_words, count_words

Kwargs = Mapping[str, Any]

#: The answers `detectable_format:constrained_response` accepts (anywhere in the response).
CONSTRAINED_ANSWERS = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


def compare(count: int, relation: str, threshold: int) -> bool:
    """``count < threshold`` for ``less than``, ``count >= threshold`` for ``at least``."""
    return count < threshold if relation == "less than" else count >= threshold


# --- keywords ------------------------------------------------------------------------------------
# Keywords, forbidden words, section splitters and (other) postscript markers are regular
# expressions in the reference, matched ignoring case: "c.t" matches "cat". The catalog checks
# that they compile.

def keywords_existence(response: str, kw: Kwargs, seed: int) -> bool:
    return all(re.search(word, response, flags=re.IGNORECASE) for word in kw["keywords"])


def keywords_frequency(response: str, kw: Kwargs, seed: int) -> bool:
    found = len(re.findall(kw["keyword"].strip(), response, flags=re.IGNORECASE))  # substrings: "war" in "award"
    return compare(found, kw["relation"], kw["frequency"])


def keywords_forbidden_words(response: str, kw: Kwargs, seed: int) -> bool:
    return not any(re.search(rf"\b{word}\b", response, flags=re.IGNORECASE) for word in kw["forbidden_words"])


def keywords_letter_frequency(response: str, kw: Kwargs, seed: int) -> bool:
    # Any single character, counted ignoring case ("#" and "!" appear in IFEval's data).
    return compare(response.lower().count(kw["letter"].lower()), kw["let_relation"], kw["let_frequency"])


# --- language ------------------------------------------------------------------------------------

def language_response_language(response: str, kw: Kwargs, seed: int) -> bool:
    found = detect_language(response, seed)
    return found is None or found == kw["language"]  # nothing to detect (no letters) passes


# --- length --------------------------------------------------------------------------------------

def length_number_sentences(response: str, kw: Kwargs, seed: int) -> bool:
    return compare(count_sentences(response), kw["relation"], kw["num_sentences"])


def length_number_paragraphs(response: str, kw: Kwargs, seed: int) -> bool:
    # Paragraphs are separated by the markdown divider ***; an empty paragraph between two
    # dividers fails the check, one before the first or after the last divider is not counted.
    parts = re.split(r"\s?\*\*\*\s?", response)
    count = 0
    for index, part in enumerate(parts):
        if part.strip():
            count += 1
        elif 0 < index < len(parts) - 1:
            return False
    return count == kw["num_paragraphs"]


def length_number_words(response: str, kw: Kwargs, seed: int) -> bool:
    return compare(count_words(response), kw["relation"], kw["num_words"])


def length_nth_paragraph_first_word(response: str, kw: Kwargs, seed: int) -> bool:
    # Paragraphs are separated by exactly "\n\n". Blank pieces are not counted, yet the n-th
    # paragraph is the n-th piece of the split, blank ones included (as in the reference).
    pieces = response.split("\n\n")
    count = sum(1 for piece in pieces if piece.strip())
    nth = kw["nth_paragraph"]
    if nth > count:
        return False
    paragraph = pieces[nth - 1].strip()
    if not paragraph:
        return False
    word = paragraph.split()[0].strip().lstrip("'").lstrip('"')
    first = ""
    for char in word:  # up to the first punctuation mark, lowercased character by character
        if char in ".,?!'\"":
            break
        first += char.lower()
    return count == kw["num_paragraphs"] and first == kw["first_word"].lower()


# --- detectable content --------------------------------------------------------------------------

def content_number_placeholders(response: str, kw: Kwargs, seed: int) -> bool:
    return len(re.findall(r"\[.*?\]", response)) >= kw["num_placeholders"]


def content_postscript(response: str, kw: Kwargs, seed: int) -> bool:
    # Anywhere in the response, at a line start or not. "P.S." and "P.P.S" tolerate a space after
    # each period; another marker is a regular expression.
    marker = kw["postscript_marker"].strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + marker.lower() + r".*$"
    return re.search(pattern, response.lower(), flags=re.MULTILINE) is not None


# --- detectable format ---------------------------------------------------------------------------

def format_number_bullet_lists(response: str, kw: Kwargs, seed: int) -> bool:
    # Lines starting with "*" (not "**") or "-": so a "---" rule counts, "+" and "1." do not.
    # `\s*` may cross blank lines, as in the reference.
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == kw["num_bullets"]


def format_constrained_response(response: str, kw: Kwargs, seed: int) -> bool:
    text = response.strip()
    return any(answer in text for answer in CONSTRAINED_ANSWERS)


def format_number_highlighted_sections(response: str, kw: Kwargs, seed: int) -> bool:
    # *one line* with something in it counts; **bold** counts too (its inner *...* is not found
    # by the single-star pattern, the double-star pattern finds it).
    single = [h for h in re.findall(r"\*[^\n\*]*\*", response) if h.strip("*").strip()]
    double = [h for h in re.findall(r"\*\*[^\n\*]*\*\*", response) if h[2:-2].strip()]
    return len(single) + len(double) >= kw["num_highlights"]


def format_multiple_sections(response: str, kw: Kwargs, seed: int) -> bool:
    # The splitter followed by a number, anywhere: "Section 2" inside a sentence counts.
    pattern = r"\s?" + kw["section_spliter"].strip() + r"\s?\d+\s?"
    return len(re.split(pattern, response)) - 1 >= kw["num_sections"]


def format_json_format(response: str, kw: Kwargs, seed: int) -> bool:
    text = response.strip()
    for fence in ("```json", "```Json", "```JSON", "```"):  # one prefix removed per rule, in order
        text = text.removeprefix(fence)
    text = text.removesuffix("```").strip()
    try:
        json.loads(text)  # Python's parser: NaN and Infinity pass
    except (ValueError, RecursionError):
        return False
    return True


def format_title(response: str, kw: Kwargs, seed: int) -> bool:
    # <<...>> on one line, greedy: "<<a>> and <<b>>" is one match.
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


# --- combination ---------------------------------------------------------------------------------

def combination_two_responses(response: str, kw: Kwargs, seed: int) -> bool:
    answers = []
    parts = response.split("******")
    for index, part in enumerate(parts):
        if part.strip():
            answers.append(part.strip())
        elif 0 < index < len(parts) - 1:  # an empty answer between two separators
            return False
    return len(answers) == 2 and answers[0] != answers[1]


def combination_repeat_prompt(response: str, kw: Kwargs, seed: int) -> bool:
    return response.strip().lower().startswith(kw["prompt_to_repeat"].strip().lower())


# --- start and end -------------------------------------------------------------------------------

def startend_end_checker(response: str, kw: Kwargs, seed: int) -> bool:
    return response.strip().strip('"').lower().endswith(kw["end_phrase"].strip().lower())


def startend_quotation(response: str, kw: Kwargs, seed: int) -> bool:
    text = response.strip()
    return len(text) > 1 and text[0] == '"' and text[-1] == '"'


# --- case ----------------------------------------------------------------------------------------

def case_capital_word_frequency(response: str, kw: Kwargs, seed: int) -> bool:
    return compare(count_capital_words(response), kw["capital_relation"], kw["capital_frequency"])


def case_english_capital(response: str, kw: Kwargs, seed: int) -> bool:
    # str.isupper: some cased letter and no lowercase one. Undetectable language passes.
    return response.isupper() and detect_language(response, seed) in ("en", None)


def case_english_lowercase(response: str, kw: Kwargs, seed: int) -> bool:
    return response.islower() and detect_language(response, seed) in ("en", None)


# --- punctuation ---------------------------------------------------------------------------------

def punctuation_no_comma(response: str, kw: Kwargs, seed: int) -> bool:
    return "," not in response  # the ASCII comma only: "，" and "、" pass
