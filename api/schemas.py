"""Request models of the OpenAI-compatible API and their conversion to ``backends.base``.

Only the fields this server honours are declared; unknown fields are accepted and ignored
(OpenAI clients send many optional ones). Limits from settings are checked here, on the
server, so the API cannot bypass what the UI enforces.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.errors import ApiError, bad_request
from backends.base import GenParams, Message, ToolCall, ToolSpec, content_text
from backends.structured import SchemaError, parse_response_format


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class FunctionCall(_Loose):
    name: str
    arguments: str = "{}"


class ToolCallIn(_Loose):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessageIn(_Loose):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = None


class FunctionDef(_Loose):
    name: str = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class ToolIn(_Loose):
    type: Literal["function"] = "function"
    function: FunctionDef


class StreamOptions(_Loose):
    include_usage: bool = False


class ChatCompletionRequest(_Loose):
    model: str
    messages: list[ChatMessageIn] = Field(min_length=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1)
    tools: list[ToolIn] | None = None
    tool_choice: str | dict[str, Any] | None = None
    response_format: dict[str, Any] | None = None


class EmbeddingRequest(_Loose):
    model: str
    input: str | list[str]
    encoding_format: Literal["float", "base64"] = "float"


def parse(model: type[BaseModel], body: Any) -> Any:
    """Validate a JSON body; the first problem becomes a 400 that names the field."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise bad_request(f"Invalid request: {where}: {err.get('msg')}", param=where or None) from None


def message_text(m: ChatMessageIn, index: int) -> str:
    """Text of a message; content parts must all be text (no images here)."""

    def refuse(part: Any) -> None:
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        raise bad_request(
            f"messages[{index}]: only text content parts are supported, got {kind!r}.",
            param=f"messages.{index}.content",
        )

    for part in m.content if isinstance(m.content, list) else ():
        if part.get("type") != "text":  # OpenAI parts always say their type
            refuse(part)
    return content_text(m.content, sep="\n", non_text=refuse) or ""


def to_messages(req: ChatCompletionRequest, *, max_chars: int, max_messages: int) -> list[Message]:
    if len(req.messages) > max_messages:
        raise bad_request(
            f"Too many messages ({len(req.messages)}); the limit is {max_messages}.", param="messages"
        )
    out = []
    for i, m in enumerate(req.messages):
        text = message_text(m, i)
        if len(text) > max_chars:
            raise ApiError(
                400,
                f"messages[{i}] has {len(text)} characters; the limit is {max_chars}.",
                param=f"messages.{i}.content",
                code="context_length_exceeded",
            )
        calls = tuple(ToolCall(c.id, c.function.name, c.function.arguments) for c in m.tool_calls or ())
        role = "system" if m.role == "developer" else m.role
        out.append(Message(role, text, tool_calls=calls, tool_call_id=m.tool_call_id, name=m.name))
    return out


def to_tools(req: ChatCompletionRequest) -> list[ToolSpec]:
    """The request's tools, unless ``tool_choice`` is "none" (then the model gets none)."""
    if not req.tools or req.tool_choice == "none":
        return []
    return [ToolSpec(t.function.name, t.function.description, t.function.parameters) for t in req.tools]


def to_params(req: ChatCompletionRequest, *, max_new_tokens: int) -> GenParams:
    """Generation parameters; ``max_tokens`` is capped at the server's ``max_new_tokens``."""
    if req.n != 1:
        raise bad_request("Only n=1 is supported.", param="n")
    asked = req.max_completion_tokens or req.max_tokens or max_new_tokens
    stop = (req.stop,) if isinstance(req.stop, str) else tuple(req.stop or ())
    defaults = GenParams()
    try:
        fmt = parse_response_format(req.response_format)
    except SchemaError as exc:  # never silently unconstrained
        raise bad_request(str(exc), param="response_format", code="invalid_response_format") from None
    return GenParams(
        response_format=fmt if fmt.constrained else None,
        temperature=defaults.temperature if req.temperature is None else req.temperature,
        top_p=defaults.top_p if req.top_p is None else req.top_p,
        max_new_tokens=min(asked, max_new_tokens),
        stop=stop,
        seed=req.seed,
    )


def embedding_inputs(req: EmbeddingRequest, *, max_chars: int, max_items: int) -> list[str]:
    texts = [req.input] if isinstance(req.input, str) else list(req.input)
    if not texts:
        raise bad_request("input must not be empty.", param="input")
    if len(texts) > max_items:
        raise bad_request(f"Too many inputs ({len(texts)}); the limit is {max_items}.", param="input")
    for i, t in enumerate(texts):
        if not t:
            raise bad_request(f"input[{i}] is empty.", param="input")
        if len(t) > max_chars:
            raise bad_request(f"input[{i}] has {len(t)} characters; the limit is {max_chars}.", param="input")
    return texts
