"""A fault-injecting OpenAI-compatible HTTP server, for tests and benchmarks. A test double, not a
product feature.

It serves ``GET /v1/models`` and ``POST /v1/chat/completions`` on loopback, answers every chat by
echoing the last user message (deterministically), and injects faults on demand::

    from curate.testing.fault_server import Fault, FaultServer

    with FaultServer(script=["429", "500", "reset", "ok"]) as srv:   # a background thread
        engine = OpenAIEngine(model="echo", base_url=srv.base_url)
        ...
        assert srv.stats()["chat_requests"] == 4

``script`` decides what each chat request gets:

* a list: one action per chat request, in arrival order (then ``"ok"``);
* a dict ``{substring: [actions]}``: requests whose last message contains the substring take the
  next action of that list (then ``"ok"``) — deterministic under concurrency;
* a callable ``(body: dict, index: int) -> action | None``; ``index`` counts chat requests from 0.

An action is a :class:`Fault` or a shorthand string: ``"ok"``, ``"reset"`` (the connection is
closed without a response), ``"hang"`` (no response until the server stops), or an HTTP status
code such as ``"429"`` (with ``Retry-After: 1``), ``"500"``, ``"400"``; :meth:`Fault.slow`,
:meth:`Fault.hang` and :meth:`Fault.error` take a duration, a ``Retry-After`` or a message. A prompt containing :data:`CONTEXT_MARKER` always gets
the 400 "maximum context length" error an OpenAI-compatible server returns. ``latency`` delays
every chat answer (for benchmarks).

For reward models it also serves what their servers answer: ``logprobs_responder`` adds NIM-style
``logprobs.content`` (one ``{token: attribute, logprob: score}`` per attribute) to chat answers, and
``scorer`` turns on vLLM 0.32's pooling routes ``POST /classify``, ``/pooling`` and ``/score``
(at the server root, not under ``/v1``; faults, the API key and latency apply as for chat).

Without asyncio in your process, run it in a child process (``python -m
curate.testing.fault_server --latency 0.2`` prints ``READY <base_url>``, or
:class:`FaultServerProcess`); ``GET /_fault/stats`` returns the counters as JSON.

A responder cannot cross into a child process, so one is built in: ``--json-schema`` (or
``FaultServerProcess(json_schema=True)``, or ``FaultServer(responder=json_schema_responder())``)
answers a request that asks for ``response_format: json_schema`` with a small valid instance of
its schema (:func:`schema_instance`: strings are a few made-up words derived from the request,
so different requests get different texts; arrays get ``minItems`` items, or
``--json-array-items``), and any other request with the echo.

Only the standard library is used. The server binds 127.0.0.1 only, reads request bodies up to
8 MiB and keeps the last 10,000 request bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence, Union

__all__ = ["CONTEXT_MARKER", "Fault", "FaultServer", "FaultServerProcess", "json_schema_responder",
           "schema_instance"]

#: A prompt containing this gets a 400 context-length error on every attempt.
CONTEXT_MARKER = "<<too-long>>"
#: vLLM's pooling-runner routes, served when a ``scorer`` is given.
POOLING_ROUTES = ("/classify", "/pooling", "/score")
MAX_BODY = 8 * 1024 * 1024
HOST = "127.0.0.1"
_PROCEED = object()  # a fault that lets the request be answered


@dataclass(frozen=True)
class Fault:
    """What the server does with one chat request."""

    kind: str = "ok"  # "ok" | "status" | "reset" | "hang"
    status: int = 200
    retry_after: str | None = None  # Retry-After header value, for "status"
    message: str = ""
    seconds: float | None = None  # "hang": how long (None: until the server stops); "ok": extra delay

    @classmethod
    def ok(cls) -> "Fault":
        return cls("ok")

    @classmethod
    def slow(cls, seconds: float) -> "Fault":
        """Answer normally, ``seconds`` later than the others."""
        return cls("ok", seconds=seconds)

    @classmethod
    def error(cls, status: int, message: str = "", retry_after: str | float | None = None) -> "Fault":
        ra = None if retry_after is None else str(retry_after)
        return cls("status", status, ra, message or f"injected HTTP {status}")

    @classmethod
    def rate_limit(cls, retry_after: str | float | None = 1) -> "Fault":
        return cls.error(429, "Rate limit reached, retry later", retry_after)

    @classmethod
    def reset(cls) -> "Fault":
        return cls("reset")

    @classmethod
    def hang(cls, seconds: float | None = None) -> "Fault":
        return cls("hang", seconds=seconds)

    @classmethod
    def parse(cls, action: "Action | None") -> "Fault":
        if action is None:
            return cls.ok()
        if isinstance(action, Fault):
            return action
        text = str(action).strip().lower()
        if text in ("ok", "reset", "hang"):
            return cls(text)
        if text.isdigit():
            status = int(text)
            return cls.rate_limit() if status == 429 else cls.error(status)
        raise ValueError(f"unknown fault action {action!r}: use ok, reset, hang, an HTTP status or a Fault")


Action = Union[Fault, str, int]
Script = Union[None, Sequence[Action], Mapping[str, Sequence[Action]], Callable[[dict, int], "Action | None"]]


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
            408: "Request Timeout", 409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


def _words(text: str) -> list[str]:
    return text.split()


def _error_body(message: str, kind: str, code: Any = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


class _Counters:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.chat_requests = 0
        self.model_requests = 0
        self.responses_ok = 0
        self.pooling_requests = 0
        self.faults: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.connections = 0
        self.bodies: deque[dict[str, Any]] = deque(maxlen=10_000)
        self.auth_headers: deque[str | None] = deque(maxlen=10_000)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"chat_requests": self.chat_requests, "model_requests": self.model_requests,
                    "responses_ok": self.responses_ok, "faults": dict(self.faults), "in_flight": self.in_flight,
                    "max_in_flight": self.max_in_flight, "connections": self.connections,
                    "pooling_requests": self.pooling_requests}


class FaultServer:
    """OpenAI-compatible echo server with injectable faults, in a background thread.

    :param script: per-request actions (see the module docstring).
    :param latency: seconds to wait before answering each chat request.
    :param models: model ids served; ``None`` makes ``/v1/models`` return 404 (a server without
        the endpoint). Chat requests for other models get a 404 ``model_not_found``.
    :param models_script: actions for ``GET /v1/models`` requests, in order (then normal
        answers); ``"reset"`` and HTTP statuses apply.
    :param api_key: when set, requests without ``Authorization: Bearer <api_key>`` get a 401.
    :param max_context_words: prompts (all messages) longer than this many words get the 400
        context-length error too.
    :param port: 0 picks a free port.
    :param responder: ``(body: dict, sample: int) -> str`` writes the content of each sample
        instead of the echo (a judge that prefers position A, a reward model's attribute string);
        faults, latency, ``n``, ``max_tokens`` truncation and logprobs apply as for the echo.
    :param logprobs_responder: ``(body: dict, sample: int) -> list | None``: when it returns a list,
        that list is the sample's ``logprobs.content`` whatever the request asked, e.g.
        ``[{"token": "helpfulness", "logprob": 1.6}, ...]`` as NIM serves Nemotron-4-340B-Reward.
    :param scorer: ``(route: str, body: dict) -> list[float] | float | dict | Exception`` serves
        ``POST /classify``, ``/pooling`` and ``/score`` (``route`` is ``"classify"``...): the
        model's outputs for the one input of the body, wrapped in vLLM 0.32's reply (``probs``,
        ``data``, or ``score``: the first value); a dict is sent as the whole reply (a wrong
        shape), an exception as a 400 with its message. Without it those routes are 404.
    """

    def __init__(self, script: Script = None, *, latency: float = 0.0, models: Iterable[str] | None = ("echo",),
                 models_script: Sequence[Action] = (), api_key: str | None = None,
                 max_context_words: int | None = None, port: int = 0,
                 responder: Callable[[dict[str, Any], int], str] | None = None,
                 logprobs_responder: Callable[[dict[str, Any], int], list[Any] | None] | None = None,
                 scorer: Callable[[str, dict[str, Any]], Any] | None = None):
        self.latency = latency
        self.responder = responder
        self.logprobs_responder = logprobs_responder
        self.scorer = scorer
        self.models = None if models is None else list(models)
        self.api_key = api_key
        self.max_context_words = max_context_words
        self.port = port
        self.counters = _Counters()
        self._script = script
        self._models_queue: deque[Action] = deque(models_script)
        self._queue: deque[Action] = deque(script) if isinstance(script, (list, tuple)) else deque()
        self._per_prompt: dict[str, deque[Action]] = (
            {k: deque(v) for k, v in script.items()} if isinstance(script, Mapping) else {})
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # --- public -----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    def stats(self) -> dict[str, Any]:
        """Counters: chat_requests, model_requests, responses_ok, faults (by kind), in_flight,
        max_in_flight (most chat requests handled at once), connections, pooling_requests (to
        ``/classify``, ``/pooling`` and ``/score``; their bodies are in :attr:`bodies` too)."""
        return self.counters.snapshot()

    @property
    def bodies(self) -> list[dict[str, Any]]:
        """The JSON bodies of the chat requests received (the last 10,000)."""
        with self.counters.lock:
            return list(self.counters.bodies)

    @property
    def auth_headers(self) -> list[str | None]:
        """The ``Authorization`` header of each chat request received (the last 10,000)."""
        with self.counters.lock:
            return list(self.counters.auth_headers)

    def set_script(self, script: Script) -> None:
        """Replace the script (counters are kept)."""
        with self.counters.lock:
            self._script = script
            self._queue = deque(script) if isinstance(script, (list, tuple)) else deque()
            self._per_prompt = {k: deque(v) for k, v in script.items()} if isinstance(script, Mapping) else {}

    def start(self) -> "FaultServer":
        self._thread = threading.Thread(target=self._thread_main, name="fault-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"fault server failed to start: {self._error}") from self._error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._stopping.set)  # type: ignore[union-attr]
            thread.join(10)
        self._thread = None

    def __enter__(self) -> "FaultServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (the command-line mode)."""
        asyncio.run(self._main(announce=True))

    # --- server -----------------------------------------------------------------------------
    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to start()
            self._error = exc
            self._ready.set()

    async def _main(self, announce: bool = False) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(self._connection, HOST, self.port, backlog=1024,
                                                  limit=MAX_BODY)
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        if announce:
            print(f"READY {self.base_url}", flush=True)
        try:
            await self._stopping.wait()
        finally:
            self._server.close()
            for writer in list(self._writers):
                writer.transport.abort()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        with self.counters.lock:
            self.counters.connections += 1
        try:
            while True:
                request = await self._read_request(reader)
                if request is None:
                    break
                method, path, headers, body = request
                keep_alive = headers.get("connection", "").lower() != "close"
                response = await self._dispatch(method, path, headers, body)
                if response is None:  # reset or hang ended: drop the connection
                    self._abort(writer)
                    return
                status, payload, extra = response
                writer.write(self._render(status, payload, extra, keep_alive))
                await writer.drain()
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    def _abort(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # RST instead of FIN: the client sees a reset connection
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @staticmethod
    async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
        line = await reader.readline()
        if not line:
            return None
        parts = line.decode("latin-1").split()
        if len(parts) != 3:
            raise ValueError("bad request line")
        method, path, _ = parts
        headers: dict[str, str] = {}
        while True:
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    await reader.readline()
                    break
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(await reader.readexactly(size))
                await reader.readline()
            body = b"".join(chunks)
        else:
            length = int(headers.get("content-length", "0") or 0)
            if length > MAX_BODY:
                raise ValueError("body too large")
            body = await reader.readexactly(length) if length else b""
        return method, path.split("?")[0], headers, body

    @staticmethod
    def _render(status: int, payload: Any, extra: dict[str, str], keep_alive: bool) -> bytes:
        data = json.dumps(payload).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "Content-Type: application/json",
                f"Content-Length: {len(data)}", f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + data

    async def _dispatch(self, method: str, path: str, headers: dict[str, str],
                        body: bytes) -> tuple[int, Any, dict[str, str]] | None:
        if path == "/_fault/stats":
            return 200, self.stats(), {}
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, _error_body("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"), {}
        if path == "/v1/models" and method == "GET":
            with self.counters.lock:
                self.counters.model_requests += 1
                fault = Fault.parse(self._models_queue.popleft() if self._models_queue else None)
            if fault.kind == "reset":
                return None
            if fault.kind == "status":
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                return fault.status, _error_body(fault.message, "server_error", fault.status), extra
            if self.models is None:
                return 404, _error_body("Not Found", "not_found"), {}
            return 200, {"object": "list", "data": [{"id": m, "object": "model", "created": 0, "owned_by": "curate"}
                                                   for m in self.models]}, {}
        if path == "/v1/chat/completions":
            if method != "POST":
                return 405, _error_body("Method Not Allowed", "invalid_request_error"), {}
            return await self._chat(headers, body)
        if path in POOLING_ROUTES and self.scorer is not None:
            if method != "POST":
                return 405, _error_body("Method Not Allowed", "invalid_request_error"), {}
            return await self._pooling(path.lstrip("/"), headers, body)
        return 404, _error_body(f"no route {method} {path}", "not_found"), {}

    def _next_fault(self, req: dict[str, Any], index: int) -> Fault:
        with self.counters.lock:
            script = self._script
            if isinstance(script, (list, tuple)):
                return Fault.parse(self._queue.popleft() if self._queue else None)
            if isinstance(script, Mapping):
                text = _last_content(req)
                for key, queue in self._per_prompt.items():
                    if key in text:
                        return Fault.parse(queue.popleft() if queue else None)
                return Fault.ok()
        if callable(script):
            return Fault.parse(script(req, index))
        return Fault.ok()

    async def _wait_and_fail(self, fault: Fault, error_kind: Callable[[int], str]) -> Any:
        """The latency, then the fault: an error response, ``None`` (the connection is dropped),
        or ``_PROCEED`` to answer normally. Shared by the chat and the pooling routes."""
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault.kind == "ok":
            if fault.seconds:
                await asyncio.sleep(fault.seconds)
            return _PROCEED
        with self.counters.lock:
            key = str(fault.status) if fault.kind == "status" else fault.kind
            self.counters.faults[key] = self.counters.faults.get(key, 0) + 1
        if fault.kind == "hang":
            assert self._stopping is not None
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), fault.seconds)
            return None
        if fault.kind == "status":
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return fault.status, _error_body(fault.message, error_kind(fault.status), fault.status), extra
        return None  # reset

    async def _chat(self, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]] | None:
        try:
            req = json.loads(body)
            if not isinstance(req, dict) or not isinstance(req.get("messages"), list):
                raise ValueError("`messages` must be a list")
        except ValueError as exc:
            return 400, _error_body(f"invalid JSON body: {exc}", "invalid_request_error"), {}
        c = self.counters
        with c.lock:
            index = c.chat_requests
            c.chat_requests += 1
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            c.bodies.append(req)
            c.auth_headers.append(headers.get("authorization"))
        try:
            failed = await self._wait_and_fail(self._next_fault(req, index), lambda status: {
                429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "server_error"))
            return self._answer(req) if failed is _PROCEED else failed
        finally:
            with c.lock:
                c.in_flight -= 1

    def _answer(self, req: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        model = req.get("model")
        if self.models is not None and model not in self.models:
            return 404, _error_body(f"The model `{model}` does not exist.", "NotFoundError", 404, "model"), {}
        prompt_words = sum(len(_words(str(m.get("content") or ""))) for m in req["messages"])
        too_long = any(CONTEXT_MARKER in str(m.get("content") or "") for m in req["messages"]) or (
            self.max_context_words is not None and prompt_words > self.max_context_words)
        if too_long:
            limit = self.max_context_words or 2048
            msg = (f"This model's maximum context length is {limit} tokens. However, your messages resulted in "
                   f"{max(prompt_words, limit + 1)} tokens. Please reduce the length of the messages.")
            return 400, _error_body(msg, "invalid_request_error", "context_length_exceeded", "messages"), {}
        text = _last_content(req)
        n = int(req.get("n") or 1)
        limit = req.get("max_completion_tokens") or req.get("max_tokens")
        structured = (req.get("response_format") or {}).get("type") in ("json_schema", "json_object")
        choices, completion_tokens = [], 0
        for i in range(n):
            if self.responder is not None:
                text = self.responder(req, i)
            words = _words(text if n == 1 or self.responder is not None else f"{text} #{i}")
            finish = "stop"
            if limit is not None and len(words) > int(limit):
                words, finish = words[: int(limit)], "length"
            content = " ".join(words)
            if self.responder is not None and finish == "stop":
                content = text  # verbatim (newlines kept) unless truncated
            elif structured:
                content = json.dumps({"echo": content})
            completion_tokens += len(words)
            choice: dict[str, Any] = {"index": i, "message": {"role": "assistant", "content": content},
                                      "finish_reason": finish}
            if req.get("logprobs"):
                top = int(req.get("top_logprobs") or 0)
                choice["logprobs"] = {"content": [
                    {"token": w, "logprob": -1.0, "bytes": None,
                     "top_logprobs": [{"token": w, "logprob": -1.0, "bytes": None}] * top} for w in words]}
            if self.logprobs_responder is not None:
                content_logprobs = self.logprobs_responder(req, i)
                if content_logprobs is not None:
                    choice["logprobs"] = {"content": content_logprobs}
            choices.append(choice)
        with self.counters.lock:
            self.counters.responses_ok += 1
        return 200, {"id": f"chatcmpl-{self.counters.responses_ok}", "object": "chat.completion", "created": 0,
                     "model": model, "choices": choices,
                     "usage": {"prompt_tokens": prompt_words, "completion_tokens": completion_tokens,
                               "total_tokens": prompt_words + completion_tokens}}, {}


    async def _pooling(self, route: str, headers: dict[str, str],
                       body: bytes) -> tuple[int, Any, dict[str, str]] | None:
        """``/classify``, ``/pooling``, ``/score`` as vllm 0.32 answers them (one input per body)."""
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as exc:
            return 400, _error_body(f"invalid JSON body: {exc}", "BadRequestError", 400), {}
        c = self.counters
        with c.lock:
            index = c.pooling_requests
            c.pooling_requests += 1
            c.bodies.append(req)
            c.auth_headers.append(headers.get("authorization"))
        # Per-prompt scripts match the last user message, or a /score body's query.
        probe = req if "messages" in req else {**req, "messages": [{"role": "user", "content": str(req.get("queries"))}]}
        failed = await self._wait_and_fail(self._next_fault(probe, index), lambda status: (
            "BadRequestError" if status == 400 else "InternalServerError"))
        if failed is not _PROCEED:
            return failed
        model = req.get("model")
        if self.models is not None and model not in self.models:
            return 404, _error_body(f"The model `{model}` does not exist.", "NotFoundError", 404), {}
        if CONTEXT_MARKER in json.dumps(req):
            return 400, _error_body(
                "This model's maximum context length is 256 tokens. However, your prompt contains at least 257 "
                "input tokens, which exceeds this limit even without any output tokens. Please reduce the length "
                "of the input prompt. (parameter=input_tokens, value=257)", "BadRequestError", 400,
                "input_tokens"), {}
        assert self.scorer is not None
        try:
            out = self.scorer(route, req)
        except Exception as exc:  # noqa: BLE001 - the scorer's way to answer a 400
            return 400, _error_body(str(exc), "BadRequestError", 400), {}
        with c.lock:
            c.responses_ok += 1
        if isinstance(out, dict):
            return 200, out, {}
        values = [float(v) for v in out] if isinstance(out, (list, tuple)) else [float(out)]
        usage = {"prompt_tokens": 1, "total_tokens": 1, "completion_tokens": 0, "prompt_tokens_details": None}
        if route == "classify":
            best = max(range(len(values)), key=values.__getitem__) if values else 0
            item: dict[str, Any] = {"index": 0, "label": f"LABEL_{best}", "probs": values, "num_classes": len(values)}
        elif route == "pooling":
            item = {"index": 0, "object": "pooling", "data": values}
        else:
            item = {"index": 0, "object": "score", "score": values[0]}
        return 200, {"id": f"{route}-{index}", "object": "list", "created": 0, "model": model, "data": [item],
                     "usage": usage}, {}


def _last_content(req: dict[str, Any]) -> str:
    messages = req.get("messages") or []
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return str(m.get("content") or "")
    return str(messages[-1].get("content") or "") if messages and isinstance(messages[-1], dict) else ""


_SYLLABLES = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"]


def _words_for(seed: str, count: int) -> str:
    """``count`` made-up words, a deterministic function of ``seed`` (distinct seeds, distinct texts)."""
    digest = hashlib.sha256(seed.encode()).digest()
    while len(digest) < 3 * count:
        digest += hashlib.sha256(digest).digest()
    return " ".join("".join(_SYLLABLES[b % len(_SYLLABLES)] for b in digest[3 * i:3 * i + 2 + digest[3 * i + 2] % 2])
                    for i in range(count))


def schema_instance(schema: dict[str, Any], seed: str = "", *, array_items: int | None = None) -> Any:
    """A small JSON value valid for ``schema`` (the subset pydantic emits: objects with their
    required properties, arrays, strings, numbers, booleans, enums, ``const``, ``anyOf``/``oneOf``,
    ``$ref`` into ``$defs``). Strings are made-up words derived from ``seed`` and their position;
    arrays have ``minItems`` items (or ``array_items``, kept within ``minItems``/``maxItems``)."""
    root = schema

    def build(node: dict[str, Any], path: str) -> Any:
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return build(target, path)
        if "const" in node:
            return node["const"]
        if node.get("enum"):
            return node["enum"][0]
        for key in ("anyOf", "oneOf", "allOf"):
            if node.get(key):
                options = [o for o in node[key] if o.get("type") != "null"] or node[key]
                return build(options[0], path)
        kind = node.get("type", "object" if "properties" in node else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            props = node.get("properties", {})
            return {name: build(props.get(name, {}), f"{path}.{name}") for name in node.get("required", [])}
        if kind == "array":
            low, high = node.get("minItems", 0), node.get("maxItems")
            count = max(low, array_items if array_items is not None else low)
            count = min(count, high) if high is not None else count
            return [build(node.get("items", {}), f"{path}[{i}]") for i in range(count)]
        if kind in ("integer", "number"):
            low = node.get("minimum", node.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in node else 0))
            value = max(low, 0) if "maximum" not in node else min(max(low, 0), node["maximum"])
            return int(value) if kind == "integer" else float(value)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        text = _words_for(f"{seed}|{path}", 6)
        low, high = node.get("minLength", 0), node.get("maxLength")
        text = text.ljust(low, "a")
        return text[:high] if high is not None else text

    return build(schema, "$")


def json_schema_responder(array_items: int | None = None) -> Callable[[dict[str, Any], int], str]:
    """A ``responder`` for :class:`FaultServer`: a request with ``response_format: json_schema``
    gets :func:`schema_instance` of its schema (seeded by the messages and the sample), any other
    the echo of its last user message."""

    def respond(body: dict[str, Any], sample: int) -> str:
        text = _last_content(body)
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
        if not isinstance(schema, dict):
            return text if int(body.get("n") or 1) == 1 else f"{text} #{sample}"
        seed = json.dumps(body.get("messages"), sort_keys=True) + f"#{sample}"
        return json.dumps(schema_instance(schema, seed, array_items=array_items))

    return respond


class FaultServerProcess:
    """A :class:`FaultServer` (no script; latency and models only) in a child process, so that
    its event loop does not share a CPU with the client under test. ``stats()`` reads
    ``/_fault/stats``. ``json_schema=True`` answers structured requests with valid JSON
    (:func:`json_schema_responder`, arrays of ``json_array_items`` items)."""

    def __init__(self, *, latency: float = 0.0, models: Iterable[str] = ("echo",), startup_timeout: float = 20,
                 json_schema: bool = False, json_array_items: int | None = None):
        self.latency = latency
        self.models = list(models)
        self.startup_timeout = startup_timeout
        self.json_schema = json_schema
        self.json_array_items = json_array_items
        self.base_url = ""
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> "FaultServerProcess":
        cmd = [sys.executable, "-m", "curate.testing.fault_server", "--latency", str(self.latency),
               "--models", ",".join(self.models)]
        if self.json_schema:
            cmd.append("--json-schema")
        if self.json_array_items is not None:
            cmd += ["--json-array-items", str(self.json_array_items)]
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + self.startup_timeout
        assert self._proc.stdout is not None
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            if line.startswith("READY "):
                self.base_url = line.split()[1]
                return self
            if not line and self._proc.poll() is not None:
                break
        self.__exit__()
        raise RuntimeError("fault server process did not start")

    def stats(self) -> dict[str, Any]:
        root = self.base_url.rsplit("/v1", 1)[0]
        with urllib.request.urlopen(f"{root}/_fault/stats", timeout=10) as resp:
            return json.loads(resp.read())

    def __exit__(self, *exc: Any) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m curate.testing.fault_server",
                                     description="OpenAI-compatible echo server for tests and benchmarks (loopback).")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each chat answer")
    parser.add_argument("--models", default="echo", help="comma-separated model ids served")
    parser.add_argument("--json-schema", action="store_true",
                        help="answer response_format json_schema requests with a valid instance of the schema")
    parser.add_argument("--json-array-items", type=int, default=None,
                        help="with --json-schema: items per array (within minItems/maxItems; default minItems)")
    args = parser.parse_args(argv)
    responder = json_schema_responder(args.json_array_items) if args.json_schema else None
    server = FaultServer(latency=args.latency, models=[m for m in args.models.split(",") if m], port=args.port,
                         responder=responder)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
