"""The smallest Gradio app that does what Chat + tools does for a remote chat: one streaming
``/chat`` event that sends the message to an OpenAI-compatible server with the ``openai``
client and yields the chatbot history per streamed chunk (no guardrails, no tools loop, no
coalescing, no queue slots). ``bench/remote_concurrency.py --bare`` runs it as a third side:
how much of the app's gap to the direct client is Gradio's own (queue, SSE, the
``gradio_client`` sessions), measured the same way in the same run.

    WB_PORT=7861 .venv/bin/python bench/bare_chat_proxy.py
"""

from __future__ import annotations

import os
from functools import cache

import gradio as gr
from openai import OpenAI


@cache
def client(base_url: str) -> OpenAI:
    return OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=600)


def chat(message, backend, base_url, model, system_prompt, tools, temperature, max_new_tokens):
    history = [{"role": "user", "content": message}, {"role": "assistant", "content": ""}]
    stream = client(base_url).chat.completions.create(
        model=model,
        messages=[{"role": "system", "content": system_prompt}, {"role": "user", "content": message}],
        max_tokens=int(max_new_tokens),
        temperature=float(temperature),
        stream=True,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            history[-1]["content"] += chunk.choices[0].delta.content
            yield history, ""
    yield history, ""


with gr.Blocks() as demo:
    inputs = [gr.Textbox(label=n) for n in ("message", "backend", "base_url", "model", "system_prompt")]
    inputs += [gr.JSON(label="tools"), gr.Number(label="temperature"), gr.Number(label="max_new_tokens")]
    outputs = [gr.Chatbot(), gr.Textbox()]  # (history, info line) like the app's first outputs
    gr.Button().click(chat, inputs, outputs, api_name="chat", concurrency_limit=None)

if __name__ == "__main__":
    demo.queue(default_concurrency_limit=None).launch(server_port=int(os.environ["WB_PORT"]))
