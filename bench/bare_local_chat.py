"""The smallest Gradio app that streams a local GGUF chat: a ``gr.ChatInterface`` whose function
streams ``Llama.create_chat_completion`` and yields the text so far per token (the usual
Gradio pattern: no guardrails, slots, coalescing, stats or templates of our own). The last
update adds a stats message shaped like the app's, so ``bench/local_chat.py --bare`` can time
it exactly like ``/local_chat``: how much of the app's gap to raw llama.cpp is Gradio's own
(queue, SSE, ``gradio_client``) rather than the app's.

    WB_PORT=7861 .venv/bin/python bench/bare_local_chat.py --model smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

import gradio as gr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_lock = threading.Lock()
_llama: dict = {}


def load(model: str, ctx: int, threads: int):
    from llama_cpp import Llama

    from backends.models import resolve_gguf
    from settings import Settings

    s = Settings(_env_file=None)
    key = (model, ctx, threads)
    if key not in _llama:
        path = resolve_gguf(model, data_dir=s.data_dir, models_dir=s.models_dir)
        _llama[key] = Llama(model_path=str(path), n_ctx=ctx, n_threads=threads,
                            n_batch=min(s.llama_batch, ctx), verbose=False)  # fmt: skip
    return _llama[key]


def chat(
    message, history, model, system, temperature, top_p, top_k, min_p, repeat, max_tokens, stop, seed, ctx
):
    threads = int(os.environ.get("WB_LLAMA_THREADS", "1"))
    messages = [{"role": "system", "content": system}, {"role": "user", "content": message}]
    with _lock:  # one user of a Llama at a time, like the app
        llama = load(model, int(ctx), threads)
        text, n = "", 0
        for chunk in llama.create_chat_completion(
            messages=messages, stream=True, temperature=float(temperature), top_p=float(top_p),
            top_k=int(top_k), min_p=float(min_p), repeat_penalty=float(repeat), max_tokens=int(max_tokens),
            seed=int(seed),
        ):  # fmt: skip
            piece = chunk["choices"][0]["delta"].get("content") or ""
            if piece:
                text += piece
                n += 1
                yield text
    yield [
        gr.ChatMessage(content=text),
        gr.ChatMessage(content="", metadata={"title": f"· {n} completion tokens"}),
    ]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="smollm2-135m-instruct")
    args = p.parse_args()
    extra = [gr.Textbox(args.model), gr.Textbox(), *(gr.Number() for _ in range(6)), gr.Textbox(),
             gr.Number(), gr.Number()]  # fmt: skip
    demo = gr.ChatInterface(chat, additional_inputs=extra, api_name="local_chat")
    demo.queue().launch(server_name="127.0.0.1", server_port=int(os.environ["WB_PORT"]))


if __name__ == "__main__":
    main()
