"""``curate.testing.BatchServer`` speaks OpenAI's Files and Batches API as a client sees it, and its
faults and counters do what the batch tests rely on."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from curate.testing import BatchServer


def call(base: str, method: str, path: str, body: bytes | dict | None = None, content_type: str = "application/json"):
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    req = urllib.request.Request(base + path, data=data, method=method, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            raw = resp.read()
            return resp.status, (json.loads(raw) if resp.headers["Content-Type"] == "application/json" else raw)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def upload(base: str, lines: list[dict], purpose: str = "batch"):
    payload = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n' + purpose.encode() + b"\r\n"
            b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="in.jsonl"\r\n\r\n' + payload
            + b"\r\n--XyZ--\r\n")
    return call(base, "POST", "/files", body, "multipart/form-data; boundary=XyZ")


def line(cid: str, text: str) -> dict:
    return {"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "echo", "messages": [{"role": "user", "content": text}]}}


def create(base: str, file_id: str):
    return call(base, "POST", "/batches", {"input_file_id": file_id, "endpoint": "/v1/chat/completions",
                                           "completion_window": "24h", "metadata": {"k": "v"}})


def test_a_batch_goes_from_upload_to_output_file():
    with BatchServer(polls_to_complete=2) as srv:
        status, f = upload(srv.base_url, [line("a", "hello there"), line("b", "second one")])
        assert status == 200 and f["purpose"] == "batch" and f["bytes"] > 0
        status, batch = create(srv.base_url, f["id"])
        assert status == 200 and batch["status"] == "validating" and batch["metadata"] == {"k": "v"}
        _, first = call(srv.base_url, "GET", f"/batches/{batch['id']}")
        _, done = call(srv.base_url, "GET", f"/batches/{batch['id']}")
        assert first["status"] == "in_progress" and done["status"] == "completed"
        assert done["request_counts"] == {"total": 2, "completed": 2, "failed": 0} and done["error_file_id"] is None
        _, raw = call(srv.base_url, "GET", f"/files/{done['output_file_id']}/content")
        out = [json.loads(x) for x in raw.splitlines()]
        stats = srv.stats()
    assert [(o["custom_id"], o["response"]["status_code"]) for o in out] == [("a", 200), ("b", 200)]
    assert out[0]["response"]["body"]["choices"][0]["message"]["content"] == "hello there"
    assert out[0]["response"]["body"]["usage"]["prompt_tokens"] == 2
    assert stats["files_uploaded"] == 1 and stats["batches_created"] == 1 and stats["downloads"] == 1
    assert srv.answered() == {"a": 1, "b": 1} and srv.submitted() == {"a": 1, "b": 1}


def test_an_expired_batch_lists_the_unanswered_requests_in_its_error_file():
    with BatchServer(faults=["expire"]) as srv:
        _, f = upload(srv.base_url, [line(c, c) for c in "abcd"])
        _, batch = create(srv.base_url, f["id"])
        _, done = call(srv.base_url, "GET", f"/batches/{batch['id']}")
        _, raw = call(srv.base_url, "GET", f"/files/{done['error_file_id']}/content")
    errors = [json.loads(x) for x in raw.splitlines()]
    assert done["status"] == "expired" and done["request_counts"]["completed"] == 2
    assert [(e["custom_id"], e["error"]["code"]) for e in errors] == [("c", "batch_expired"), ("d", "batch_expired")]
    assert srv.answered() == {"a": 1, "b": 1}


def test_call_faults_and_a_lost_create():
    with BatchServer(upload_faults=["500"], create_faults=["lost"], poll_faults=["503"]) as srv:
        assert upload(srv.base_url, [line("a", "x")])[0] == 500
        _, f = upload(srv.base_url, [line("a", "x")])
        assert create(srv.base_url, f["id"])[0] == 500  # ... yet the batch exists
        _, listing = call(srv.base_url, "GET", "/batches?limit=10")
        assert [b["input_file_id"] for b in listing["data"]] == [f["id"]]
        assert call(srv.base_url, "GET", f"/batches/{listing['data'][0]['id']}")[0] == 503
        assert call(srv.base_url, "GET", f"/batches/{listing['data'][0]['id']}")[0] == 200
        faults = srv.stats()["faults"]
    assert faults == {"upload:500": 1, "create:lost": 1, "poll:503": 1}


def test_cancel_duplicates_and_bad_requests():
    with BatchServer(hold=True) as srv:
        _, f = upload(srv.base_url, [line("a", "x"), line("b", "y")])
        _, batch = create(srv.base_url, f["id"])
        _, cancelling = call(srv.base_url, "POST", f"/batches/{batch['id']}/cancel")
        _, cancelled = call(srv.base_url, "GET", f"/batches/{batch['id']}")
        assert cancelling["status"] == "cancelling" and cancelled["status"] == "cancelled"
        _, dup = upload(srv.base_url, [line("a", "x"), line("a", "x")])
        _, failed = create(srv.base_url, dup["id"])
        assert failed["status"] == "failed" and failed["errors"]["data"][0]["code"] == "duplicate_custom_id"
        assert upload(srv.base_url, [line("a", "x")], purpose="fine-tune")[0] == 400
        assert create(srv.base_url, "file-nope")[0] == 400
        assert call(srv.base_url, "GET", "/batches/batch_9999")[0] == 404
        assert call(srv.base_url, "DELETE", "/batches")[0] == 405


def test_an_unknown_fault_is_refused():
    with BatchServer(faults=["explode"]) as srv:
        _, f = upload(srv.base_url, [line("a", "x")])
        status, body = create(srv.base_url, f["id"])
    assert status == 400 and "unknown batch fault 'explode'" in body["error"]["message"]


@pytest.mark.slow
def test_command_line_mode_serves_stats_and_releases_the_hold():
    proc = subprocess.Popen([sys.executable, "-m", "curate.testing.batch_server", "--hold"], stdout=subprocess.PIPE,
                            text=True)
    try:
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY"
        base = ready[1]
        _, f = upload(base, [line("a", "x")])
        _, batch = create(base, f["id"])
        assert call(base, "GET", f"/batches/{batch['id']}")[1]["status"] == "in_progress"
        root = base.rsplit("/v1", 1)[0]
        call(root, "POST", "/_batch/release", {})
        assert call(base, "GET", f"/batches/{batch['id']}")[1]["status"] == "completed"
        _, stats = call(root, "GET", "/_batch/stats")
        assert stats["batches_created"] == 1 and stats["requests_answered"] == 1
    finally:
        proc.terminate()
        proc.wait(10)
