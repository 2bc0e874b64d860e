"""Prompt-lookup drafting ("fast drafting") vs plain decoding on RAG-style answers.

For each question of ``knowledge-base/knowledge-base-eval.jsonl``: the paragraphs of the
knowledge base that contain its first keyword become the passage (what retrieval would hand
the model), and the app's one llama.cpp ChatModel (``backends.llama.LlamaChat``) answers
"from the passage, quoting it" twice, alternating who goes first: plain, and with
``GenParams(draft=True)`` (a separate copy with ``LlamaPromptLookupDecoding``). Same model,
context (2048, the drafting cap), seed, temperature 0, max tokens. Reports tokens/s
(completion tokens after the first / generation time, the Local tab's stats) and how many
answers came out identical.

    nice -n 10 .venv/bin/python bench/drafting.py --model smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backends.base import GenParams, Message  # noqa: E402
from backends.llama import LlamaChat, LlamaRuntime  # noqa: E402
from backends.llama.runtime import DRAFT_MAX_CTX, DRAFT_TOKENS  # noqa: E402
from settings import Settings  # noqa: E402

SYSTEM = "Answer the question using only the passage. Quote the passage's words where you can."


def passage(keyword: str, docs: dict[str, str], limit: int = 1200) -> str:
    """The paragraphs that mention ``keyword`` (first documents first), up to ``limit`` chars."""
    out = []
    for text in docs.values():
        for para in text.split("\n\n"):
            if keyword.lower() in para.lower():
                out.append(para.strip())
    return "\n\n".join(out)[:limit]


def answer(chat: LlamaChat, question: str, text: str, params: GenParams) -> tuple[str, float, int, float]:
    messages = [Message("system", SYSTEM), Message("user", f"Passage:\n{text}\n\nQuestion: {question}")]
    t0 = time.perf_counter()
    deltas = list(chat.stream(messages, params=params))
    wall = time.perf_counter() - t0
    usage = deltas[-1].usage
    return "".join(d.text for d in deltas), usage.tokens_per_s, usage.completion_tokens, wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="smollm2-135m-instruct")
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--limit", type=int, default=0, help="first N questions (0: all)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()

    docs = {
        str(f.relative_to(ROOT / "knowledge-base")): f.read_text(encoding="utf-8")
        for f in sorted((ROOT / "knowledge-base").rglob("*.md"))
    }
    rows = [json.loads(line) for line in (ROOT / "knowledge-base" / "knowledge-base-eval.jsonl").open()]
    rows = [r for r in rows if passage(r["keywords"][0], docs)][: args.limit or None]
    settings = Settings(
        _env_file=None, data_dir=ROOT / "data", llama_threads=args.threads, llama_ctx=DRAFT_MAX_CTX
    )
    runtime = LlamaRuntime(settings)
    chat = LlamaChat(runtime, args.model)
    plain = GenParams(temperature=0.0, max_new_tokens=args.max_tokens, seed=1)
    drafted = GenParams(temperature=0.0, max_new_tokens=args.max_tokens, seed=1, draft=True)
    answer(chat, "warm-up", "warm-up", plain), answer(chat, "warm-up", "warm-up", drafted)
    tps: dict[str, list[float]] = {"plain": [], "draft": []}
    wall: dict[str, float] = {"plain": 0.0, "draft": 0.0}
    tokens: dict[str, int] = {"plain": 0, "draft": 0}
    same = 0
    for i, row in enumerate(rows):
        text = passage(row["keywords"][0], docs)
        order = [("plain", plain), ("draft", drafted)]
        got = {}
        for name, params in order if i % 2 == 0 else order[::-1]:
            got[name], rate, n, seconds = answer(chat, row["question"], text, params)
            tps[name].append(rate)
            wall[name] += seconds
            tokens[name] += n
        same += got["plain"] == got["draft"]
    runtime.free_all()
    ratio = statistics.median(tps["draft"]) / statistics.median(tps["plain"])
    result = {
        "model": args.model,
        "questions": len(rows),
        "draft_tokens": DRAFT_TOKENS,
        "n_ctx": DRAFT_MAX_CTX,
        "median_tok_s": {k: round(statistics.median(v), 1) for k, v in tps.items()},
        "median_ratio_draft_over_plain": round(ratio, 2),
        "total_tok_s": {k: round(tokens[k] / wall[k], 1) for k in wall},
        "identical_answers": f"{same}/{len(rows)}",
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
