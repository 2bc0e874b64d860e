"""Structured output: extraction from 50 booking emails, with and without the JSON-schema
constraint, through the app's own ``LlamaChat`` (the path of ``/v1`` and Chat + tools).

Data: ``bench/data/booking_emails.jsonl`` (written for this benchmark: 50 emails, gold
name / city / check-in date / nights / guests; nothing here was tuned on them). Both
conditions get the same system prompt (which spells out the keys and formats), temperature 0
and the same max tokens; "constrained" adds the grammar compiled from the schema. The two
alternate per email, so load on the machine hits both alike.

Reported per condition: valid-JSON rate, schema-valid rate, exact match per field and for
all five fields, completion tokens/s (tokens after the first / time after the first), and
the tokens/s ratio constrained / unconstrained measured in the same run.

    nice -n 10 .venv/bin/python bench/structured.py [--model qwen2.5-coder-0.5b-instruct] [--limit 50]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT / "bench" / "data" / "booking_emails.jsonl"
FIELDS = ("name", "city", "check_in", "nights", "guests")
SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "city": {"type": "string"},
        "check_in": {"type": "string", "format": "date"},
        "nights": {"type": "integer"},
        "guests": {"type": "integer"},
    },
    "required": list(FIELDS),
    "additionalProperties": False,
}
SYSTEM = (
    "You extract booking details from emails. Reply with JSON only, with exactly these keys: "
    '"name" (the sender\'s full name), "city", "check_in" (the arrival date as YYYY-MM-DD), '
    '"nights" (an integer) and "guests" (an integer).'
)


def run_one(chat, email: str, params) -> dict:
    from backends.base import Message
    from backends.structured import validate_answer

    t0 = time.perf_counter()
    first = last = None
    text, n_out = "", 0
    for delta in chat.stream([Message("system", SYSTEM), Message("user", email)], params=params):
        if delta.text:
            last = time.perf_counter()
            first = first or last
            text += delta.text
        if delta.usage is not None:
            n_out = delta.usage.completion_tokens
    gen = (last or 0) - (first or 0)
    fmt = params.response_format
    from backends.structured import JSON, json_schema_format

    checked_json = validate_answer(text, JSON)
    checked_schema = validate_answer(text, fmt or json_schema_format(SCHEMA))
    return {
        "text": text,
        "valid_json": checked_json.ok and isinstance(checked_json.value, dict),
        "schema_valid": checked_schema.ok,
        "value": checked_json.value if isinstance(checked_json.value, dict) else {},
        "tokens": n_out,
        "tps": (n_out - 1) / gen if n_out > 1 and gen > 0 else None,
        "seconds": time.perf_counter() - t0,
    }


def same(got, gold) -> bool:
    if isinstance(gold, int):
        return isinstance(got, int) and not isinstance(got, bool) and got == gold
    return isinstance(got, str) and got.strip().casefold() == str(gold).casefold()


def summary(results: list[dict], golds: list[dict]) -> dict:
    n = len(results)
    out = {
        "n": n,
        "valid_json_rate": round(sum(r["valid_json"] for r in results) / n, 3),
        "schema_valid_rate": round(sum(r["schema_valid"] for r in results) / n, 3),
    }
    for f in FIELDS:
        out[f"exact_{f}"] = round(
            sum(same(r["value"].get(f), g[f]) for r, g in zip(results, golds, strict=True)) / n, 3
        )
    out["exact_all_fields"] = round(
        sum(all(same(r["value"].get(f), g[f]) for f in FIELDS) for r, g in zip(results, golds, strict=True))
        / n,
        3,
    )
    tps = [r["tps"] for r in results if r["tps"]]
    out["tokens_per_s_median"] = round(statistics.median(tps), 2) if tps else None
    out["completion_tokens_mean"] = round(statistics.mean(r["tokens"] for r in results), 1)
    return out


def report_of(res: dict[str, list[dict]], golds: list[dict]) -> dict:
    report = {k: summary(v, golds) for k, v in res.items()}
    a, b = report["constrained"]["tokens_per_s_median"], report["unconstrained"]["tokens_per_s_median"]
    report["tokens_per_s_ratio_constrained_over_unconstrained"] = round(a / b, 3) if a and b else None
    pairs = [(c["tps"], u["tps"]) for c, u in zip(res["constrained"], res["unconstrained"], strict=True)]
    ratios = [c / u for c, u in pairs if c and u]
    report["tokens_per_s_ratio_median_of_pairs"] = round(statistics.median(ratios), 3) if ratios else None
    return report


def summarize_log(path: Path) -> dict:
    items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    res = {k: [it[k] for it in items] for k in ("unconstrained", "constrained")}
    return report_of(res, [it["gold"] for it in items])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--max-tokens", type=int, default=96)
    p.add_argument("--out", default="")
    p.add_argument("--log", default="", help="append each email's two results here as they finish (JSONL)")
    p.add_argument("--summarize", default="", help="only summarise a --log file (e.g. of a cut-short run)")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.summarize:
        print(json.dumps(summarize_log(Path(args.summarize)), indent=2))
        return

    from backends.base import GenParams
    from backends.llama import LlamaChat, LlamaRuntime
    from backends.structured import json_schema_format
    from settings import Settings

    settings = Settings(llama_threads=args.threads, data_dir=ROOT / "data")
    chat = LlamaChat(LlamaRuntime(settings), args.model)
    rows = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()][: args.limit]
    golds = [r["gold"] for r in rows]
    free = GenParams(temperature=0.0, max_new_tokens=args.max_tokens, seed=0)
    t0 = time.perf_counter()
    fmt = json_schema_format(SCHEMA, name="booking")
    compile_ms = (time.perf_counter() - t0) * 1000
    constrained = GenParams(temperature=0.0, max_new_tokens=args.max_tokens, seed=0, response_format=fmt)
    run_one(chat, rows[0]["email"], free)  # warm-up: load the model
    res = {"unconstrained": [], "constrained": []}
    for i, row in enumerate(rows, 1):
        res["unconstrained"].append(run_one(chat, row["email"], free))
        res["constrained"].append(run_one(chat, row["email"], constrained))
        if args.log:
            with open(args.log, "a", encoding="utf-8") as f:
                pair = {k: v[-1] for k, v in res.items()}
                f.write(json.dumps({"id": row["id"], "gold": row["gold"], **pair}, ensure_ascii=False) + "\n")
        print(f"{i}/{len(rows)}", file=sys.stderr, flush=True)
    report = report_of(res, golds)
    report["schema_check_and_grammar_compile_ms"] = round(compile_ms, 1)
    report["model"], report["threads"], report["max_tokens"] = args.model, args.threads, args.max_tokens
    examples = {k: [r["text"] for r in v[:2]] for k, v in res.items()}
    print(json.dumps({**report, "examples": examples}, indent=2, ensure_ascii=False))
    if args.out:
        Path(args.out).write_text(json.dumps({**report, "raw": res}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
