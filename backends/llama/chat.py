"""The ONE :class:`~backends.base.ChatModel` for llama.cpp, used by every surface: the Local tab,
Chat + tools, RAG, Compare, ``/v1`` and MCP.

One request: hold the model's lock (``LlamaRuntime.use``), render the prompt once with the GGUF's
chat template (tools included) and trim it to fit the context (:mod:`backends.llama.prompt`),
then generate from those tokens with the structured-output grammar when one is asked for. Text
that is really a tool call (small models write calls as JSON text) comes back as ``tool_calls``.
The last delta carries the finish reason and a :class:`~backends.base.Usage` with the stats the
Local tab shows: prompt tokens (and how many llama.cpp kept cached from the previous request,
since it reuses the KV of the longest common prefix), completion tokens, TTFT, tokens/s and how
many old messages were dropped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from backends.base import BackendError, BackendStatus, Delta, GenParams, Message, ToolSpec, Usage
from backends.llama.prompt import Prompt, common_prefix, prompter, sampling_args
from backends.llama.runtime import LlamaRuntime, LoadedModel
from backends.models import QWEN, SHIPPED_GGUFS, list_ggufs, package_dir
from backends.registry import register
from backends.tool_text import TextToolCallFilter


class LlamaChat:
    """A ChatModel over one GGUF in a :class:`LlamaRuntime`. ``n_ctx``/``n_threads``: this
    model's context size and threads (None: the settings' ``WB_LLAMA_CTX``/``WB_LLAMA_THREADS``)."""

    supports_tools = True
    max_concurrent = 1  # one request per Llama (the runtime lock enforces it)

    def __init__(
        self, runtime: LlamaRuntime, ref: str, *, n_ctx: int | None = None, n_threads: int | None = None
    ) -> None:
        self.runtime = runtime
        self.ref = ref.strip()
        self.model_id = self.ref
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.slot_key = f"llama:{self.ref}"  # the same key as the Local tab's for this GGUF

    def with_options(
        self, *, base_url: str | None = None, api_key: str | None = None, model: str | None = None
    ) -> LlamaChat:
        """The Chat + tools tab's model picker: another GGUF *from the list* (shipped models and
        the models dir, e.g. a model-lab export); never a typed path (safe in public mode)."""
        if not model or model == self.ref:
            return self
        listed = {c.ref for c in list_ggufs(Path(self.runtime.settings.models_dir))}
        if model not in listed:
            raise BackendError(f"{model!r} is not in the local model list: pick one from the list.")
        return LlamaChat(self.runtime, model, n_ctx=self.n_ctx, n_threads=self.n_threads)

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        params: GenParams = GenParams(),
    ) -> Iterator[Delta]:
        params = params.clamped(self.runtime.settings.max_new_tokens)
        filt = TextToolCallFilter(t.name for t in tools)
        # params.draft: a separate copy with prompt-lookup drafting (context capped, see runtime)
        with self.runtime.use(
            self.ref, n_ctx=self.n_ctx, n_threads=self.n_threads, draft=params.draft
        ) as model:
            t0 = time.perf_counter()  # TTFT: prompt processing + first token (not load, not queue)
            prompt = prompter(model).prompt(messages, tools, params.max_new_tokens, model.n_ctx)
            cached = common_prefix(model.llama.input_ids[: model.llama.n_tokens], prompt.ids)
            gen = model.llama.create_completion(
                prompt=list(prompt.ids), stream=True, **_args(prompt, params, tools)
            )
            t_first = t_last = None
            n_chunks = 0
            finish = "stop"
            try:
                for chunk in gen:
                    choice = chunk["choices"][0]
                    finish = choice.get("finish_reason") or finish
                    if text := choice.get("text") or "":
                        t_last = time.perf_counter()
                        t_first = t_first or t_last
                        n_chunks += 1
                        if shown := filt.feed(text):
                            yield Delta(text=shown)
            finally:
                gen.close()  # stop pressed / client gone: end llama.cpp's loop now, inside the lock
            usage = _usage(model, prompt, n_chunks, finish, cached, (t0, t_first, t_last))
        rest, calls = filt.finish()
        if rest:
            yield Delta(text=rest)
        if calls:
            yield Delta(tool_calls=tuple(calls), finish_reason="tool_calls")
        yield Delta(usage=usage, finish_reason=finish)


def _args(prompt: Prompt, params: GenParams, tools: Sequence[ToolSpec]) -> dict[str, Any]:
    grammar = None
    if params.response_format is not None and params.response_format.constrained:
        from backends.structured import llama_grammar  # an answer or, with tools, a call

        grammar = llama_grammar(params.response_format, tools if prompt.mode == "chat" else ())
    args = sampling_args(params, prompt.max_tokens, prompt.stop, grammar)
    if prompt.stop_ids:  # what llama-cpp-python's template handler adds: stop on end-of-turn
        from llama_cpp import StoppingCriteriaList

        stop_ids = prompt.stop_ids
        args["stopping_criteria"] = StoppingCriteriaList([lambda tokens, logits: tokens[-1] in stop_ids])
    return args


def _usage(
    model: LoadedModel, prompt: Prompt, n_chunks: int, finish: str, cached: int, times: tuple
) -> Usage:
    t0, t_first, t_last = times
    n_prompt = len(prompt.ids)
    # the last sampled token is evaluated only when generation goes on; at "length" it is not.
    # A drafting copy may have evaluated draft tokens past the answer: count what streamed.
    evaluated = model.llama.n_tokens - n_prompt + (1 if finish == "length" else 0)
    n_out = n_chunks if model.draft else max(n_chunks, evaluated)
    gen_time = (t_last or 0) - (t_first or 0)
    return Usage(
        prompt_tokens=n_prompt,
        completion_tokens=n_out,
        cached_tokens=max(0, min(cached, n_prompt - 1)),
        dropped_messages=prompt.dropped,
        ttft_s=(t_first or time.perf_counter()) - t0,
        tokens_per_s=(n_out - 1) / gen_time if n_out > 1 and gen_time > 0 else 0.0,
        mode=prompt.mode,
    )


def llama_status(settings: Any) -> BackendStatus:
    if package_dir("llama_cpp") is None:
        return BackendStatus("chat", "llama_cpp", False, "llama-cpp-python is not installed")
    ref = settings.local_model
    if ref.lower().startswith("qwen") and not QWEN.installed():
        return BackendStatus("chat", "llama_cpp", False, "the Qwen part packages are not installed")
    models_dir = Path(settings.models_dir)
    if ref.lower() not in SHIPPED_GGUFS and not ref.startswith("hf:"):  # a path: cheap to check
        if not (Path(ref).is_file() or (models_dir / ref).is_file()):
            detail = f"GGUF model {ref} not found: set WB_LOCAL_MODEL to a shipped model or a .gguf path"
            return BackendStatus("chat", "llama_cpp", False, detail)
    return BackendStatus("chat", "llama_cpp", True, f"local GGUF {ref} (loads on first use)")


@register("chat", "llama_cpp", status=llama_status)
def _make_llama_chat(settings: Any, runtime: LlamaRuntime | None = None, **deps: Any) -> LlamaChat:
    return LlamaChat(runtime or LlamaRuntime(settings), settings.local_model)
