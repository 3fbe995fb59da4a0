"""The provider-neutral batch machinery (``curate.BatchChatEngine``), against an in-memory
provider: splitting within limits, the in-progress quota, persisted jobs and resume (never
submitted twice), retries of what a batch did not answer, ``--no-wait`` through the runner."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

import curate
from curate.files import read_json


class Provider:
    """The far side: batches by id, answered after ``polls`` polls, with scripted outcomes."""

    def __init__(self, polls: int = 1, outcomes: list[str] = (), hold: bool = False):
        self.polls, self.outcomes, self.hold = polls, list(outcomes), hold
        self.batches: dict[str, dict] = {}
        self.answered: Counter[str] = Counter()
        self.running_max = 0
        self.submit_faults: list[str] = []  # "500" (nothing created) or "lost" (created, answer lost)
        self.poll_faults = 0

    def running(self) -> int:
        return sum(not b["finished"] for b in self.batches.values())


class MemoryBatches(curate.BatchChatEngine):
    """A batch engine over :class:`Provider`."""

    name = "memory-batch"

    def __init__(self, provider: Provider, **params):
        super().__init__({"batch": True, "batch_poll_interval": 0.001, "batch_poll_max": 0.002, **params})
        self.provider = provider
        self._sleep = lambda seconds: None

    def batch_line(self, request, custom_id):
        return json.dumps({"custom_id": custom_id, "text": request.messages[-1]["content"]}).encode()

    def submit(self, job, payload):
        p = self.provider
        fault = p.submit_faults.pop(0) if p.submit_faults else "ok"
        if fault == "500":
            raise curate.TransientEngineError("HTTP 500: injected")
        job.remember(file=f"file-{job.key}")
        bid = f"batch-{len(p.batches) + 1}"
        lines = [json.loads(line) for line in payload.decode().splitlines()]
        p.batches[bid] = {"lines": lines, "polls": 0, "finished": False, "file": f"file-{job.key}",
                          "outcome": p.outcomes.pop(0) if p.outcomes else "ok"}
        p.running_max = max(p.running_max, p.running())
        if fault == "lost":
            raise curate.TransientEngineError("HTTP 502: the answer was lost")
        return bid

    def find_submitted(self, job):
        return next((bid for bid, b in self.provider.batches.items() if b["file"] == job.provider.get("file")), None)

    def poll(self, job):
        p = self.provider
        if p.poll_faults:
            p.poll_faults -= 1
            raise curate.TransientEngineError("HTTP 503: injected")
        b = p.batches[job.id]
        b["polls"] += 1
        if not b["finished"] and not p.hold and b["polls"] >= p.polls:
            b["finished"] = True
        n = len(b["lines"])
        if not b["finished"]:
            return curate.BatchStatus("in_progress", False, {"total": n, "completed": 0, "failed": 0})
        state = {"expire": "expired", "fail": "failed"}.get(b["outcome"], "completed")
        return curate.BatchStatus(state, True, {"total": n, "completed": n, "failed": 0},
                                  error="the window passed" if state == "expired" else None)

    def download(self, job):
        b = self.provider.batches[job.id]
        lines = b["lines"]
        if b["outcome"] == "fail":
            return
        if b["outcome"] == "expire":
            lines = lines[: len(lines) // 2]
        for line in lines:
            if "bad" in line["text"]:
                yield line["custom_id"], curate.BatchItemError("HTTP 400: prompt too long", retryable=False)
            elif "flaky" in line["text"] and b["outcome"] == "flaky":
                yield line["custom_id"], curate.BatchItemError("HTTP 500: server error")
            else:
                self.provider.answered[line["custom_id"]] += 1
                yield line["custom_id"], curate.ChatResult("", [curate.Completion(line["text"].upper(), "stop")],
                                                           prompt_tokens=2, completion_tokens=3)


def requests(*texts):
    return [curate.ChatRequest(f"r{i}", [{"role": "user", "content": t}]) for i, t in enumerate(texts)]


def bound(engine, tmp_path, wait=True):
    engine.bind(curate.EngineRun("gen", tmp_path / "engines" / "gen", wait))
    return engine


def test_answers_come_back_in_order_with_the_batch_flag(tmp_path):
    provider = Provider(polls=2)
    seen = []
    results = bound(MemoryBatches(provider), tmp_path).generate(requests("a", "b", "c"), seen.append)
    assert [r.completions[0].text for r in results] == ["A", "B", "C"]
    assert [r.id for r in results] == ["r0", "r1", "r2"]
    assert all(r.batch and not r.cached for r in results)
    assert sorted(r.id for r in seen) == ["r0", "r1", "r2"]
    assert len(provider.batches) == 1


def test_custom_ids_are_request_fingerprints_and_identical_requests_go_once(tmp_path):
    provider = Provider()
    engine = bound(MemoryBatches(provider), tmp_path)
    reqs = requests("same", "same", "other")
    results = engine.generate(reqs)
    lines = provider.batches["batch-1"]["lines"]
    assert [line["custom_id"] for line in lines] == [reqs[0].fingerprint(engine.identity()),
                                                     reqs[2].fingerprint(engine.identity())]
    assert [r.completions[0].text for r in results] == ["SAME", "SAME", "OTHER"]


def test_batch_settings_are_not_part_of_the_identity():
    a = MemoryBatches(Provider(), batch_max_requests=3, batch=False).identity()
    b = MemoryBatches(Provider(), batch_max_requests=50).identity()
    assert a == b and not any(k.startswith("batch") for k in a)


def test_a_stage_is_split_within_the_request_and_byte_limits(tmp_path):
    provider = Provider()
    texts = [f"prompt {i:02d} " + "x" * 400 for i in range(10)]
    line = len(MemoryBatches(provider).batch_line(requests(texts[0])[0], "x" * 64)) + 1
    engine = bound(MemoryBatches(provider, batch_max_requests=4, batch_max_bytes=3 * line + 10), tmp_path)
    results = engine.generate(requests(*texts))
    sizes = [len(b["lines"]) for b in provider.batches.values()]
    assert all(r.ok for r in results) and sum(sizes) == 10
    assert max(sizes) <= 3 and len(sizes) == 4  # bytes allow 3 per file (requests would allow 4)


def test_requests_per_batch_limit(tmp_path):
    provider = Provider()
    bound(MemoryBatches(provider, batch_max_requests=4), tmp_path).generate(requests(*[f"p{i}" for i in range(10)]))
    assert [len(b["lines"]) for b in provider.batches.values()] == [4, 4, 2]


def test_at_most_max_in_progress_batches_run_at_once(tmp_path):
    provider = Provider(polls=3)
    results = bound(MemoryBatches(provider, batch_max_requests=2, batch_max_in_progress=2), tmp_path).generate(
        requests(*[f"p{i}" for i in range(9)]))
    assert all(r.ok for r in results)
    assert len(provider.batches) == 5 and provider.running_max == 2


def test_a_request_over_the_byte_limit_fails_alone(tmp_path):
    provider = Provider()
    results = bound(MemoryBatches(provider, batch_max_bytes=1024), tmp_path).generate(requests("ok", "x" * 2000))
    assert results[0].ok and not results[1].ok and "too large for one batch file" in results[1].error


def test_no_wait_raises_pending_and_a_new_process_resumes_without_resubmitting(tmp_path):
    provider = Provider(polls=2)
    reqs = requests("a", "b")
    with pytest.raises(curate.BatchesPending) as info:
        bound(MemoryBatches(provider), tmp_path, wait=False).generate(reqs)
    assert info.value.submitted == ["batch-1"] and info.value.batches == ["batch-1"]
    assert "submitted 1 batch (batch-1)" in str(info.value)
    record = read_json(tmp_path / "engines" / "gen" / "batches" / "00001.json")
    assert record["id"] == "batch-1" and record["provider"] == {"file": "file-00001"} and len(record["custom_ids"]) == 2

    provider.hold = True  # still running: a second --no-wait run only polls
    with pytest.raises(curate.BatchesPending) as again:
        bound(MemoryBatches(provider), tmp_path, wait=False).generate(reqs)
    assert again.value.submitted == [] and "1 batch still running (batch-1)" in str(again.value)

    provider.hold = False
    results = bound(MemoryBatches(provider), tmp_path).generate(reqs)  # a fresh engine: a new process
    assert [r.completions[0].text for r in results] == ["A", "B"]
    assert len(provider.batches) == 1 and set(provider.answered.values()) == {1}


def test_expired_batch_resubmits_only_what_it_did_not_answer(tmp_path):
    provider = Provider(outcomes=["expire"])
    results = bound(MemoryBatches(provider), tmp_path).generate(requests(*[f"p{i}" for i in range(6)]))
    assert all(r.ok for r in results)
    assert [len(b["lines"]) for b in provider.batches.values()] == [6, 3]
    assert len(provider.answered) == 6 and set(provider.answered.values()) == {1}


def test_tries_are_bounded_then_the_request_fails_with_the_reason(tmp_path):
    provider = Provider(outcomes=["expire", "expire", "expire", "expire"])
    results = bound(MemoryBatches(provider, batch_max_attempts=2), tmp_path).generate(requests("p0", "p1"))
    assert len(provider.batches) == 2  # 2 submissions, then give up
    assert results[0].ok  # answered by the first batch
    assert not results[1].ok and "expired: the window passed" in results[1].error and "2 submissions" in results[1].error


def test_failed_batch_is_resubmitted_whole(tmp_path):
    provider = Provider(outcomes=["fail"])
    results = bound(MemoryBatches(provider), tmp_path).generate(requests("p0", "p1"))
    assert all(r.ok for r in results) and [len(b["lines"]) for b in provider.batches.values()] == [2, 2]


def test_per_request_errors_retry_when_retryable_and_fail_the_row_otherwise(tmp_path):
    provider = Provider(outcomes=["flaky"])
    results = bound(MemoryBatches(provider), tmp_path).generate(requests("fine", "flaky one", "bad one"))
    assert results[0].ok and results[1].ok
    assert not results[2].ok and results[2].error.startswith("HTTP 400: prompt too long")
    assert [len(b["lines"]) for b in provider.batches.values()] == [3, 1]  # only the 500 was resubmitted


def test_transient_submit_and_poll_failures_are_retried(tmp_path):
    provider = Provider()
    provider.submit_faults, provider.poll_faults = ["500", "500"], 3
    results = bound(MemoryBatches(provider), tmp_path).generate(requests("a"))
    assert results[0].ok and len(provider.batches) == 1


def test_a_create_whose_answer_was_lost_is_found_not_repeated(tmp_path):
    provider = Provider()
    provider.submit_faults = ["lost"]
    results = bound(MemoryBatches(provider), tmp_path).generate(requests("a", "b"))
    assert all(r.ok for r in results) and len(provider.batches) == 1


def test_a_failing_look_up_after_a_lost_create_is_retried_not_skipped(tmp_path):
    provider = Provider()
    provider.submit_faults = ["lost"]
    engine = bound(MemoryBatches(provider), tmp_path)
    look_ups = []

    def find_submitted(job):
        look_ups.append(job.key)
        if len(look_ups) == 1:
            raise curate.TransientEngineError("HTTP 503: listing failed")
        return MemoryBatches.find_submitted(engine, job)

    engine.find_submitted = find_submitted
    results = engine.generate(requests("a", "b"))
    assert all(r.ok for r in results) and len(provider.batches) == 1 and len(look_ups) == 2


def test_a_record_without_a_batch_is_looked_up_or_submitted_again(tmp_path):
    provider = Provider()
    state = tmp_path / "engines" / "gen"
    engine = bound(MemoryBatches(provider), tmp_path)
    reqs = requests("a", "b")
    cids = [r.fingerprint(engine.identity()) for r in reqs]
    # A crash right after the record was written: nothing reached the provider.
    curate.engines.batch.BatchStore("gen", state).new(cids, {})
    results = engine.generate(reqs)
    assert all(r.ok for r in results) and len(provider.batches) == 1
    assert read_json(state / "batches" / "00001.json")["state"] == "abandoned"


def test_status_json_says_how_each_batch_stands(tmp_path):
    provider = Provider(polls=5)
    engine = bound(MemoryBatches(provider, batch_max_requests=2), tmp_path, wait=False)
    with pytest.raises(curate.BatchesPending):
        engine.generate(requests("a", "b", "c"))
    status = read_json(tmp_path / "engines" / "gen" / "status.json")
    assert status["engine"] == "gen"
    assert status["summary"] == "2 batches: 2 submitted; 0/3 requests done"
    assert [(b["id"], b["state"], b["counts"]["total"]) for b in status["batches"]] == [
        ("batch-1", "submitted", 2), ("batch-2", "submitted", 1)]
    assert all(b["submitted_at"] for b in status["batches"]) and status["updated"]
    provider.hold = True
    with pytest.raises(curate.BatchesPending):  # a rerun polls: the provider's word
        bound(MemoryBatches(provider, batch_max_requests=2), tmp_path, wait=False).generate(requests("a", "b", "c"))
    status = read_json(tmp_path / "engines" / "gen" / "status.json")
    assert status["summary"] == "2 batches: 2 in_progress; 0/3 requests done"


def test_without_a_run_directory_it_says_so():
    with pytest.raises(curate.EngineError, match="needs a run directory"):
        MemoryBatches(Provider()).generate(requests("a"))


# --- through the runner ----------------------------------------------------------------------

RECIPE = """\
name: batch-test
engines:
  gen: {use: memory-batch}
stages:
  - use: read.jsonl
    with: {path: prompts.jsonl}
  - id: answers
    use: generate.responses
    with: {engines: [gen], max_tokens: 16}
  - use: write.jsonl
    with: {path: out.jsonl, format: raw}
"""


def _recipe(tmp_path: Path, prompts: list[str]) -> Path:
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
    path = tmp_path / "recipe.yaml"
    path.write_text(RECIPE)
    return path


def test_no_wait_stops_the_run_cleanly_and_a_rerun_finishes_it(tmp_path):
    provider = Provider(polls=2)
    recipe = _recipe(tmp_path, ["one", "two", "three"])
    run_dir = tmp_path / "run"
    with pytest.raises(curate.BatchesPending) as info:
        curate.run(recipe, run_dir=run_dir, engines={"gen": MemoryBatches(provider)}, wait=False)
    assert info.value.stages == ["answers"] and info.value.submitted == ["batch-1"]
    manifest = read_json(run_dir / "run.json")
    assert manifest["complete"] is False
    assert {s["id"]: s["status"] for s in manifest["stages"]} == {
        "read.jsonl": "ran", "answers": "waiting", "write.jsonl": "not run"}
    assert (run_dir / "engines" / "gen" / "status.json").is_file()

    result = curate.run(recipe, run_dir=run_dir, engines={"gen": MemoryBatches(provider)})
    assert result.complete and len(provider.batches) == 1
    assert sorted(result.outputs["write.jsonl"]["response"].to_list()) == ["ONE", "THREE", "TWO"]
    assert result.stats["read.jsonl"].cached  # the finished stage was checkpointed, not rerun


def test_requests_in_the_request_cache_are_never_batched(tmp_path):
    provider = Provider()
    recipe = _recipe(tmp_path, ["one", "two"])
    curate.run(recipe, run_dir=tmp_path / "run", engines={"gen": MemoryBatches(provider)})
    (tmp_path / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in ["one", "two", "new"]))
    result = curate.run(recipe, run_dir=tmp_path / "run", engines={"gen": MemoryBatches(provider)})
    assert [len(b["lines"]) for b in provider.batches.values()] == [2, 1]
    assert provider.batches["batch-2"]["lines"][0]["text"] == "new"
    assert result.stats["answers"].counters["requests_cached"] == 2


def test_a_crash_while_answers_are_handed_out_downloads_again_never_resubmits(tmp_path):
    provider = Provider()
    reqs = requests("a", "b", "c")
    seen = []

    def crash_after_one(result):
        seen.append(result.id)
        raise KeyboardInterrupt  # the process dies after storing one answer

    with pytest.raises(KeyboardInterrupt):
        bound(MemoryBatches(provider), tmp_path).generate(reqs, crash_after_one)
    # The rerun still needs the two answers that were not stored (the cache filters the third).
    results = bound(MemoryBatches(provider), tmp_path).generate([r for r in reqs if r.id not in seen])
    assert all(r.ok for r in results) and len(results) == 2
    assert len(provider.batches) == 1  # downloaded again, not submitted again


def test_polls_that_keep_failing_fail_the_stage_and_keep_the_batch(tmp_path):
    provider = Provider()
    provider.poll_faults = 100
    with pytest.raises(curate.EngineError, match="rerun the same command to resume"):
        bound(MemoryBatches(provider), tmp_path).generate(requests("a"))
    assert read_json(tmp_path / "engines" / "gen" / "batches" / "00001.json")["id"] == "batch-1"
    provider.poll_faults = 0
    assert bound(MemoryBatches(provider), tmp_path).generate(requests("a"))[0].ok
    assert len(provider.batches) == 1


def test_a_crash_between_create_and_record_is_found_by_its_file_not_submitted_again(tmp_path):
    provider = Provider()
    engine = bound(MemoryBatches(provider), tmp_path)
    reqs = requests("a", "b")
    # The first process uploaded (file id recorded), created the batch, and died before recording its id.
    job = curate.engines.batch.BatchStore("gen", tmp_path / "engines" / "gen").new(
        [r.fingerprint(engine.identity()) for r in reqs], {})
    payload = b"".join(engine.batch_line(r, cid) + b"\n" for r, cid in zip(reqs, job.custom_ids))
    MemoryBatches.submit(engine, job, payload)
    assert read_json(tmp_path / "engines" / "gen" / "batches" / "00001.json")["id"] is None

    results = bound(MemoryBatches(provider), tmp_path).generate(reqs)
    assert [r.completions[0].text for r in results] == ["A", "B"] and len(provider.batches) == 1
    assert read_json(tmp_path / "engines" / "gen" / "batches" / "00001.json")["id"] == "batch-1"
