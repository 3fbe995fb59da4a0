import pytest
from pydantic import BaseModel

from curate.engine import ChatRequest
from curate.engines.structured import generate_structured, parse_lenient
from curate.testing import ScriptedEngine


class Topics(BaseModel):
    topics: list[str]


class Verdict(BaseModel):
    winner: str
    confidence: float


@pytest.mark.parametrize("text", [
    '{"topics": ["a", "b"]}',
    'Sure! Here you go:\n```json\n{"topics": ["a", "b"]}\n```',
    '["a", "b"]',
    "1. a\n2. b",
    "- a\n- b",
    "topics:\n  - a\n  - b\n",
    'The answer is {"topics": ["a", "b"]} as requested.',
])
def test_lenient_parsing(text):
    assert parse_lenient(text, Topics).topics == ["a", "b"]


def test_unparseable_raises_with_reason():
    with pytest.raises(ValueError):
        parse_lenient('{"winner": "A"}', Verdict)


def test_reask_then_success_and_bounded_failure():
    engine = ScriptedEngine(["no idea", '{"winner": "A", "confidence": 0.9}', "still nothing", "nope", "never"])
    reqs = [ChatRequest("x", [{"role": "user", "content": "judge"}]), ChatRequest("y", [{"role": "user", "content": "judge"}])]
    out = generate_structured(engine, reqs, Verdict, max_reasks=2)
    # x: "no idea" -> re-ask -> valid.  y: "still nothing" -> ... interleaved, so check outcomes, not order.
    ok = [r for r in out if r[0].ok]
    failed = [r for r in out if not r[0].ok]
    assert len(ok) + len(failed) == 2
    assert all(r[0].attempts <= 3 for r in out)
    assert failed and failed[0][0].raw is not None and "invalid answer" in failed[0][0].error
    reask = [h for h in engine.history if len(h.messages) == 3]
    assert reask and "could not be used" in reask[0].messages[-1]["content"]


def test_schema_passed_when_engine_supports_it():
    class SchemaEngine(ScriptedEngine):
        supports_json_schema = True

    engine = SchemaEngine(['{"topics": ["x"]}'])
    out = generate_structured(engine, [ChatRequest("a", [{"role": "user", "content": "list"}])], Topics)
    assert out[0][0].value.topics == ["x"]
    assert engine.history[0].json_schema["properties"]["topics"]["type"] == "array"


def test_json_holding_fenced_code_is_read_whole():
    from pydantic import BaseModel

    from curate.engines.structured import parse_lenient

    class Code(BaseModel):
        code: str

    text = '{"code": "```python\\nprint(1)\\n```"}'
    assert parse_lenient(text, Code).code == "```python\nprint(1)\n```"
