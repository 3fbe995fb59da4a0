"""The report file: written at the end of every run (not with report=False, also after a failure,
never failing the run), self-contained, escaped; comparison of runs; `curate report` and its
errors."""

from __future__ import annotations

import json
import re
import shutil

import pytest

import curate
from curate_report import write_comparison, write_run_report
from curate_report.collect import collect
from curate_report.render import changes, embed_json, page_data, render

from .conftest import RECIPE, tiny_rows


def _embedded(html_text: str) -> dict:
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html_text, re.S)
    assert match, "no data block"
    return json.loads(match.group(1))


def test_every_run_writes_a_self_contained_report(tiny_run):
    text = (tiny_run / "report.html").read_text()
    for section in ("provenance", "funnel", "timing", "distributions", "rows"):
        assert f'<section id="{section}">' in text
    assert "Plotly" in text and not re.search(r"<(script|link)[^>]+(src|href)=[\"']?https?:", text)
    data = _embedded(text)
    assert data["mode"] == "single" and data["runs"][0]["name"] == "tiny"
    assert data["figures"]["funnel"][0]["data"][0]["y"] == [s["rows_out"] for s in data["runs"][0]["stages"]]


def test_no_report_when_the_run_says_so(tmp_path):
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tiny_rows(6)))
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    curate.run(tmp_path / "tiny.yaml", run_dir=tmp_path / "run", report=False)
    assert (tmp_path / "run" / "run.json").exists() and not (tmp_path / "run" / "report.html").exists()


def test_model_output_cannot_escape_the_data_block(tmp_path):
    evil = '</script><img src=x onerror="alert(1)"><!-- \u2028 <script>alert(2)</script>'
    (tmp_path / "data.jsonl").write_text(json.dumps({"prompt": evil, "response": evil + " long enough"}) + "\n")
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    curate.run(tmp_path / "tiny.yaml", run_dir=tmp_path / "run")
    text = (tmp_path / "run" / "report.html").read_text()
    block = text.split('id="report-data">', 1)[1].split("</script>", 1)[0]
    assert "<" not in block and "<img" not in text.split('id="report-data">', 1)[0]
    assert _embedded(text)["runs"][0]["rows"]["dedup"]["kept"][0]["prompt"] == evil  # same text once parsed
    assert json.loads(embed_json({"a": "</b>"})) == {"a": "</b>"} and "</" not in embed_json({"a": "</b>"})


class ExplodingFilter(curate.Filter):
    """Fails while it runs (after validation), as a crashed stage does."""

    name = "test.explode"
    Params = curate.FilterParams

    def drop_reason(self, df):
        raise RuntimeError("boom")


class _ExplodingPlugin:
    @curate.hookimpl
    def curate_register_filters(self, register):
        register(ExplodingFilter)


def test_a_run_that_stopped_early_shows_what_finished(tmp_path):
    from curate.plugins import temporary_plugin

    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tiny_rows(6)))
    (tmp_path / "tiny.yaml").write_text(RECIPE.replace("  - id: dedup\n", "  - use: test.explode\n  - id: dedup\n"))
    with temporary_plugin(_ExplodingPlugin(), "exploding"), pytest.raises(curate.StageFailure, match="boom"):
        curate.run(tmp_path / "tiny.yaml", run_dir=tmp_path / "run")
    data = _embedded((tmp_path / "run" / "report.html").read_text())["runs"][0]
    assert not data["complete"]
    assert data["provenance"]["finished_stages"] == ["read.jsonl", "long-enough", "no-sorry"]
    assert data["provenance"]["not_run"] == ["test.explode", "dedup", "write.jsonl"]


def test_a_failing_report_never_fails_the_run(tmp_path, monkeypatch, caplog):
    import curate_report

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(curate_report, "collect", broken)
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in tiny_rows(6)))
    (tmp_path / "tiny.yaml").write_text(RECIPE)
    result = curate.run(tmp_path / "tiny.yaml", run_dir=tmp_path / "run")
    assert result.complete and not (tmp_path / "run" / "report.html").exists()
    assert "could not write the run report" in caplog.text and "disk on fire" in caplog.text


def test_comparison_puts_runs_side_by_side(tiny_run, tmp_path):
    other = tmp_path / "other"
    (other / "x").mkdir(parents=True)
    rows = tiny_rows(60)
    (other / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (other / "tiny.yaml").write_text(RECIPE)
    curate.run(other / "tiny.yaml", run_dir=other / "run")
    out = write_comparison([tiny_run, other / "run"], tmp_path / "cmp.html")
    text = out.read_text()
    assert '<section id="changes">' in text and '<section id="funnel">' in text
    data = _embedded(text)
    assert data["mode"] == "compare" and len({r["label"] for r in data["runs"]}) == 2
    funnel = data["figures"]["funnel"][0]["data"]
    assert len(funnel) == 2 and funnel[1]["y"][0] == 60 and funnel[0]["y"][0] == 40
    written = [c for c in data["changes"] if c["kind"] == "rows out" and c["stage"] == "write.jsonl"][0]
    assert written["delta"] == written["values"][1] - written["values"][0] and written["changed"]
    lengths = [f for f in data["figures"]["distributions"] if f["layout"]["title"]["text"].startswith("response length")]
    assert len(lengths[0]["data"]) == 2 and lengths[0]["data"][0]["x"] == lengths[0]["data"][1]["x"]  # one grid


def test_changes_compare_pass_rates_means_and_metrics():
    def run(rate, mean, distinct):
        return {"path": "/r", "distributions": [
            {"stage": "j", "column": "math_correct", "kind": "rate", "rate": rate},
            {"stage": "j", "column": "reward", "kind": "histogram", "group": "scores", "stats": {"mean": mean}}],
            "stages": [{"id": "gen", "metrics": {"distinct_2": distinct}, "writer": False, "rows_out": 3}]}

    table = {(c["kind"], c["name"]): c for c in changes([run(0.5, 1.0, 0.3), run(0.75, 0.5, 0.3)])}
    assert table[("pass rate", "math_correct")]["delta"] == pytest.approx(0.25)
    assert table[("mean", "reward")]["delta"] == pytest.approx(-0.5)
    assert table[("metric", "distinct_2")]["delta"] == 0 and not table[("metric", "distinct_2")]["changed"]


def test_labels_tell_runs_apart(tmp_path):
    runs = [{"path": str(tmp_path / a / "run"), "stages": [], "distributions": []} for a in ("a", "b")]
    data = page_data(runs)
    assert [r["label"] for r in data["runs"]] == ["a/run", "b/run"]


# --- the command ---------------------------------------------------------------------------------
def _cli(argv, capsys):
    from curate.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_curate_report_rewrites_one_run_and_compares_several(tiny_run, tmp_path, capsys):
    (tiny_run / "report.html").unlink()
    code, text = _cli(["report", str(tiny_run)], capsys)
    assert code == 0 and (tiny_run / "report.html").exists() and "wrote" in text
    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    code, text = _cli(["report", str(tiny_run), str(copy), "-o", str(tmp_path / "both.html")], capsys)
    assert code == 0 and _embedded((tmp_path / "both.html").read_text())["mode"] == "compare"


@pytest.mark.parametrize("damage, message", [
    ("missing", "does not exist"),
    ("not a run", "has no run.json"),
    ("garbled run.json", "not a readable run manifest"),
    ("a file", "is a file"),
])
def test_bad_run_directories_exit_2_with_a_message(tiny_run, tmp_path, capsys, damage, message):
    target = tmp_path / "target"
    if damage == "not a run":
        target.mkdir()
    elif damage == "garbled run.json":
        shutil.copytree(tiny_run, target)
        (target / "run.json").write_text('{"stages": [')
    elif damage == "a file":
        target.write_text("x")
    code, text = _cli(["report", str(target)], capsys)
    assert code == 2 and message in text and "Traceback" not in text


def test_a_half_written_stage_is_reported_not_fatal(tiny_run, capsys):
    (tiny_run / "stages" / "03-dedup" / "output.parquet").write_bytes(b"PAR1 cut off")
    (tiny_run / "stages" / "02-no-sorry" / "output.parquet").unlink()
    code, text = _cli(["report", str(tiny_run)], capsys)
    assert code == 0, text
    data = _embedded((tiny_run / "report.html").read_text())["runs"][0]
    assert any("'dedup'" in w for w in data["warnings"]) and any("'no-sorry'" in w for w in data["warnings"])
    assert "dedup" not in data["rows"] and "long-enough" in data["rows"]


def test_a_plugin_whose_command_hook_fails_leaves_the_cli_working(caplog):
    from curate.plugins import temporary_plugin

    class Broken:
        @curate.hookimpl
        def curate_register_commands(self, subparsers):
            raise RuntimeError("nope")

    with temporary_plugin(Broken(), "broken-commands"):
        from curate.cli import _parser

        parser = _parser()  # the broken plugin is skipped, the others' commands are there
    assert "could not add its commands" in caplog.text and "nope" in caplog.text
    assert parser.parse_args(["report", "x"]).func.__name__ == "cmd_report"


def test_render_has_every_section_for_a_comparison(tiny_run):
    data = collect(tiny_run)
    text = render([data, collect(tiny_run)])
    for section in ("provenance", "changes", "funnel", "timing", "distributions", "rows"):
        assert f'<section id="{section}">' in text


def test_write_run_report_to_another_file(tiny_run, tmp_path):
    before = (tiny_run / "report.html").stat().st_mtime_ns
    out = write_run_report(tiny_run, tmp_path / "elsewhere.html")
    assert _embedded(out.read_text())["runs"][0]["path"] == str(tiny_run)
    assert (tiny_run / "report.html").stat().st_mtime_ns == before
