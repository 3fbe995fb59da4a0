"""generate.code_backtranslation: explain, rebuild from the explanation, keep the pairs that agree."""

import json
import shutil

import polars as pl
import pytest

from curate.testing import ScriptedEngine, run_stage

from curate_synth.code_backtranslation import code_tokens, extract_code, similarity

GOOD = "def add(a, b):\n    # sum two numbers\n    return a + b\n\nprint(add(2, 3))"
BAD = "import sys\nwords = sys.stdin.read().split()\nfor w in sorted(set(words)):\n    sys.stdout.write(w.upper())"


def model(req):
    text = req.messages[-1]["content"]
    if text.startswith("Explain this"):
        code = text.split("```\n")[1].split("```")[0].strip()
        return json.dumps({"explanation": f"EXPLAINS<{code}>"})
    code = text.split("EXPLAINS<")[1].split(">")[0]
    if "stdin" in code:  # a rebuilt program that does something else
        return json.dumps({"code": "total = 0\nfor n in range(10):\n    total += n * n\nprint(total)"})
    # the same program, reformatted, with a comment changed, in a fence
    return json.dumps({"code": "```python\n" + code.replace("# sum two numbers", "# add them").replace("a + b", "a+b")
                       + "\n```"})


def rows():
    return pl.DataFrame({"id": ["g", "b", "e"], "prompt": ["Add two numbers", "Shout", "Nothing"],
                         "response": [f"Here:\n```python\n{GOOD}\n```\nDone.", BAD, "   "],
                         "generation": [None, None, None]})


def test_agreeing_pairs_become_explanations_and_disagreeing_ones_are_removed():
    out = run_stage("generate.code_backtranslation", rows(), engines={"default": ScriptedEngine(default=model)})
    row = out.kept.row(0, named=True)
    assert out.kept.height == 1 and row["id"] == "g/code/0" and row["code"] == GOOD  # taken from the fence
    assert row["backtranslation_similarity"] == 1.0  # comments and spacing do not count
    assert row["response"] == row["explanation"] == f"EXPLAINS<{GOOD}>"
    assert row["prompt"].startswith("Explain what this Python code does") and GOOD in row["prompt"]
    assert row["task"] == "code" and "generation" not in out.kept.columns
    reasons = dict(zip(out.removed["id"].to_list(), out.removed["reason"].to_list()))
    assert reasons["e"] == "no code in 'response'"
    assert reasons["b/code/0"].startswith("the regenerated code disagrees with the original: similarity 0.")
    bad = out.removed.filter(pl.col("id") == "b/code/0")
    assert bad["backtranslation_similarity"][0] < 0.5 and bad["regenerated_code"][0].startswith("total = 0")
    assert out.result.stats["stage"].counters["pairs_disagreeing"] == 1


def test_keep_mode_filters_and_leaves_the_pair():
    df = rows().with_columns(pl.col("response").alias("code")).drop("response").with_columns(
        pl.lit("kept answer").alias("response"))
    out = run_stage("generate.code_backtranslation", df, pair="keep", threshold=0.0,
                    engines={"default": ScriptedEngine(default=model)})
    assert out.kept["id"].to_list() == ["g", "b"] and out.kept["response"].to_list() == ["kept answer"] * 2
    assert out.kept["prompt"].to_list() == ["Add two numbers", "Shout"]


def test_similarity():
    assert similarity(GOOD, GOOD.replace("    ", "\t")) == 1.0
    assert 0 < similarity(GOOD, GOOD.replace("return a + b", "return a - b")) < 1
    assert similarity(GOOD, BAD) < 0.5
    assert code_tokens("x = 'a b'  # note") == ["x", "=", "'a b'"]
    assert extract_code("text\n```\nshort\n```\n```py\nlonger code\n```") == "longer code"


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap for curate-sandbox")
def test_check_execution_runs_both_programs():
    def wrong(req):
        out = json.loads(model(req))
        if "code" in out:
            out["code"] = out["code"].replace("a+b", "a*b")  # nearly the same text, another result
        return json.dumps(out)

    df = rows().head(1)
    same = run_stage("generate.code_backtranslation", df, check_execution=True,
                     engines={"default": ScriptedEngine(default=model)})
    assert same.kept["backtranslation_execution_agrees"].to_list() == [True]
    differs = run_stage("generate.code_backtranslation", df, check_execution=True,
                        engines={"default": ScriptedEngine(default=wrong)})
    assert differs.kept.height == 0 and differs.removed["backtranslation_similarity"][0] > 0.9
    assert differs.removed["reason"][0] == "execution disagrees: different output: '5\\n' vs '6\\n'"
