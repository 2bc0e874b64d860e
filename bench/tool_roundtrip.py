"""Time the app adds around one tool round trip, against the model's own time.

One FlightAI question ("How much is a ticket to Paris?") -> the model calls
get_ticket_price -> the tool runs -> the model answers. The chat model is wrapped so every
second spent inside its ``stream`` iterator (prompt processing + generation, i.e. the
library's own work) is counted; everything else is what the app adds: JSON parsing,
schema validation, the tool itself (SQLite), message flattening, and for the ``tab``
variant also the chatbot rendering and usage bookkeeping of ``tabs.chat.respond``.

    python bench/tool_roundtrip.py                      # in-process llama.cpp, shipped Qwen
    python bench/tool_roundtrip.py --base-url http://127.0.0.1:8080/v1 --model qwen
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends.base import GenParams, Message  # noqa: E402
from tools.builtin import default_toolbox  # noqa: E402
from tools.loop import Finished, ToolFinished, run_loop  # noqa: E402

log = logging.getLogger("bench.tool_roundtrip")
QUESTION = "How much is a ticket to Paris?"


class TimedModel:
    """Forwards to a ChatModel and adds up the seconds spent inside its stream."""

    def __init__(self, model: object) -> None:
        self.model = model
        self.model_id = model.model_id
        self.supports_tools = model.supports_tools
        self.tools_after_results = getattr(model, "tools_after_results", False)
        self.seconds = 0.0

    def stream(self, messages, *, tools=(), params=GenParams()) -> Iterator:
        it = iter(self.model.stream(messages, tools=tools, params=params))
        while True:
            t0 = time.perf_counter()
            try:
                delta = next(it)
            except StopIteration:
                self.seconds += time.perf_counter() - t0
                return
            self.seconds += time.perf_counter() - t0
            yield delta


def make_model(args: argparse.Namespace, data_dir: Path) -> object:
    from settings import Settings

    if args.base_url:
        from backends.openai_chat import OpenAIChat

        return OpenAIChat(base_url=args.base_url, api_key=None, model=args.model, timeout=300, max_retries=0)
    from backends.llama import LlamaChat, LlamaRuntime

    s = Settings(llama_threads=args.threads, llama_ctx=2048)
    return LlamaChat(LlamaRuntime(s), s.local_model)


def one_loop(model: TimedModel, toolbox, params: GenParams) -> tuple[float, bool, str]:
    convo = [Message("system", SYSTEM), Message("user", QUESTION)]
    t0 = time.perf_counter()
    events = list(run_loop(model, convo, toolbox, params=params))
    total = time.perf_counter() - t0
    called = any(isinstance(e, ToolFinished) and e.ok for e in events)
    answer = events[-1].messages[-1].content if isinstance(events[-1], Finished) else ""
    return total, called, answer


def one_tab(model: TimedModel, toolset, params: GenParams) -> tuple[float, bool, str]:
    from tabs.chat import respond
    from tabs.chat_view import ChatConfig, Limits

    config = ChatConfig(system=SYSTEM, tools=("get_ticket_price",), params=params)
    t0 = time.perf_counter()
    outs = list(
        respond(lambda n: model, lambda: (toolset.toolbox, {}), Limits(), QUESTION, [], [], None, config)
    )
    total = time.perf_counter() - t0
    display = outs[-1][0]
    called = any(m["metadata"].get("title", "").startswith("Tool: get_ticket_price") for m in display)
    return total, called, display[-1]["content"]


SYSTEM = (
    "You are a helpful assistant for an airline called FlightAI. Give short, courteous answers, "
    "no more than 1 sentence. Always be accurate. If you don't know the answer, say so."
)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--base-url", default=None)
    p.add_argument("--model", default="qwen")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    data_dir = Path(tempfile.mkdtemp(prefix="wb-bench-"))
    toolset = default_toolbox(data_dir)
    box = toolset.toolbox.subset(["get_ticket_price"])
    params = GenParams(temperature=0, max_new_tokens=64, seed=1)
    raw = make_model(args, data_dir)
    list(raw.stream([Message("user", "hi")], params=GenParams(max_new_tokens=1)))  # load + warm up
    for variant, run in (
        ("loop", lambda m: one_loop(m, box, params)),
        ("tab", lambda m: one_tab(m, toolset, params)),
    ):
        overheads, model_times = [], []
        for _ in range(args.runs):
            timed = TimedModel(raw)
            total, called, answer = run(timed)
            overheads.append((total - timed.seconds) * 1000)
            model_times.append(timed.seconds)
            status = "tool called" if called else "NO TOOL CALL"
            print(
                f"{variant}: total {total:.2f}s model {timed.seconds:.2f}s app {overheads[-1]:.1f} ms",
                end=" ",
            )
            print(f"({status}): {answer!r}")
        print(
            f"== {variant}: app overhead median {statistics.median(overheads):.1f} ms "
            f"(max {max(overheads):.1f} ms) vs model median {statistics.median(model_times):.2f}s "
            f"over {args.runs} round trips; target < 50 ms"
        )


if __name__ == "__main__":
    main()
