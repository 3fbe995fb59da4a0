from curate.engine import ChatRequest, SamplingParams
from curate_openai.wire import body_reason, parse_result, request_body, schema_name

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]


def test_minimal_body():
    body = request_body(ChatRequest("a", MESSAGES), "m")
    assert body == {"model": "m", "messages": MESSAGES, "temperature": 1.0, "top_p": 1.0, "max_tokens": 512}


def test_every_sampling_param_is_mapped():
    sampling = SamplingParams(n=3, temperature=0.2, top_p=0.9, max_tokens=77, seed=5, stop=["\n\n", "END"],
                              logprobs=4)
    body = request_body(ChatRequest("a", MESSAGES, sampling), "m", max_tokens_field="max_completion_tokens")
    assert body["n"] == 3 and body["temperature"] == 0.2 and body["top_p"] == 0.9
    assert body["max_completion_tokens"] == 77 and "max_tokens" not in body
    assert body["seed"] == 5 and body["stop"] == ["\n\n", "END"]
    assert body["logprobs"] is True and body["top_logprobs"] == 4


def test_json_schema_becomes_strict_response_format():
    schema = {"title": "Verdict (v2)", "type": "object", "properties": {"score": {"type": "integer"}}}
    body = request_body(ChatRequest("a", MESSAGES, json_schema=schema), "m")
    assert body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "Verdict_v2", "schema": schema, "strict": True}}
    assert schema_name({}) == "response"


def test_extra_body_is_merged_last():
    body = request_body(ChatRequest("a", MESSAGES), "m", extra_body={"top_k": 20, "temperature": 0.0})
    assert body["top_k"] == 20 and body["temperature"] == 0.0


def test_result_has_every_choice_usage_and_logprobs():
    data = {"choices": [
        {"index": 1, "message": {"role": "assistant", "content": "second"}, "finish_reason": "length"},
        {"index": 0, "message": {"role": "assistant", "content": "first"}, "finish_reason": "stop",
         "logprobs": {"content": [{"token": "first", "logprob": -0.1, "top_logprobs": []}]}},
    ], "usage": {"prompt_tokens": 11, "completion_tokens": 7}}
    result = parse_result("a", data)
    assert result.ok
    assert [(c.text, c.finish_reason) for c in result.completions] == [("first", "stop"), ("second", "length")]
    assert result.completions[0].logprobs == [{"token": "first", "logprob": -0.1, "top_logprobs": []}]
    assert (result.prompt_tokens, result.completion_tokens) == (11, 7)


def test_unusable_responses_are_errors_not_empty_text():
    for data, expected in [
        ({"choices": []}, "no choices"),
        ({"choices": [{"index": 0, "message": {"role": "assistant", "content": None, "refusal": "no"}}]}, "refusal"),
        ({"choices": [{"index": 0, "message": {"role": "assistant", "content": None}}]}, "no text content"),
        ({"error": {"message": "overloaded"}}, "overloaded"),
        (["not", "an", "object"], "expected a JSON object"),
    ]:
        result = parse_result("a", data)
        assert not result.ok and result.completions == [] and expected in result.error


def test_error_reasons_from_common_server_shapes():
    assert body_reason(b'{"error": {"message": "context too long", "code": 400}}') == "context too long"
    assert body_reason(b'{"object": "error", "message": "vllm says no"}') == "vllm says no"
    assert body_reason(b'{"detail": "Not Found"}') == "Not Found"
    assert body_reason(b"<html>Bad Gateway</html>") == "<html>Bad Gateway</html>"
    assert body_reason(b"") == "(empty body)"
    assert len(body_reason(b"x" * 5000)) < 600
