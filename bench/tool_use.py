"""FlightAI tool use: exact match of the first tool call (name + arguments) and of "no tool
needed", on the held-out test split, through the app's own llama.cpp chat path.

    python bench/tool_use.py --model qwen2.5-coder-0.5b-instruct            # the shipped base
    python bench/tool_use.py --model models/flightai-qwen-q4_k_m.gguf       # a tuned export

Each test conversation (``bench/flightai/flightai_test.jsonl``, written by
``bench/flightai/make_flightai.py``; it shares no phrasing template, name or unknown city with the
train split) is sent as the Chat + tools tab sends it: FlightAI system prompt, the tab's tools,
temperature 0, through ``LlamaChat.stream`` (which parses tool calls that arrive as JSON text).
A case passes when the first tool call has the expected name and arguments (strings compared
after trimming and case-folding), or, for ``no_tool`` cases, when the model calls no tool.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import GenParams, Message, ToolSpec  # noqa: E402
from backends.llama import LlamaChat, LlamaRuntime  # noqa: E402
from settings import Settings  # noqa: E402

log = logging.getLogger("bench.tool_use")
MAX_NEW_TOKENS = 72  # the longest expected call (book_flight) is ~50 tokens
DATA = Path(__file__).resolve().parent / "flightai"


def _norm(value: object) -> object:
    if isinstance(value, str):
        return value.strip().casefold()
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    return value


def first_call(chat: LlamaChat, row: dict) -> tuple[dict | None, str]:
    msgs = row["messages"]
    last_user = max(i for i, m in enumerate(msgs) if m["role"] == "user")
    convo = [Message(m["role"], m.get("content") or "") for m in msgs[: last_user + 1]]
    tools = [
        ToolSpec(t["function"]["name"], t["function"]["description"], t["function"]["parameters"])
        for t in row.get("tools") or []
    ]
    text, calls = "", []
    params = GenParams(temperature=0.0, max_new_tokens=MAX_NEW_TOKENS, seed=0)
    for d in chat.stream(convo, tools=tools, params=params):
        text += d.text or ""
        calls.extend(d.tool_calls)
    if not calls:
        return None, text
    try:
        args = json.loads(calls[0].arguments or "{}")
    except json.JSONDecodeError:
        args = {"_unparsed": calls[0].arguments}
    return {"name": calls[0].name, "arguments": args}, text


def passed(expect: dict | None, got: dict | None) -> bool:
    if expect is None:
        return got is None
    return (
        got is not None
        and got["name"] == expect["name"]
        and _norm(got["arguments"]) == _norm(expect["arguments"])
    )


def run(model: str, split: str, threads: int, limit: int, start: int = 0) -> dict:
    settings = Settings(llama_threads=threads, llama_ctx=2048)
    chat = LlamaChat(LlamaRuntime(settings), model)
    rows = [
        json.loads(line)
        for line in (DATA / f"flightai_{split}.jsonl").read_text().splitlines()
        if line.strip()
    ]
    rows = [r for r in rows if r["category"] != "answer"][start:][: limit or None]
    per: dict[str, list[bool]] = defaultdict(list)
    failures = []
    t0 = time.perf_counter()
    for i, row in enumerate(rows):
        got, text = first_call(chat, row)
        ok = passed(row["expect"], got)
        per[row["category"]].append(ok)
        if not ok:
            failures.append(
                {
                    "category": row["category"],
                    "user": row["messages"][-2]["content"],
                    "expect": row["expect"],
                    "got": got,
                    "text": text[:160],
                }
            )
        log.info("%d/%d %s %s", i + 1, len(rows), "ok " if ok else "BAD", row["category"])
    total = [x for v in per.values() for x in v]
    return {
        "model": model,
        "split": split,
        "cases": len(total),
        "exact_match": round(sum(total) / len(total), 3),
        "per_category": {k: f"{sum(v)}/{len(v)}" for k, v in sorted(per.items())},
        "seconds": round(time.perf_counter() - t0, 1),
        "failures": failures,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="shipped name or .gguf path")
    p.add_argument("--split", default="test", choices=["test", "train"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--limit", type=int, default=0, help="only this many cases (0: all)")
    p.add_argument("--start", type=int, default=0, help="skip this many cases first (to run shards)")
    p.add_argument("--out", help="write the JSON report here")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run(args.model, args.split, args.threads, args.limit, args.start)
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    summary = {k: v for k, v in report.items() if k != "failures"}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
