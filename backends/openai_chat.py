"""Any OpenAI-compatible chat server (OpenAI, Ollama, vLLM, llama.cpp's server, HF router)
through the ``openai`` client.

Base URL, key and model come from settings (``WB_OPENAI_BASE_URL``, ``WB_OPENAI_API_KEY``,
``WB_OPENAI_MODEL``) and can be overridden per request (:meth:`OpenAIChat.with_options`).
Timeouts and retries are the client's own options (``WB_OPENAI_TIMEOUT``,
``WB_OPENAI_MAX_RETRIES``); a stream that breaks half-way is never retried.

Tool calls are accepted both as streamed ``tool_calls`` deltas (accumulated by index) and
as JSON in the text (small local models behind a server often answer that way; see
``backends/tool_text.py``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backends.base import (
    BackendError,
    BackendStatus,
    Delta,
    GenParams,
    Message,
    ToolCall,
    ToolSpec,
    Usage,
    to_openai_messages,
)
from backends.registry import register
from backends.tool_text import TextToolCallFilter

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

MAX_CLIENTS = 8  # OpenAI clients kept per backend (one per server and key)
HOW_TO_CONFIGURE = (
    "The OpenAI-compatible backend is not configured: set WB_OPENAI_BASE_URL (e.g. "
    "http://localhost:11434/v1 for Ollama, http://localhost:8000/v1 for vLLM or llama.cpp's "
    "server) and/or WB_OPENAI_API_KEY (for api.openai.com), or fill in Base URL / API key in the tab."
)


@dataclass
class _CallParts:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class ToolCallAccumulator:
    """Streamed ``tool_calls`` deltas arrive in pieces keyed by ``index``; join them."""

    parts: dict[int, _CallParts] = field(default_factory=dict)

    def feed(self, deltas: Sequence[Any]) -> None:
        for d in deltas:
            part = self.parts.setdefault(getattr(d, "index", 0) or 0, _CallParts())
            part.id = getattr(d, "id", None) or part.id
            fn = getattr(d, "function", None)
            if fn is not None:
                part.name += getattr(fn, "name", None) or ""
                part.arguments += getattr(fn, "arguments", None) or ""

    def calls(self) -> tuple[ToolCall, ...]:
        return tuple(
            ToolCall(p.id or f"call_{i}", p.name, p.arguments or "{}")
            for i, p in sorted(self.parts.items())
            if p.name
        )


def _friendly(exc: Exception, where: str) -> BackendError:
    """A sentence the user can act on; never the key, never a traceback."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return BackendError(f"The server at {where} did not answer in time (timeout). Is it running?")
    if isinstance(exc, openai.APIConnectionError):
        return BackendError(f"Cannot reach the server at {where}: is it running and is the URL right?")
    if isinstance(exc, openai.AuthenticationError):
        return BackendError(f"The server at {where} rejected the API key (401): check WB_OPENAI_API_KEY.")
    if isinstance(exc, openai.NotFoundError):
        return BackendError(f"The server at {where} does not know this model or path (404).")
    if isinstance(exc, openai.RateLimitError):
        return BackendError(f"The server at {where} says: rate limited or out of quota (429).")
    if isinstance(exc, openai.APIStatusError):
        return BackendError(f"The server at {where} answered with an error ({exc.status_code}).")
    return BackendError(f"The connection to {where} broke during the answer ({type(exc).__name__}).")


class OpenAIChat:
    """A :class:`~backends.base.ChatModel` over one model on an OpenAI-compatible server."""

    supports_tools = True

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str | None,
        model: str,
        timeout: float = 30.0,
        max_retries: int = 1,
        fixed_server: bool = False,
    ) -> None:
        self.fixed_server = fixed_server  # public mode: visitors may not pick the server or key
        self.base_url = (base_url or "").strip() or None
        self.api_key = (api_key or "").strip() or None
        self.model_id = model
        self.timeout = timeout
        self.max_retries = max_retries
        # Real OpenAI models chain tools well; small local models behind a server repeat
        # calls when tools stay offered after the results (see tools/loop.py).
        self.tools_after_results = self.base_url is None
        # One client per server and key, shared with the copies with_options() makes: building
        # an OpenAI client loads the CA bundle (~0.1 s of CPU), too much to pay per request.
        self._clients: dict[tuple, Any] = {}
        self._clients_lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.base_url or self.api_key)

    @property
    def where(self) -> str:
        return self.base_url or "api.openai.com"

    @property
    def slot_key(self) -> str:
        """Requests to one server and model share ``WB_REMOTE_CONCURRENCY`` slots (backends/slots.py)."""
        return f"{self.where}|{self.model_id}"

    def with_options(
        self, *, base_url: str | None = None, api_key: str | None = None, model: str | None = None
    ) -> OpenAIChat:
        """The same backend with some options replaced (blank values keep the current ones).

        The configured key only ever goes to the configured server: another URL gets the key
        typed with it, or none. In public mode (``fixed_server``) a visitor may not point the
        app at another server or key at all (no requests to hosts the visitor picks)."""
        base_url = (base_url or "").strip() or None
        other_server = base_url is not None and base_url.rstrip("/") != (self.base_url or "").rstrip("/")
        if self.fixed_server and (other_server or api_key):
            raise BackendError(
                "This server's chat backend is fixed by its operator: leave Server URL and API key blank."
            )
        if not (base_url or api_key or model):
            return self
        other = OpenAIChat(
            base_url=base_url or self.base_url,
            api_key=api_key or (None if other_server else self.api_key),
            model=model or self.model_id,
            timeout=self.timeout,
            max_retries=self.max_retries,
            fixed_server=self.fixed_server,
        )
        other._clients, other._clients_lock = self._clients, self._clients_lock
        return other

    def client(self) -> Any:
        if not self.configured:
            raise BackendError(HOW_TO_CONFIGURE)
        key = (self.base_url, self.api_key, self.timeout, self.max_retries)
        with self._clients_lock:
            if key not in self._clients:
                from openai import OpenAI

                while len(self._clients) >= MAX_CLIENTS:  # servers typed per request: keep a few
                    self._clients.pop(next(iter(self._clients)))  # in-flight streams keep theirs
                self._clients[key] = OpenAI(
                    base_url=self.base_url,
                    api_key=self.api_key or "not-needed",  # local servers ignore the key
                    timeout=self.timeout,
                    max_retries=self.max_retries,
                )
            return self._clients[key]

    def _request(self, messages: Sequence[Message], tools: Sequence[ToolSpec], params: GenParams) -> dict:
        kwargs: dict[str, Any] = dict(
            model=self.model_id,
            messages=to_openai_messages(messages),
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        if tools:
            kwargs["tools"] = [t.openai_schema() for t in tools]
        from backends.structured import openai_response_format

        if (fmt := openai_response_format(params.response_format)) is not None:
            kwargs["response_format"] = fmt  # the server constrains (or rejects) it
        return kwargs

    def stream(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[ToolSpec] = (),
        params: GenParams = GenParams(),
    ) -> Iterator[Delta]:
        client = self.client()
        filt = TextToolCallFilter(t.name for t in tools)
        acc = ToolCallAccumulator()
        usage: Usage | None = None
        finish: str | None = None
        n_chunks = 0
        try:
            for chunk in client.chat.completions.create(**self._request(messages, tools, params)):
                if getattr(chunk, "usage", None):
                    usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
                for choice in chunk.choices or ():
                    delta = choice.delta
                    if delta is not None and delta.content:
                        n_chunks += 1
                        shown = filt.feed(delta.content)
                        if shown:
                            yield Delta(text=shown)
                    if delta is not None and delta.tool_calls:
                        acc.feed(delta.tool_calls)
                    finish = choice.finish_reason or finish
        except BackendError:
            raise
        except Exception as exc:
            log.warning("openai-compatible request to %s failed: %s", self.where, type(exc).__name__)
            raise _friendly(exc, self.where) from None
        rest, text_calls = filt.finish()
        if rest:
            yield Delta(text=rest)
        calls = acc.calls() or tuple(text_calls)
        if calls:
            yield Delta(tool_calls=calls, finish_reason="tool_calls")
        if usage is None:  # the server sent no usage: count locally (approximate)
            prompt_chars = sum(len(m.content) for m in messages)
            usage = Usage(prompt_chars // 4, n_chunks)
        yield Delta(usage=usage, finish_reason=finish or "stop")


def openai_status(settings: Settings) -> BackendStatus:
    if not (settings.openai_base_url or settings.openai_api_key):
        detail = "no key/base URL configured (set WB_OPENAI_BASE_URL or WB_OPENAI_API_KEY)"
        return BackendStatus("chat", "openai", False, detail)
    where = settings.openai_base_url or "api.openai.com"
    return BackendStatus("chat", "openai", True, f"{settings.openai_model} at {where} (not contacted)")


@register("chat", "openai", status=openai_status)
def _make_openai_chat(settings: Settings, **deps: Any) -> OpenAIChat:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    return OpenAIChat(
        base_url=settings.openai_base_url,
        api_key=key,
        model=settings.openai_model,
        timeout=settings.openai_timeout,
        max_retries=settings.openai_max_retries,
        fixed_server=settings.is_public,
    )
