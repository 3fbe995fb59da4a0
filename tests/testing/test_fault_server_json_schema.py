"""The fault server's built-in JSON answers: valid instances of the requested schema, in process and
from the command line (where a Python responder cannot go)."""

import json
import urllib.request

import pytest
from pydantic import BaseModel, Field

from curate.testing.fault_server import FaultServer, FaultServerProcess, json_schema_responder, schema_instance


class Inner(BaseModel):
    label: str = Field(min_length=3, max_length=8)
    score: int = Field(ge=2, le=9)


class Outer(BaseModel):
    words: list[str] = Field(min_length=2, max_length=4)
    verdict: str = Field(pattern="^(yes|no)$", json_schema_extra={"enum": ["yes", "no"]})
    inner: Inner
    maybe: Inner | None
    flag: bool
    optional: str = "default"


def test_instances_validate_and_differ_by_seed():
    schema = Outer.model_json_schema()
    first = Outer.model_validate(schema_instance(schema, "a"))
    assert len(first.words) == 2 and first.verdict == "yes" and 3 <= len(first.inner.label) <= 8
    assert first.inner.score == 2 and first.optional == "default"  # optional properties left out
    other = Outer.model_validate(schema_instance(schema, "b"))
    assert other.words != first.words and first.words[0] != first.words[1]
    assert schema_instance(schema, "a") == schema_instance(schema, "a")
    assert len(schema_instance(schema, "a", array_items=10)["words"]) == 4  # within maxItems
    assert len(schema_instance(schema, "a", array_items=3)["words"]) == 3


def chat(base_url, schema=None, content="hello there"):
    body = {"model": "echo", "messages": [{"role": "user", "content": content}]}
    if schema is not None:
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
    req = urllib.request.Request(f"{base_url}/chat/completions", json.dumps(body).encode(),
                                 {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())["choices"][0]["message"]["content"]


def test_responder_in_process_answers_schema_requests_and_echoes_the_rest():
    with FaultServer(responder=json_schema_responder(array_items=3)) as srv:
        answer = json.loads(chat(srv.base_url, Outer.model_json_schema()))
        assert len(Outer.model_validate(answer).words) == 3
        assert chat(srv.base_url) == "hello there"


@pytest.mark.slow  # a child process importing curate: seconds
def test_command_line_server_answers_json():
    with FaultServerProcess(json_schema=True, json_array_items=2) as srv:
        answer = json.loads(chat(srv.base_url, Outer.model_json_schema(), "another prompt"))
        assert len(Outer.model_validate(answer).words) == 2
        assert chat(srv.base_url) == "hello there"
