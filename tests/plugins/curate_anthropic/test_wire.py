"""The Messages wire format: what a curate request becomes, and how answers are read back."""

from __future__ import annotations

import json

import pytest

from curate import ChatRequest, SamplingParams
from curate_anthropic import wire

SCHEMA = {"title": "Verdict", "type": "object", "properties": {"winner": {"type": "string"}}, "required": ["winner"]}


def test_system_messages_are_lifted_out_and_sampling_mapped():
    req = ChatRequest("a", [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "hi"},
                            {"role": "assistant", "content": "Hello"}, {"role": "system", "content": "No emoji."},
                            {"role": "user", "content": "again"}],
                      SamplingParams(temperature=0.3, top_p=0.9, max_tokens=77, stop=["END"], seed=3))
    body = wire.request_body(req, "claude-x", extra_body={"top_k": 5})
    assert body["system"] == "Be terse.\n\nNo emoji."
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
    assert body["max_tokens"] == 77 and body["temperature"] == 0.3 and body["top_p"] == 0.9
    assert body["stop_sequences"] == ["END"] and body["top_k"] == 5 and body["model"] == "claude-x"
    assert "seed" not in body and "n" not in body  # the API has neither


def test_default_top_p_is_not_sent():
    body = wire.request_body(ChatRequest("a", [{"role": "user", "content": "hi"}]), "m")
    assert "top_p" not in body and "system" not in body and "tools" not in body


@pytest.mark.parametrize("sampling, message", [(SamplingParams(logprobs=2), "no logprobs"),
                                               (SamplingParams(temperature=1.5), "maximum of 1")])
def test_what_the_api_cannot_do_is_refused_with_the_reason(sampling, message):
    with pytest.raises(ValueError, match=message):
        wire.request_body(ChatRequest("a", [{"role": "user", "content": "hi"}], sampling), "m")


def test_a_json_schema_becomes_one_forced_tool():
    body = wire.request_body(ChatRequest("a", [{"role": "user", "content": "who?"}], json_schema=SCHEMA), "m")
    assert body["tools"] == [{"name": "Verdict", "description": body["tools"][0]["description"],
                              "input_schema": SCHEMA}]
    assert body["tool_choice"] == {"type": "tool", "name": "Verdict"}


def test_a_non_object_schema_is_wrapped_and_unwrapped():
    schema = {"type": "array", "items": {"$ref": "#/$defs/Item"}, "$defs": {"Item": {"type": "string"}}}
    body = wire.request_body(ChatRequest("a", [{"role": "user", "content": "list"}], json_schema=schema), "m")
    tool_input = body["tools"][0]["input_schema"]
    assert tool_input["type"] == "object" and tool_input["properties"]["value"]["type"] == "array"
    assert tool_input["$defs"] == schema["$defs"]  # where the $ref points
    message = {"content": [{"type": "tool_use", "name": "respond", "input": {"value": ["a", "b"]}}],
               "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}}
    sample = wire.parse_message(message, schema)
    assert json.loads(sample.completion.text) == ["a", "b"] and sample.completion.finish_reason == "stop"


@pytest.mark.parametrize("stop, finish", [("end_turn", "stop"), ("stop_sequence", "stop"), ("max_tokens", "length"),
                                          ("pause_turn", "pause_turn")])
def test_stop_reasons_map_to_finish_reasons(stop, finish):
    message = {"content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Hi "},
                           {"type": "text", "text": "there"}], "stop_reason": stop,
               "usage": {"input_tokens": 10, "cache_read_input_tokens": 5, "output_tokens": 2}}
    sample = wire.parse_message(message)
    assert sample.completion.text == "Hi there" and sample.completion.finish_reason == finish
    assert sample.prompt_tokens == 15 and sample.completion_tokens == 2


def test_a_refusal_or_a_missing_tool_call_is_an_error():
    assert "refusal" in wire.parse_message({"content": [], "stop_reason": "refusal"})
    assert "no tool_use block" in wire.parse_message({"content": [{"type": "text", "text": "{}"}],
                                                      "stop_reason": "end_turn"}, SCHEMA)


@pytest.mark.parametrize("body, reason", [
    ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "overloaded_error: Overloaded"),
    ({"type": "error", "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}},
     "invalid_request_error: bad"),
    ({"detail": "gateway says no"}, "gateway says no"),
])
def test_error_reasons(body, reason):
    assert wire.body_reason(json.dumps(body).encode()) == reason
    assert wire.body_reason(b"<html>502</html>") == "<html>502</html>"
