"""Engine-level checks run inside the vLLM venv; prints one JSON object for test_engine.py."""

import json
import sys

from curate.engine import ChatRequest, SamplingParams
from curate_vllm import VLLMEngine


def main(model: str) -> None:
    engine = VLLMEngine(model=model, max_model_len=256, enforce_eager=True)
    engine.start()
    report: dict = {"identity": engine.identity()}

    def req(i, text="Tell me about the bakery.", schema=None, **s):
        return ChatRequest(f"r{i}", [{"role": "user", "content": text}], SamplingParams(**{"max_tokens": 8, **s}), schema)

    delivered = []
    batch = [req(i, n=2, seed=i, temperature=1.0) for i in range(6)] + [req(6, text="word " * 400), req(7)]
    results = engine.generate(batch, on_result=lambda r: delivered.append(r.id))
    report["batch"] = [{"id": r.id, "ok": r.ok, "error": r.error, "n": len(r.completions),
                        "finish": [c.finish_reason for c in r.completions], "completion_tokens": r.completion_tokens}
                       for r in results]
    report["delivered"] = delivered
    schema = {"type": "object", "properties": {"answer": {"type": "string", "maxLength": 12}}, "required": ["answer"]}
    structured = engine.generate([req(10 + i, schema=schema, max_tokens=48, temperature=0.8, seed=i) for i in range(4)])
    report["structured"] = [r.completions[0].text for r in structured]
    greedy = engine.generate([req(20, temperature=0), req(21, temperature=0)])
    report["greedy"] = [r.completions[0].text for r in greedy]
    chunked = VLLMEngine(model=model, max_model_len=256, enforce_eager=True, chunk_size=3)
    chunked._llm, chunked._max_len = engine._llm, engine._max_len  # share the loaded model
    seen = []
    chunked.generate([req(30 + i) for i in range(7)], on_result=lambda r: seen.append(r.id))
    report["chunked_order"] = seen
    print("CHECKS " + json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1])
