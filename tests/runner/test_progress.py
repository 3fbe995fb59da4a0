"""The progress display: requests in flight, failures and the ETA while a stage runs; tokens,
tokens/s and cost per engine in the summary."""

import io
import threading

import pytest
from rich.console import Console

import curate
from curate.engine import ChatRequest
from curate.engines.cache import CachedEngine
from curate.runner.progress import StageProgress, counter_lines, progress_display, summary_table
from curate.testing import ScriptedEngine


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=220, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.fixture
def progress():
    with progress_display(True, Console(file=io.StringIO(), width=220)) as p:
        yield p


def bar(progress) -> str:
    return render(progress.make_tasks_table(progress.tasks))


def test_in_flight_and_failures_show_while_the_stage_runs(progress, tmp_path):
    release = threading.Event()

    def reply(req):
        if req.id == "r0":
            return ValueError("server said no")
        if req.id != "r1":
            release.wait(30)  # r2 is being answered; r3..r5 wait their turn: all four in flight
        return "ok"

    engine = CachedEngine(ScriptedEngine(default=reply), tmp_path / "requests.sqlite")
    stage = StageProgress(progress, "responses", total=6, engines={"default": engine})
    requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"p{i}"}]) for i in range(6)]
    worker = threading.Thread(target=engine.generate, args=(requests, lambda r: stage.advance(1)))
    worker.start()
    try:
        deadline = threading.Event()
        for _ in range(1000):
            if stage.live() == (4, 1):
                break
            deadline.wait(0.01)
        assert stage.live() == (4, 1)
        text = bar(progress)
        assert "4 in flight" in text and "1 failed" in text
        assert "eta" in text  # 2 of 6 done: the time remaining is estimated
    finally:
        release.set()
        worker.join()
    stage.done()
    text = bar(progress)
    assert "in flight" not in text and "1 failed" in text and "eta" not in text
    assert stage.engine_usage()["default"]["requests_failed"] == 1
    engine.close_cache()


def test_failures_count_from_the_stage_start(progress, tmp_path):
    engine = CachedEngine(ScriptedEngine([ValueError("x")], default="ok"), tmp_path / "requests.sqlite")
    engine.generate([ChatRequest("a", [{"role": "user", "content": "a"}])])  # an earlier stage's failure
    stage = StageProgress(progress, "next", total=1, engines={"default": engine})
    engine.generate([ChatRequest("b", [{"role": "user", "content": "b"}])])
    assert stage.live() == (0, 0)
    assert "failed" not in bar(progress)
    engine.close_cache()


def test_a_stage_without_engines_shows_no_request_column(progress):
    stage = StageProgress(progress, "filter", total=10)
    stage.advance(3)
    assert stage.live() == (0, 0)
    text = bar(progress)
    assert "in flight" not in text and "failed" not in text and "filter" in text


RECIPE = """name: progress
stages:
  - use: read.jsonl
    with: {path: data.jsonl}
  - id: gen
    use: generate.responses
    with: {engines: [default], max_tokens: 16}
  - use: write.jsonl
    with: {path: out.jsonl, format: raw}
"""


def test_summary_shows_tokens_rate_and_cost_per_engine(write_jsonl, write_recipe, tmp_path):
    write_jsonl([{"prompt": "one two three"}, {"prompt": "four five"}])
    engine = ScriptedEngine(model="m")
    engine.params = type(engine).Params(model="m", pricing={"prompt_per_mtok": 1e6, "completion_per_mtok": 2e6})
    result = curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run", engines={"default": engine})
    # 5 prompt words and 5 echoed ones: $5 + $10 at these (absurd, readable) prices
    table = render(summary_table(result))
    assert "tokens" in table and "cost" in table and "$15.0000" in table
    lines = [line for line in counter_lines(result) if line.startswith("gen [default]")]
    assert len(lines) == 1
    assert "2 sent, 0 cached" in lines[0] and "tokens 5 prompt + 5 completion" in lines[0]
    assert "tokens/s" in lines[0] and "cost $15.0000" in lines[0]

    again = curate.run(write_recipe(RECIPE), run_dir=tmp_path / "run", engines={"default": ScriptedEngine(model="m")})
    assert not any(line.startswith("gen [default]") for line in counter_lines(again))  # reused: no tokens now
    assert "tokens" not in render(summary_table(again))
