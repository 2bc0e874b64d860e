"""The OpenAI-compatible API (``/v1``): models, chat completions (plain and SSE), embeddings.

A small FastAPI app of its own, mounted at ``/v1`` inside Gradio's server (see
``api.api_routes``), so its error handlers and key check apply to ``/v1`` only and never
change how Gradio's own routes answer. Model calls are blocking (llama.cpp), so they run
in the thread pool; a streamed answer is read from the backend one delta at a time.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import schemas
from api.auth import require_key
from api.catalog import Catalog
from api.errors import ApiError, bad_request, server_error, unavailable
from backends.base import (
    BackendError,
    ChatModel,
    ContextOverflow,
    Delta,
    GenParams,
    Message,
    ToolCall,
    ToolSpec,
)

log = logging.getLogger(__name__)

MAX_EMBED_INPUTS = 256
MAX_BODY_BYTES = 8 << 20  # the per-message and per-history limits are checked after parsing
FINISH_REASONS = {"stop", "length", "tool_calls"}


def _tool_call_json(call: ToolCall, index: int | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }
    if index is not None:
        d["index"] = index
    return d


def _usage_json(delta: Delta | None) -> dict[str, int]:
    u = delta.usage if delta is not None else None
    p, c = (u.prompt_tokens, u.completion_tokens) if u else (0, 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish(reason: str | None) -> str:
    return reason if reason in FINISH_REASONS else "stop"


def _guarded(deltas: Iterator[Delta]) -> Iterator[Delta]:
    """Backend errors become ApiErrors: user-actionable ones keep their message."""
    try:
        yield from deltas
    except ApiError:
        raise
    except ContextOverflow as exc:  # the backend already dropped what it could
        raise ApiError(400, f"{exc} Send a shorter conversation.", code="context_length_exceeded") from None
    except BackendError as exc:
        raise ApiError(500, str(exc), type="server_error", code="backend_error") from None
    except Exception:
        log.exception("chat backend failed")
        raise server_error() from None


def complete(
    model: ChatModel, messages: Sequence[Message], tools: Sequence[ToolSpec], params: GenParams, model_id: str
) -> dict[str, Any]:
    """A whole (non-streamed) chat completion in OpenAI's shape."""
    text: list[str] = []
    calls: list[ToolCall] = []
    last: Delta | None = None
    for delta in _guarded(model.stream(messages, tools=tools, params=params)):
        text.append(delta.text)
        calls.extend(delta.tool_calls)
        if delta.usage is not None or delta.finish_reason:
            last = delta
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
    if calls:
        message["tool_calls"] = [_tool_call_json(c) for c in calls]
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model_id,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if calls else _finish(last.finish_reason if last else None),
            }
        ],
        "usage": _usage_json(last),
    }


class ChunkWriter:
    """Builds the ``data: {...}`` lines of one streamed completion."""

    def __init__(self, model_id: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model_id = model_id

    def chunk(self, delta: dict[str, Any], finish: str | None = None, usage: dict | None = None) -> str:
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model_id,
            "choices": [] if usage else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if usage:
            body["usage"] = usage
        return sse(body)


def sse(body: dict[str, Any]) -> str:
    import json

    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


def stream_events(
    first: Delta | None, rest: Generator[Delta, None, None], model_id: str, include_usage: bool
) -> Generator[str, None, None]:
    """SSE lines for a completion whose first delta was already read (to fail with a status)."""
    w = ChunkWriter(model_id)
    yield w.chunk({"role": "assistant", "content": ""})
    last: Delta | None = None
    n_calls = 0
    try:
        for delta in _prepend(first, rest):
            if delta.text:
                yield w.chunk({"content": delta.text})
            if delta.tool_calls:
                calls = [_tool_call_json(c, n_calls + i) for i, c in enumerate(delta.tool_calls)]
                n_calls += len(calls)
                yield w.chunk({"tool_calls": calls})
            if delta.usage is not None or delta.finish_reason:
                last = delta
    except ApiError as exc:  # headers are sent: the error goes into the stream
        yield sse(exc.body())
        yield "data: [DONE]\n\n"
        return
    finally:
        rest.close()  # on hang-up too: stops the backend generator (and frees its lock)
    yield w.chunk({}, finish="tool_calls" if n_calls else _finish(last.finish_reason if last else None))
    if include_usage:
        yield w.chunk({}, usage=_usage_json(last))
    yield "data: [DONE]\n\n"


def _prepend(first: Delta | None, rest: Iterator[Delta]) -> Iterator[Delta]:
    if first is not None:
        yield first
    yield from rest


def _start(model: ChatModel, messages: list[Message], tools: list[ToolSpec], params: GenParams):
    """Start generating and read the first delta (loads the model; errors still get a status)."""
    it = _guarded(model.stream(messages, tools=tools, params=params))
    return next(it, None), it


def encode_embedding(vec: Sequence[float], fmt: str) -> list[float] | str:
    if fmt == "float":
        return list(vec)
    import numpy as np

    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode("ascii")


def count_tokens(embedder: Any, texts: list[str]) -> int:
    """Prompt tokens per the embedder's own tokenizer, when it exposes one (else 0)."""
    tok = getattr(getattr(embedder, "model", None), "tokenizer", None)
    if tok is None:
        return 0
    return sum(len(ids) for ids in tok(texts)["input_ids"])


async def _json(request: Request) -> Any:
    size = request.headers.get("content-length", "0")
    if not size.isdigit() or int(size) > MAX_BODY_BYTES:
        raise ApiError(413, f"The request body is over {MAX_BODY_BYTES >> 20} MB.", code="request_too_large")
    try:
        return await request.json()
    except Exception:
        raise bad_request("The body must be JSON.") from None


def create_v1_app(deps: Any, catalog: Catalog | None = None) -> FastAPI:
    """The ``/v1`` app over the app's shared ``Deps`` (settings, runtime, backends)."""
    settings = deps.settings
    catalog = catalog or Catalog(deps)

    def check_key(request: Request) -> None:
        require_key(settings, request.headers.get("authorization"))

    app = FastAPI(
        title="LLM Workbench OpenAI-compatible API",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(check_key)],
    )

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return ApiError(exc.status_code, str(exc.detail), code=code).response()

    @app.get("/models")
    async def list_models() -> dict[str, Any]:
        entries = await run_in_threadpool(catalog.models)
        return {"object": "list", "data": [_model_json(m) for m in entries]}

    @app.get("/models/{model_id:path}")
    async def get_model(model_id: str) -> dict[str, Any]:
        entries = await run_in_threadpool(catalog.models)
        for m in entries:
            if m.id == model_id:
                return _model_json(m)
        raise ApiError(404, f"The model {model_id!r} does not exist here.", code="model_not_found")

    @app.post("/chat/completions")
    async def chat_completions(request: Request) -> Any:
        req = schemas.parse(schemas.ChatCompletionRequest, await _json(request))
        messages = schemas.to_messages(
            req, max_chars=settings.max_input_chars, max_messages=settings.max_history_messages
        )
        params = schemas.to_params(req, max_new_tokens=settings.max_new_tokens)
        tools = schemas.to_tools(req)
        model = await run_in_threadpool(catalog.chat, req.model)
        if tools and not model.supports_tools:
            raise bad_request(f"The model {req.model!r} does not support tools.", param="tools")
        if params.response_format and not getattr(model, "supports_response_format", True):
            msg = f"The model {req.model!r} cannot constrain its output."
            raise bad_request(msg, param="response_format")
        if not req.stream:
            return await run_in_threadpool(complete, model, messages, tools, params, req.model)
        first, rest = await run_in_threadpool(_start, model, messages, tools, params)
        include_usage = bool(req.stream_options and req.stream_options.include_usage)
        events = stream_events(first, rest, req.model, include_usage)
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            # Runs after the response, also when the client hung up: closing the generator
            # stops generation and releases the model's lock (else it waits for the GC).
            background=BackgroundTask(events.close),
        )

    @app.post("/embeddings")
    async def embeddings(request: Request) -> dict[str, Any]:
        req = schemas.parse(schemas.EmbeddingRequest, await _json(request))
        texts = schemas.embedding_inputs(req, max_chars=settings.max_input_chars, max_items=MAX_EMBED_INPUTS)
        embedder = await run_in_threadpool(catalog.embedder, req.model)
        try:
            vectors = await run_in_threadpool(embedder.embed, texts)
            n_tokens = await run_in_threadpool(count_tokens, embedder, texts)
        except BackendError as exc:
            raise unavailable(str(exc)) from None
        data = [
            {"object": "embedding", "index": i, "embedding": encode_embedding(v, req.encoding_format)}
            for i, v in enumerate(vectors)
        ]
        return {
            "object": "list",
            "data": data,
            "model": req.model,
            "usage": {"prompt_tokens": n_tokens, "total_tokens": n_tokens},
        }

    return app


def _model_json(m: Any) -> dict[str, Any]:
    return {"id": m.id, "object": "model", "created": 0, "owned_by": m.owned_by}
