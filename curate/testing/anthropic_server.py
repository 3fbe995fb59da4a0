"""A fault-injecting server for Anthropic's Messages API, for tests and benchmarks. A test double,
not a product feature.

It serves, on loopback, what an Anthropic engine calls::

    GET  /v1/models, /v1/models/{id}       the models it serves (aliases resolve as ids)
    POST /v1/messages                      answers by echoing the last user message
    POST /v1/messages/batches              Message Batches: create (requests inline)
    GET  /v1/messages/batches[/{id}]       list (newest first) / retrieve: processing_status, request_counts
    GET  /v1/messages/batches/{id}/results the results JSONL, once the batch ended
    POST /v1/messages/batches/{id}/cancel  cancel: unfinished requests end ``canceled``

with the request checks the real API makes that an engine could get wrong (``max_tokens``
required, no ``system`` role inside ``messages``, temperature within 0..1, roles user/assistant,
the ``x-api-key`` and ``anthropic-version`` headers), Anthropic's error bodies
(``{"type": "error", "error": {"type": "overloaded_error", "message": ...}}``) and its answers:
``content`` blocks, ``stop_reason`` (``end_turn``, ``max_tokens``, ``stop_sequence``,
``tool_use``) and ``usage`` (``input_tokens``, ``output_tokens``: words). A request that forces a
tool (``tool_choice: {type: tool}``) gets a ``tool_use`` block whose input is a small valid
instance of the tool's ``input_schema`` (:func:`curate.testing.fault_server.schema_instance`).

Faults are scripted exactly as for :class:`curate.testing.fault_server.FaultServer` (a list, a
``{substring: [actions]}`` dict matched against the last user message, or a callable), with
:class:`~curate.testing.fault_server.Fault` actions: ``"429"`` (``retry-after: 1``), ``"529"``
(``overloaded_error``), ``"500"``, ``"reset"``, ``"hang"``, ``Fault.slow(s)``::

    from curate.testing import AnthropicServer
    from curate.testing.fault_server import Fault

    with AnthropicServer(script={"busy": [Fault.rate_limit(retry_after=2), "529"]}, api_key="k") as srv:
        engine = AnthropicEngine(model="claude-test", base_url=srv.base_url, api_key_env="MY_KEY")
        ...
        assert srv.stats()["chat_requests"] == 3

Batches are those of :class:`curate.testing.batch_server.BatchServer` — the same store, fault
vocabulary and counters as for OpenAI's Batch API — behind Anthropic's routes
(:func:`anthropic_routes`, also served by ``BatchServer(providers=("anthropic",))``): each request
is answered as ``/v1/messages`` would (an invalid one, or one whose prompt holds
``CONTEXT_MARKER``, ends ``errored`` with ``invalid_request_error``); a batch finishes on its
``polls_to_complete``-th poll (never while ``hold`` is set) and then its fault applies, one per
created batch (``faults``): ``"expire"`` and ``"cancel"`` leave the second half ``expired`` /
``canceled``, ``"fail_some"`` makes every other request ``errored`` (``api_error``),
``"fail_batch"`` every request. ``create_faults`` (also ``"lost"``: created, answered with a 500),
``poll_faults`` and ``download_faults`` fail the next calls. ``batch_stats()`` and ``answered()``
(custom id -> answers that succeeded: a request paid twice shows a 2) are the batch server's
counters; ``stats()``, ``bodies`` and ``set_script`` are the fault server's (live requests);
``api_keys`` lists the ``x-api-key`` header of each request. Only the standard library is used.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Callable, Iterable, Sequence

from curate.testing.batch_server import BatchFaults, BatchStore, Request, Route
from curate.testing.fault_server import (_PROCEED, CONTEXT_MARKER, Action, Fault, FaultServer, Script,
                                         _last_content, _words, json_schema_responder, schema_instance)

__all__ = ["AnthropicServer", "ANTHROPIC_ERRORS", "anthropic_error", "anthropic_routes"]

#: Anthropic's error ``type`` for each status the server sends.
ANTHROPIC_ERRORS = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                    529: "overloaded_error"}
#: Anthropic's rule for custom ids.
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
#: The largest prompt, in words, before the "prompt is too long" 400 (see ``CONTEXT_MARKER``).
MAX_PROMPT_WORDS = 200_000


def anthropic_error(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": ANTHROPIC_ERRORS.get(status, "api_error"), "message": message}}


class AnthropicServer(FaultServer):
    """Anthropic Messages API echo server with injectable faults, in a background thread.

    :param script: per-request actions for ``POST /v1/messages`` (see the fault server).
    :param latency: seconds to wait before answering each message request.
    :param models: model ids served (``GET /v1/models/{id}`` 404s for others, as do messages).
    :param models_script: actions for ``GET /v1/models...`` requests, in order.
    :param api_key: when set, requests without ``x-api-key: <api_key>`` get a 401.
    :param responder: ``(body: dict, index: int) -> str`` writes the text of each live answer
        instead of the echo (``index`` counts message requests from 0).
    :param polls_to_complete, faults, create_faults, poll_faults, download_faults, hold: the
        batches' behaviour, as for :class:`~curate.testing.batch_server.BatchServer`.
    """

    def __init__(self, script: Script = None, *, latency: float = 0.0, models: Iterable[str] = ("claude-test",),
                 models_script: Sequence[Action] = (), api_key: str | None = None, port: int = 0,
                 responder: Callable[[dict[str, Any], int], str] | None = None,
                 polls_to_complete: int = 1, faults: BatchFaults = None, create_faults: Sequence[str] = (),
                 poll_faults: Sequence[str] = (), download_faults: Sequence[str] = (), hold: bool = False):
        # The fault server's own answer is what batches get (translated): echo, or a schema instance.
        super().__init__(script, latency=latency, models=models, models_script=models_script, port=port,
                         responder=json_schema_responder())
        self.anthropic_key = api_key
        self.anthropic_responder = responder
        self._api_keys: list[str | None] = []
        self.store = BatchStore(self._batch_answer, polls_to_complete=polls_to_complete, faults=faults,
                                call_faults={"create": create_faults, "poll": poll_faults,
                                             "download": download_faults})
        self.store.hold = hold
        self._batch_routes = anthropic_routes(self)

    @property
    def base_url(self) -> str:
        """The API root (the engine's ``base_url``): paths start with ``/v1``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_keys(self) -> list[str | None]:
        """The ``x-api-key`` header of each request received (every route)."""
        with self.counters.lock:
            return list(self._api_keys)

    # --- routes -------------------------------------------------------------------------------
    async def _dispatch(self, method: str, path: str, headers: dict[str, str],
                        body: bytes) -> tuple[int, Any, dict[str, str]] | None:
        if path == "/_fault/stats":
            return 200, self.stats(), {}
        with self.counters.lock:
            self._api_keys.append(headers.get("x-api-key"))
        if self.anthropic_key is not None and headers.get("x-api-key") != self.anthropic_key:
            return 401, anthropic_error(401, "invalid x-api-key"), {}
        if not headers.get("anthropic-version"):
            return 400, anthropic_error(400, "anthropic-version: header is required"), {}
        if method == "GET" and (path == "/v1/models" or path.startswith("/v1/models/")):
            return self._models_route(path)
        if path == "/v1/messages":
            if method != "POST":
                return 405, anthropic_error(400, "Method Not Allowed"), {}
            return await self._messages(body)
        routed = await self._more_routes(method, path, headers, body)
        if routed is not False:
            return routed  # type: ignore[return-value]
        return 404, anthropic_error(404, f"no route {method} {path}"), {}

    async def _more_routes(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        """The Message Batches routes (:func:`anthropic_routes` over the batch store); ``False``
        when none matches."""
        known = False
        for route in self._batch_routes:
            m = re.fullmatch(route.pattern, path)
            if m is None:
                continue
            known = True
            if route.method == method:
                try:
                    return route.handler(Request(method, path, {}, headers, body, m, self.store))
                except (ValueError, KeyError, TypeError) as exc:
                    return 400, anthropic_error(400, f"invalid request: {exc}"), {}
        if known:
            return 405, anthropic_error(400, f"method {method} not allowed on {path}"), {}
        return False

    # --- Message Batches ----------------------------------------------------------------------
    @property
    def hold(self) -> bool:
        """While set, no batch finishes (they stay ``in_progress``)."""
        return self.store.hold

    @hold.setter
    def hold(self, value: bool) -> None:
        self.store.hold = value

    def batch_stats(self) -> dict[str, Any]:
        """The batch store's counters: ``batches_created``, ``polls``, ``downloads``, ``lists``,
        ``cancels``, ``batch_sizes``, ``max_running``, ``requests_answered``, ``faults``..."""
        return self.store.stats()

    def answered(self) -> dict[str, int]:
        """Custom id -> how many times a batch answered it successfully."""
        with self.store.lock:
            return dict(self.store.answered)

    def _batch_answer(self, body: dict[str, Any]) -> tuple[int, Any]:
        status, payload, _ = self._answer(body)  # the fault server's OpenAI answer, translated by the routes
        return status, payload

    @staticmethod
    def _render(status: int, payload: Any, extra: dict[str, str], keep_alive: bool) -> bytes:
        if not isinstance(payload, bytes):
            return FaultServer._render(status, payload, extra, keep_alive)
        head = [f"HTTP/1.1 {status} OK", f"Content-Length: {len(payload)}",
                f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        head += [f"{k}: {v}" for k, v in extra.items()]
        return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + payload

    def _models_route(self, path: str) -> tuple[int, Any, dict[str, str]] | None:
        with self.counters.lock:
            self.counters.model_requests += 1
            fault = Fault.parse(self._models_queue.popleft() if self._models_queue else None)
        if fault.kind == "reset":
            return None
        if fault.kind == "status":
            extra = {"retry-after": fault.retry_after} if fault.retry_after is not None else {}
            return fault.status, anthropic_error(fault.status, fault.message), extra
        models = self.models or []
        if path == "/v1/models":
            return 200, {"data": [_model(m) for m in models], "has_more": False,
                         "first_id": models[0] if models else None, "last_id": models[-1] if models else None}, {}
        model = path[len("/v1/models/"):]
        if model not in models:
            return 404, anthropic_error(404, f"model: {model}"), {}
        return 200, _model(model), {}

    async def _messages(self, body: bytes) -> tuple[int, Any, dict[str, str]] | None:
        try:
            req = json.loads(body)
        except ValueError as exc:
            return 400, anthropic_error(400, f"invalid JSON body: {exc}"), {}
        c = self.counters
        with c.lock:
            index = c.chat_requests
            c.chat_requests += 1
            c.in_flight += 1
            c.max_in_flight = max(c.max_in_flight, c.in_flight)
            c.bodies.append(req)
        try:
            invalid = request_problem(req, self.models)
            if invalid is not None:
                return invalid
            failed = await self._wait_and_fail(self._next_fault(req, index), lambda status: "")
            if failed is None:
                return None
            if failed is not _PROCEED:
                status, _, extra = failed
                return status, anthropic_error(status, failed[1]["error"]["message"]), extra
            with c.lock:
                c.responses_ok += 1
                count = c.responses_ok
            return 200, self.message(req, index, f"msg_{count:08d}"), {}
        finally:
            with c.lock:
                c.in_flight -= 1

    def message(self, req: dict[str, Any], index: int, message_id: str) -> dict[str, Any]:
        """The ``message`` object answering one (valid) request body."""
        return answer(req, message_id, None if self.anthropic_responder is None
                      else self.anthropic_responder(req, index))


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _model(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"}


def request_problem(req: Any, models: list[str] | None) -> tuple[int, Any, dict[str, str]] | None:
    """The 400 (or 404) the real API answers an invalid ``/v1/messages`` body with; ``None`` if valid."""
    def bad(message: str) -> tuple[int, Any, dict[str, str]]:
        return 400, anthropic_error(400, message), {}

    if not isinstance(req, dict):
        return bad("the body must be a JSON object")
    if not isinstance(req.get("max_tokens"), int) or req["max_tokens"] < 1:
        return bad("max_tokens: Field required")
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        return bad("messages: at least one message is required")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            role = m.get("role") if isinstance(m, dict) else None
            return bad(f"messages.{i}.role: Input should be 'user' or 'assistant' (got {role!r}); use the "
                       "top-level system parameter for a system prompt")
    temperature = req.get("temperature", 1.0)
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 1:
        return bad(f"temperature: range: 0..1 (got {temperature})")
    if "n" in req:
        return bad("n: Extra inputs are not permitted")
    if models is not None and req.get("model") not in models:
        return 404, anthropic_error(404, f"model: {req.get('model')}"), {}
    texts = [str(req.get("system") or "")] + [_text(m.get("content")) for m in messages]
    words = sum(len(_words(t)) for t in texts)
    if any(CONTEXT_MARKER in t for t in texts) or words > MAX_PROMPT_WORDS:
        return bad(f"prompt is too long: {max(words, MAX_PROMPT_WORDS + 1)} tokens > {MAX_PROMPT_WORDS} maximum")
    return None


def _text(content: Any) -> str:
    if isinstance(content, list):  # content blocks
        return " ".join(str(b.get("text") or "") for b in content if isinstance(b, dict))
    return str(content or "")


def answer(req: dict[str, Any], message_id: str, text: str | None = None) -> dict[str, Any]:
    """The echo answer to a valid body: the last user message (or ``text``), cut at a stop
    sequence or at ``max_tokens`` words; a forced tool gets a ``tool_use`` block."""
    prompt_words = len(_words(str(req.get("system") or ""))) + sum(
        len(_words(_text(m.get("content")))) for m in req["messages"])
    choice = req.get("tool_choice") or {}
    tools = {t.get("name"): t for t in req.get("tools") or [] if isinstance(t, dict)}
    base = {"id": message_id, "type": "message", "role": "assistant", "model": req.get("model"),
            "stop_sequence": None}
    if choice.get("type") == "tool" and choice.get("name") in tools:
        schema = tools[choice["name"]].get("input_schema") or {"type": "object"}
        value = schema_instance(schema, json.dumps(req["messages"], sort_keys=True))
        out_words = len(_words(json.dumps(value)))
        return {**base, "content": [{"type": "tool_use", "id": f"toolu_{message_id}", "name": choice["name"],
                                     "input": value}],
                "stop_reason": "tool_use", "usage": {"input_tokens": prompt_words, "output_tokens": out_words}}
    if text is None:
        text = _last_content(req) if isinstance(req["messages"][-1].get("content"), str) else _text(
            req["messages"][-1].get("content"))
    stop_reason, stop_sequence = "end_turn", None
    for stop in req.get("stop_sequences") or []:
        if stop and stop in text:
            text, stop_reason, stop_sequence = text[:text.index(stop)], "stop_sequence", stop
    words = _words(text)
    if len(words) > req["max_tokens"]:
        text, stop_reason, stop_sequence = " ".join(words[:req["max_tokens"]]), "max_tokens", None
        words = words[:req["max_tokens"]]
    return {**base, "content": [{"type": "text", "text": text}], "stop_reason": stop_reason,
            "stop_sequence": stop_sequence, "usage": {"input_tokens": prompt_words, "output_tokens": len(words)}}


# --- Message Batches on curate.testing.BatchServer -------------------------------------------------
# The provider-neutral BatchServer (one store, one fault vocabulary and one set of counters for every
# provider) gets Anthropic's routes here: ``BatchServer(providers=("anthropic",))``. Its store answers
# OpenAI-shaped chat bodies, so a Messages body is translated there and the answer back.

def _as_chat_body(params: dict[str, Any], models: list[str] | None) -> dict[str, Any]:
    """The OpenAI chat body the store's answerer understands, for one Messages ``params``."""
    problem = request_problem(params, models)
    if problem is not None:  # the store answers this with a 400; the real reason is restored on the way out
        return {"model": params.get("model"), "messages": [{"role": "user", "content": CONTEXT_MARKER}]}
    messages = [{"role": "system", "content": params["system"]}] if params.get("system") else []
    messages += [{"role": m["role"], "content": _text(m.get("content"))} for m in params["messages"]]
    body: dict[str, Any] = {"model": params.get("model"), "messages": messages, "max_tokens": params["max_tokens"]}
    if params.get("stop_sequences"):
        body["stop"] = params["stop_sequences"]
    choice = params.get("tool_choice") or {}
    tools = {t.get("name"): t for t in params.get("tools") or [] if isinstance(t, dict)}
    if choice.get("type") == "tool" and choice.get("name") in tools:
        body["response_format"] = {"type": "json_schema", "json_schema": {
            "name": choice["name"], "schema": tools[choice["name"]].get("input_schema") or {"type": "object"}}}
    return body


def _as_message(params: dict[str, Any], status: int, reply: Any, message_id: str,
                models: list[str] | None) -> dict[str, Any]:
    """A Messages batch ``result`` for the store's answer to :func:`_as_chat_body`."""
    problem = request_problem(params, models)
    if problem is not None:
        return {"type": "errored", "error": problem[1]}
    if status != 200:
        message = (reply.get("error") or {}).get("message") if isinstance(reply, dict) else str(reply)
        return {"type": "errored", "error": anthropic_error(status if status in ANTHROPIC_ERRORS else 500,
                                                            str(message))}
    choice = reply["choices"][0]
    text, usage = choice["message"]["content"], reply.get("usage") or {}
    tool = (params.get("tool_choice") or {}).get("name") if (params.get("tool_choice") or {}).get("type") == "tool" \
        else None
    content: list[dict[str, Any]] = ([{"type": "tool_use", "id": f"toolu_{message_id}", "name": tool,
                                       "input": json.loads(text)}] if tool else [{"type": "text", "text": text}])
    stop = "max_tokens" if choice.get("finish_reason") == "length" else ("tool_use" if tool else "end_turn")
    return {"type": "succeeded", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": params.get("model"), "content": content,
        "stop_reason": stop, "stop_sequence": None,
        "usage": {"input_tokens": int(usage.get("prompt_tokens") or 0),
                  "output_tokens": int(usage.get("completion_tokens") or 0)}}}


def anthropic_routes(server: Any) -> list[Any]:
    """Anthropic's Message Batches (and ``/v1/models/{id}``) over a :class:`BatchServer`'s store.

    The store's batch faults map to Anthropic's results: ``expire`` and ``cancel`` leave the second
    half ``expired``/``canceled``, ``fail_some`` makes every other request ``errored``
    (``api_error``), ``fail_batch`` ends the batch with every request ``errored``. Call faults:
    ``create`` (also ``"lost"``), ``poll`` and ``download`` (the results). The ``x-api-key`` of
    each request is kept in ``server.anthropic_api_keys``."""
    server.anthropic_api_keys = []
    root = server.base_url[:-3] if server.base_url.endswith("/v1") else server.base_url
    models = lambda: server.models  # noqa: E731 - read at call time

    def seen(req: Any) -> None:
        server.anthropic_api_keys.append(req.headers.get("x-api-key"))

    def fault(req: Any, call: str) -> Any:
        action = req.store.call_fault(call)
        if action in ("ok", "lost"):
            return action
        status = int(action)
        return status, anthropic_error(status, f"{call} failed (injected HTTP {status})"), {}

    def message_batch(store: Any, batch: Any) -> dict[str, Any]:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if not batch.finished:
            counts["processing"] = len(batch.requests)
        else:
            for result in _results(store, batch).values():
                counts[result["type"]] += 1
        created = _iso(batch.created_at)
        return {"id": batch.id, "type": "message_batch",
                "processing_status": "ended" if batch.finished else ("canceling" if batch.cancel_requested
                                                                     else "in_progress"),
                "request_counts": counts, "created_at": created,
                "ended_at": _iso(batch.finished_at) if batch.finished_at else None,
                "expires_at": _iso(batch.created_at + 86_400), "cancel_initiated_at": None, "archived_at": None,
                "results_url": f"{root}/v1/messages/batches/{batch.id}/results" if batch.finished else None}

    def _results(store: Any, batch: Any) -> dict[str, dict[str, Any]]:
        params = batch.extra["params"]
        out: dict[str, dict[str, Any]] = {}
        if batch.state == "failed":  # fail_batch: nothing ran
            why = "; ".join(e.get("message", "") for e in batch.errors) or "the batch failed"
            return {cid: {"type": "errored", "error": anthropic_error(500, why)} for cid, _ in batch.requests}
        for cid, status, body in store.results(batch):
            if status is None:
                out[cid] = {"type": "expired" if body[0] == "batch_expired" else "canceled"}
            else:
                out[cid] = _as_message(params[cid], status, body, f"msg_{cid[:16]}", models())
        return out

    def create(req: Any) -> Any:
        seen(req)
        action = fault(req, "create")
        if not isinstance(action, str):
            return action
        items = req.json().get("requests")
        if not isinstance(items, list) or not items:
            return 400, anthropic_error(400, "requests: at least one request is required"), {}
        for item in items:
            if not isinstance(item, dict) or not CUSTOM_ID.match(str(item.get("custom_id"))):
                return 400, anthropic_error(400, "requests: custom_id must match ^[a-zA-Z0-9_-]{1,64}$"), {}
        params = {item["custom_id"]: item.get("params") or {} for item in items}
        batch = req.store.create("anthropic", [(cid, _as_chat_body(p, models())) for cid, p in params.items()],
                                 params=params)
        if action == "lost":  # created, but the client never hears of it
            return 500, anthropic_error(500, "Internal server error (injected)"), {}
        return 200, message_batch(req.store, batch), {}

    def retrieve(req: Any) -> Any:
        seen(req)
        action = fault(req, "poll")
        if not isinstance(action, str):
            return action
        batch = req.store.get(req.match["batch"])
        if batch is None or batch.provider != "anthropic":
            return 404, anthropic_error(404, f"batch {req.match['batch']} not found"), {}
        return 200, message_batch(req.store, req.store.advance(batch)), {}

    def results(req: Any) -> Any:
        seen(req)
        action = fault(req, "download")
        if not isinstance(action, str):
            return action
        batch = req.store.get(req.match["batch"])
        if batch is None or not batch.finished:
            return 404, anthropic_error(404, f"batch {req.match['batch']} has no results (yet)"), {}
        with req.store.lock:
            req.store.counters["downloads"] += 1
        lines = [json.dumps({"custom_id": cid, "result": r}) for cid, r in _results(req.store, batch).items()]
        return 200, ("\n".join(lines) + "\n").encode(), {"Content-Type": "application/binary"}

    def cancel(req: Any) -> Any:
        seen(req)
        batch = req.store.get(req.match["batch"])
        if batch is None:
            return 404, anthropic_error(404, f"batch {req.match['batch']} not found"), {}
        return 200, message_batch(req.store, req.store.cancel(batch)), {}

    def list_batches(req: Any) -> Any:
        seen(req)
        with req.store.lock:
            req.store.counters["lists"] += 1
            batches = [b for b in reversed(list(req.store.batches.values())) if b.provider == "anthropic"]
        page = batches[:int(req.query.get("limit", 20))]
        return 200, {"data": [message_batch(req.store, b) for b in page], "has_more": len(batches) > len(page),
                     "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None}, {}

    def model(req: Any) -> Any:
        seen(req)
        name = req.match["model"]
        if name not in models():
            return 404, anthropic_error(404, f"model: {name}"), {}
        return 200, _model(name), {}

    return [Route("POST", r"/v1/messages/batches", create), Route("GET", r"/v1/messages/batches", list_batches),
            Route("GET", r"/v1/messages/batches/(?P<batch>[^/]+)", retrieve),
            Route("GET", r"/v1/messages/batches/(?P<batch>[^/]+)/results", results),
            Route("POST", r"/v1/messages/batches/(?P<batch>[^/]+)/cancel", cancel),
            Route("GET", r"/v1/models/(?P<model>[^/]+)", model)]


def _register() -> None:
    from curate.testing.batch_server import PROVIDERS

    PROVIDERS.setdefault("anthropic", anthropic_routes)


_register()
