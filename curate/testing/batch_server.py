"""A local server for providers' batch APIs, with injectable faults: the test double of batch
engines, beside :mod:`curate.testing.fault_server`. Not a product feature.

It serves OpenAI's Files and Batches API on loopback (``POST /v1/files``, ``GET
/v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``, ``POST
/v1/batches/{id}/cancel``, ``GET /v1/batches``), ``GET /v1/models`` and, like OpenAI on the same
base URL, the live ``POST /v1/chat/completions`` (counted as ``live_requests``); the answers are the fault
server's (an echo of the last user message, a valid instance for a ``json_schema`` request, a 400
for a prompt containing :data:`~curate.testing.fault_server.CONTEXT_MARKER`), or a ``responder``'s::

    from curate.testing.batch_server import BatchServer

    with BatchServer(polls_to_complete=2, faults=["expire"]) as srv:
        engine = OpenAIEngine(model="echo", base_url=srv.base_url, batch=True, batch_poll_interval=0.01)
        ...
        stats = srv.stats()
        assert stats["batches_created"] == 2                   # the expired one, then its leftovers
        assert set(srv.answered().values()) == {1}             # every custom id answered exactly once

A batch finishes on its ``polls_to_complete``-th poll (never while :attr:`BatchServer.hold` is
set), and then its fault applies. ``faults`` gives one per created batch, in order (then
``"ok"``), or is a callable ``(index, custom_ids) -> fault``:

* ``"ok"`` — every request answered;
* ``"expire"`` — the batch ``expired`` with only the first half answered (the rest in the error
  file as ``batch_expired``, as OpenAI does);
* ``"fail_some"`` — completed, but every other request got a 500 (in the error file);
* ``"fail_batch"`` — the batch ``failed`` at validation (no answers);
* ``"cancel"`` — ``cancelled`` with the first half answered.

Call faults, each a list of actions for the next calls (an HTTP status such as ``"500"``, or
``"ok"``): ``upload_faults`` (``POST /v1/files``), ``create_faults`` (``POST /v1/batches``; also
``"lost"``: the batch *is* created but the answer is a 500, the case that must not create a second
batch), ``poll_faults`` (``GET /v1/batches/{id}``) and ``download_faults`` (file content).

Counters (:meth:`BatchServer.stats`): files uploaded, batches created, polls, downloads, lists,
cancels, the most batches running at once, faults by kind; :meth:`BatchServer.answered` and
:meth:`BatchServer.submitted` count per custom id how often a request was answered and submitted.

Layout, for adding a provider: :class:`BatchStore` is provider-neutral (uploaded files, batches of
``(custom_id, body)`` requests, their progress, faults, answers and counters); a provider is a
*route table*, a function ``(server) -> [Route]`` registered in :data:`PROVIDERS` that turns the
provider's wire format into store calls and the store's batches into the provider's objects.
:func:`openai_routes` is the OpenAI one. Anthropic's Message Batches (``POST
/v1/messages/batches`` with inline requests, ``GET .../{id}``, ``GET .../{id}/results``, ``POST
.../{id}/cancel``) go in a function of the same shape, registered as
``PROVIDERS["anthropic"] = anthropic_routes`` and served with ``BatchServer(providers=("openai",
"anthropic"))``; the store's :meth:`BatchStore.create`, :meth:`BatchStore.advance`,
:meth:`BatchStore.results`, :meth:`BatchStore.cancel` and ``call_fault`` are what it needs.

Command line: ``python -m curate.testing.batch_server --port 0 --polls 3 --hold`` prints
``READY <base_url>``; ``GET /_batch/stats`` returns the counters, ``POST /_batch/release`` ends
the hold. Only the standard library is used; the server binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterable, Sequence, Union
from urllib.parse import parse_qs, urlsplit

from curate.testing.fault_server import FaultServer, _error_body, json_schema_responder

__all__ = ["BatchServer", "BatchStore", "StoredBatch", "Route", "PROVIDERS", "openai_routes", "BATCH_FAULTS"]

HOST = "127.0.0.1"
#: What a created batch may end as (see the module docstring).
BATCH_FAULTS = ("ok", "expire", "fail_some", "fail_batch", "cancel")
TERMINAL = frozenset({"completed", "expired", "failed", "cancelled"})
MAX_BODY = 512 * 1024 * 1024

BatchFaults = Union[Sequence[str], Callable[[int, list[str]], "str | None"], None]
#: ``(status, payload, extra headers)``; payload bytes are sent as they are, anything else as JSON.
Reply = tuple[int, Any, dict[str, str]]


@dataclass
class StoredBatch:
    """A provider-neutral batch: its requests, progress and answers."""

    id: str
    provider: str
    requests: list[tuple[str, dict[str, Any]]]
    fault: str = "ok"
    state: str = "validating"
    polls: int = 0
    created_at: int = 0
    finished_at: int | None = None
    #: custom id -> (HTTP status, body) of what was answered (200) or failed (other)
    answers: dict[str, tuple[int, Any]] = field(default_factory=dict)
    #: custom id -> (code, message) of requests never run (expired, cancelled)
    unanswered: dict[str, tuple[str, str]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: the provider's own fields (input/output/error file ids, endpoint, metadata)
    extra: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False

    @property
    def finished(self) -> bool:
        return self.state in TERMINAL

    def counts(self) -> dict[str, int]:
        total = len(self.requests)
        if not self.finished:
            return {"total": total, "completed": 0, "failed": 0}
        ok = sum(1 for status, _ in self.answers.values() if status == 200)
        return {"total": total, "completed": ok, "failed": total - ok if self.state != "completed" else
                sum(1 for status, _ in self.answers.values() if status != 200)}


class BatchStore:
    """Files and batches, answered by ``answer(body) -> (status, body)``; every counter a test asserts."""

    def __init__(self, answer: Callable[[dict[str, Any]], tuple[int, Any]], *, polls_to_complete: int = 1,
                 faults: BatchFaults = None, call_faults: dict[str, Sequence[str]] | None = None):
        self.answer = answer
        self.polls_to_complete = polls_to_complete
        self.hold = False
        self.lock = threading.RLock()
        self.files: dict[str, tuple[str, bytes]] = {}  # id -> (purpose, content)
        self.batches: dict[str, StoredBatch] = {}
        self._faults = faults
        self._fault_queue = list(faults) if isinstance(faults, (list, tuple)) else []
        self._call_faults = {k: list(v) for k, v in (call_faults or {}).items()}
        self.counters: Counter[str] = Counter()
        self.faults_injected: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.submitted: Counter[str] = Counter()
        self.max_running = 0

    # --- files ------------------------------------------------------------------------------
    def add_file(self, purpose: str, content: bytes, *, uploaded: bool = True) -> str:
        """Store a file; ``uploaded=False`` for one the server made (a batch's output)."""
        with self.lock:
            file_id = f"file-{len(self.files) + 1:04d}"
            self.files[file_id] = (purpose, content)
            self.counters["files_uploaded"] += uploaded
            return file_id

    def call_fault(self, call: str) -> str:
        """The next injected action for a call (``upload``, ``create``, ``poll``, ``download``)."""
        with self.lock:
            queue = self._call_faults.get(call) or []
            action = str(queue.pop(0)) if queue else "ok"
            if action != "ok":
                self.faults_injected[f"{call}:{action}"] += 1
            return action

    # --- batches ----------------------------------------------------------------------------
    def create(self, provider: str, requests: list[tuple[str, dict[str, Any]]], **extra: Any) -> StoredBatch:
        with self.lock:
            index = len(self.batches)
            ids = [cid for cid, _ in requests]
            if callable(self._faults):
                fault = self._faults(index, ids) or "ok"
            else:
                fault = self._fault_queue.pop(0) if self._fault_queue else "ok"
            if fault not in BATCH_FAULTS:
                raise ValueError(f"unknown batch fault {fault!r}: use one of {', '.join(BATCH_FAULTS)}")
            batch = StoredBatch(f"batch_{index + 1:04d}", provider, requests, fault, created_at=int(time.time()),
                                extra=dict(extra))
            dupes = [cid for cid, n in Counter(ids).items() if n > 1]
            if dupes:  # as the providers do: the whole batch fails validation
                batch.state = "failed"
                batch.errors = [{"code": "duplicate_custom_id", "message": f"duplicate custom_id {dupes[0]!r}",
                                 "line": ids.index(dupes[0]) + 1}]
            self.batches[batch.id] = batch
            self.counters["batches_created"] += 1
            self.submitted.update(ids)
            if fault != "ok":
                self.faults_injected[fault] += 1
            self.max_running = max(self.max_running, sum(not b.finished for b in self.batches.values()))
            return batch

    def get(self, batch_id: str) -> StoredBatch | None:
        with self.lock:
            return self.batches.get(batch_id)

    def advance(self, batch: StoredBatch) -> StoredBatch:
        """One poll: the batch moves on, and finishes on its ``polls_to_complete``-th poll."""
        with self.lock:
            self.counters["polls"] += 1
            if batch.finished:
                return batch
            batch.polls += 1
            if batch.cancel_requested:
                self._finish(batch, "cancel")
            elif not self.hold and batch.polls >= self.polls_to_complete:
                self._finish(batch, batch.fault)
            else:
                batch.state = "in_progress"
            return batch

    def cancel(self, batch: StoredBatch) -> StoredBatch:
        with self.lock:
            self.counters["cancels"] += 1
            if not batch.finished:
                batch.cancel_requested, batch.state = True, "cancelling"
            return batch

    def _finish(self, batch: StoredBatch, fault: str) -> None:
        if fault == "fail_batch":
            batch.state = "failed"
            batch.errors = [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached (injected).",
                             "line": None}]
        else:
            run = batch.requests
            if fault in ("expire", "cancel"):
                run = batch.requests[: len(batch.requests) // 2]
                code = "batch_expired" if fault == "expire" else "batch_cancelled"
                why = ("This request could not be executed before the completion window expired." if fault == "expire"
                       else "This request was not executed because the batch was cancelled.")
                for cid, _ in batch.requests[len(run):]:
                    batch.unanswered[cid] = (code, why)
            for i, (cid, body) in enumerate(run):
                if fault == "fail_some" and i % 2 == 1:
                    batch.answers[cid] = (500, _error_body("The server had an error (injected).", "server_error"))
                    continue
                status, reply = self.answer(body)
                batch.answers[cid] = (status, reply)
                if status == 200:
                    self.answered[cid] += 1
            batch.state = {"expire": "expired", "cancel": "cancelled"}.get(fault, "completed")
        batch.finished_at = int(time.time())

    def results(self, batch: StoredBatch) -> list[tuple[str, int | None, Any]]:
        """``(custom_id, status or None for never run, body or (code, message))`` in request order.
        A provider's route that hands them out counts ``downloads``."""
        with self.lock:
            out: list[tuple[str, int | None, Any]] = []
            for cid, _ in batch.requests:
                if cid in batch.answers:
                    out.append((cid, *batch.answers[cid]))
                elif cid in batch.unanswered:
                    out.append((cid, None, batch.unanswered[cid]))
            return out

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {**{k: self.counters.get(k, 0) for k in ("files_uploaded", "batches_created", "polls", "downloads",
                                                              "lists", "cancels", "live_requests")},
                    **self.counters,
                    "batch_ids": list(self.batches), "batch_sizes": [len(b.requests) for b in self.batches.values()],
                    "running": sum(not b.finished for b in self.batches.values()), "max_running": self.max_running,
                    "requests_submitted": sum(self.submitted.values()), "requests_answered": sum(self.answered.values()),
                    "most_answers_per_request": max(self.answered.values(), default=0),
                    "faults": dict(self.faults_injected)}


# --- routes -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    method: str
    pattern: str  # a regular expression over the path, fully matched
    handler: Callable[["Request"], Reply]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str]
    store: BatchStore

    def json(self) -> Any:
        return json.loads(self.body or b"{}")


def _status_fault(action: str, what: str) -> Reply | None:
    if action == "ok" or action == "lost":
        return None
    status = int(action)
    return status, _error_body(f"{what} failed (injected HTTP {status})", "server_error", status), {}


def _multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """``name -> (filename, content)`` of a multipart/form-data body."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + m.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        disposition = head.decode("latin-1")
        name = re.search(r'name="([^"]*)"', disposition)
        filename = re.search(r'filename="([^"]*)"', disposition)
        if name:
            fields[name.group(1)] = (filename.group(1) if filename else None, content)
    return fields


def openai_routes(server: "BatchServer") -> list[Route]:
    """OpenAI's Files and Batches API over the store."""
    endpoint = "/v1/chat/completions"

    def upload(req: Request) -> Reply:
        failed = _status_fault(req.store.call_fault("upload"), "upload")
        if failed:
            return failed
        try:
            form = _multipart(req.body, req.headers.get("content-type", ""))
        except ValueError as exc:
            return 400, _error_body(str(exc), "invalid_request_error"), {}
        purpose = form.get("purpose", (None, b""))[1].decode()
        if "file" not in form or purpose != "batch":
            return 400, _error_body("expected a `file` and purpose=batch", "invalid_request_error"), {}
        filename, content = form["file"]
        file_id = req.store.add_file(purpose, content)
        return 200, {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                     "filename": filename, "purpose": purpose}, {}

    def content(req: Request) -> Reply:
        failed = _status_fault(req.store.call_fault("download"), "download")
        if failed:
            return failed
        found = req.store.files.get(req.match["file"])
        with req.store.lock:
            req.store.counters["downloads"] += 1
        if found is None:
            return 404, _error_body(f"No such File object: {req.match['file']}", "invalid_request_error"), {}
        return 200, found[1], {"Content-Type": "application/octet-stream"}

    def create(req: Request) -> Reply:
        action = req.store.call_fault("create")
        failed = _status_fault(action, "create")
        if failed:
            return failed
        body = req.json()
        file_id = body.get("input_file_id")
        if file_id not in req.store.files:
            return 400, _error_body(f"No such File object: {file_id}", "invalid_request_error"), {}
        if body.get("endpoint") != endpoint or body.get("completion_window") != "24h":
            return 400, _error_body("endpoint must be /v1/chat/completions and completion_window 24h",
                                    "invalid_request_error"), {}
        requests: list[tuple[str, dict[str, Any]]] = []
        for n, line in enumerate(req.store.files[file_id][1].decode().splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item.get("method") != "POST" or item.get("url") != endpoint or "custom_id" not in item:
                return 400, _error_body(f"line {n}: needs custom_id, method POST and url {endpoint}",
                                        "invalid_request_error"), {}
            requests.append((item["custom_id"], item["body"]))
        batch = req.store.create("openai", requests, input_file_id=file_id, endpoint=endpoint,
                                 metadata=body.get("metadata") or {})
        if action == "lost":  # created, but the client never hears of it
            return 500, _error_body("The server had an error while processing your request (injected).",
                                    "server_error", 500), {}
        return 200, openai_batch(req.store, batch), {}

    def retrieve(req: Request) -> Reply:
        failed = _status_fault(req.store.call_fault("poll"), "retrieve")
        if failed:
            return failed
        batch = req.store.get(req.match["batch"])
        if batch is None:
            return 404, _error_body(f"No batch found with id '{req.match['batch']}'.", "invalid_request_error"), {}
        return 200, openai_batch(req.store, req.store.advance(batch)), {}

    def cancel(req: Request) -> Reply:
        batch = req.store.get(req.match["batch"])
        if batch is None:
            return 404, _error_body(f"No batch found with id '{req.match['batch']}'.", "invalid_request_error"), {}
        return 200, openai_batch(req.store, req.store.cancel(batch)), {}

    def list_batches(req: Request) -> Reply:
        with req.store.lock:
            req.store.counters["lists"] += 1
            batches = [b for b in reversed(list(req.store.batches.values())) if b.provider == "openai"]
        after = req.query.get("after")
        if after:
            ids = [b.id for b in batches]
            batches = batches[ids.index(after) + 1:] if after in ids else []
        limit = int(req.query.get("limit", 20))
        page = batches[:limit]
        return 200, {"object": "list", "data": [openai_batch(req.store, b) for b in page],
                     "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                     "has_more": len(batches) > limit}, {}

    def chat(req: Request) -> Reply:  # the live API on the same base_url, as OpenAI has it
        with req.store.lock:
            req.store.counters["live_requests"] += 1
        status, reply = req.store.answer(req.json())
        return status, reply, {}

    def models(req: Request) -> Reply:
        return 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "curate"}
                                                for m in server.models]}, {}

    return [Route("POST", r"/v1/files", upload), Route("GET", r"/v1/files/(?P<file>[^/]+)/content", content),
            Route("POST", r"/v1/batches", create), Route("GET", r"/v1/batches", list_batches),
            Route("GET", r"/v1/batches/(?P<batch>[^/]+)", retrieve),
            Route("POST", r"/v1/batches/(?P<batch>[^/]+)/cancel", cancel), Route("GET", r"/v1/models", models),
            Route("POST", endpoint, chat)]


def openai_batch(store: BatchStore, batch: StoredBatch) -> dict[str, Any]:
    """The OpenAI batch object; a finished batch's output and error files are made on first sight."""
    x = batch.extra
    if batch.finished and "output_file_id" not in x:
        ok, bad = [], []
        for cid, status, body in store.results(batch):
            if status == 200:
                ok.append({"id": f"batch_req_{cid[:12]}", "custom_id": cid,
                           "response": {"status_code": 200, "request_id": f"req_{cid[:12]}", "body": body},
                           "error": None})
            elif status is None:
                bad.append({"id": f"batch_req_{cid[:12]}", "custom_id": cid, "response": None,
                            "error": {"code": body[0], "message": body[1]}})
            else:
                bad.append({"id": f"batch_req_{cid[:12]}", "custom_id": cid,
                            "response": {"status_code": status, "request_id": f"req_{cid[:12]}", "body": body},
                            "error": None})
        x["output_file_id"] = store.add_file("batch_output", _jsonl(ok), uploaded=False) if ok else None
        x["error_file_id"] = store.add_file("batch_output", _jsonl(bad), uploaded=False) if bad else None
    stamp = batch.finished_at
    return {"id": batch.id, "object": "batch", "endpoint": x.get("endpoint"),
            "errors": {"object": "list", "data": batch.errors} if batch.errors else None,
            "input_file_id": x.get("input_file_id"), "completion_window": "24h", "status": batch.state,
            "output_file_id": x.get("output_file_id"), "error_file_id": x.get("error_file_id"),
            "created_at": batch.created_at, "in_progress_at": batch.created_at if batch.polls else None,
            "expires_at": batch.created_at + 86400, "finalizing_at": stamp,
            "completed_at": stamp if batch.state == "completed" else None,
            "failed_at": stamp if batch.state == "failed" else None,
            "expired_at": stamp if batch.state == "expired" else None,
            "cancelling_at": None, "cancelled_at": stamp if batch.state == "cancelled" else None,
            "request_counts": batch.counts(), "metadata": x.get("metadata") or {}}


def _jsonl(items: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(i).encode() + b"\n" for i in items)


#: Provider name -> its route table (see the module docstring).
PROVIDERS: dict[str, Callable[["BatchServer"], list[Route]]] = {"openai": openai_routes}


# --- the server ---------------------------------------------------------------------------------

class BatchServer:
    """Batch API server with injectable faults, in a background thread (see the module docstring).

    :param polls_to_complete: polls a batch takes to finish (``hold`` keeps it running).
    :param faults: per created batch, in order (then ``"ok"``), or ``(index, custom_ids) -> fault``.
    :param upload_faults, create_faults, poll_faults, download_faults: actions for the next calls.
    :param responder: ``(body: dict, sample: int) -> str`` writes each answer (as for
        :class:`~curate.testing.fault_server.FaultServer`); default: the echo, or a valid instance
        of a request's ``json_schema``.
    :param models: ids ``GET /v1/models`` lists.
    :param api_key: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    :param providers: route tables to serve, from :data:`PROVIDERS`.
    """

    def __init__(self, *, polls_to_complete: int = 1, faults: BatchFaults = None,
                 upload_faults: Sequence[str] = (), create_faults: Sequence[str] = (),
                 poll_faults: Sequence[str] = (), download_faults: Sequence[str] = (),
                 responder: Callable[[dict[str, Any], int], str] | None = None, models: Iterable[str] = ("echo",),
                 api_key: str | None = None, providers: Sequence[str] = ("openai",), port: int = 0,
                 hold: bool = False):
        self.models = list(models)
        self.api_key = api_key
        self.port = port
        # The fault server's answer (usage, n, max_tokens, the context-length 400) without its faults.
        self._answerer = FaultServer(responder=responder or json_schema_responder(), models=None)
        self.store = BatchStore(self._answer, polls_to_complete=polls_to_complete, faults=faults,
                                call_faults={"upload": upload_faults, "create": create_faults,
                                             "poll": poll_faults, "download": download_faults})
        self.store.hold = hold
        self.routes = [route for name in providers for route in PROVIDERS[name](self)]
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        status, payload, _ = self._answerer._answer(body)
        return status, payload

    # --- public -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    @property
    def hold(self) -> bool:
        """While set, no batch finishes (they stay ``in_progress``)."""
        return self.store.hold

    @hold.setter
    def hold(self, value: bool) -> None:
        self.store.hold = value

    def stats(self) -> dict[str, Any]:
        """``files_uploaded``, ``batches_created``, ``polls``, ``downloads``, ``lists``, ``cancels``,
        ``live_requests``, ``batch_ids``, ``batch_sizes``, ``running``, ``max_running``, ``requests_submitted``,
        ``requests_answered``, ``most_answers_per_request``, ``faults`` (injected, by kind)."""
        return self.store.stats()

    def answered(self) -> dict[str, int]:
        """Custom id -> how many times it was answered (a 200)."""
        with self.store.lock:
            return dict(self.store.answered)

    def submitted(self) -> dict[str, int]:
        """Custom id -> in how many created batches it was."""
        with self.store.lock:
            return dict(self.store.submitted)

    def start(self) -> "BatchServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self._send(413, _error_body("body too large", "invalid_request_error"), {})
                    return
                body = self.rfile.read(length) if length else b""
                status, payload, extra = server.dispatch(self.command, self.path,
                                                         {k.lower(): v for k, v in self.headers.items()}, body)
                self._send(status, payload, extra)

            def _send(self, status: int, payload: Any, extra: dict[str, str]) -> None:
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(data)))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

        self._httpd = ThreadingHTTPServer((HOST, self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="batch-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> "BatchServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def dispatch(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Reply:
        parts = urlsplit(target)
        path, query = parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()}
        if path == "/_batch/stats":
            return 200, self.stats(), {}
        if path == "/_batch/release" and method == "POST":
            self.hold = False
            return 200, {"hold": False}, {}
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"), {}
        known = False
        for route in self.routes:
            m = re.fullmatch(route.pattern, path)
            if m is None:
                continue
            known = True
            if route.method == method:
                try:
                    return route.handler(Request(method, path, query, headers, body, m, self.store))
                except (ValueError, KeyError, TypeError) as exc:
                    return 400, _error_body(f"invalid request: {exc}", "invalid_request_error"), {}
        if known:
            return 405, _error_body(f"method {method} not allowed on {path}", "invalid_request_error"), {}
        return 404, _error_body(f"no route {method} {path}", "not_found"), {}


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m curate.testing.batch_server",
                                     description="Batch API test server (OpenAI Files + Batches) on loopback.")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--polls", type=int, default=1, help="polls a batch takes to finish")
    parser.add_argument("--hold", action="store_true", help="no batch finishes until POST /_batch/release")
    parser.add_argument("--faults", default="", help=f"comma-separated, per created batch: {', '.join(BATCH_FAULTS)}")
    parser.add_argument("--models", default="echo", help="comma-separated model ids served")
    parser.add_argument("--providers", default="openai", help=f"route tables: {', '.join(PROVIDERS)}")
    args = parser.parse_args(argv)
    server = BatchServer(polls_to_complete=args.polls, hold=args.hold,
                         faults=[f for f in args.faults.split(",") if f], port=args.port,
                         models=[m for m in args.models.split(",") if m],
                         providers=[p for p in args.providers.split(",") if p]).start()
    print(f"READY {server.base_url}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
