"""Structured output: free text, any JSON, or JSON matching a JSON Schema, for every model.

- :func:`parse_response_format` reads OpenAI's ``{"type": "json_schema", "json_schema":
  {"name", "schema", "strict"}}``, ``{"type": "json_object"}`` and llama-cpp-python's own
  ``{"type": "json_object", "schema": {...}}`` into one :class:`~backends.base.ResponseFormat`.
- :func:`check_schema` validates the schema itself (jsonschema's meta-schema) and names every
  keyword the llama.cpp grammar cannot enforce, so nothing is silently unconstrained.
- :func:`grammar_text` compiles a format to a GBNF grammar with llama-cpp-python's own
  converter (``llama_cpp.llama_grammar.json_schema_to_gbnf``). The grammar is passed as
  ``grammar=`` (not ``response_format=``): llama-cpp-python's chat handlers fall back to
  plain JSON without a word when a schema does not compile, and ignore ``json_schema``.
- :func:`validate_answer` checks an answer (jsonschema) and lists required fields that came
  back empty: a grammar guarantees syntax, not that a small model found the value.

The chat tabs' Output format control (field editor, choices) is in :mod:`backends.output_formats`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backends.base import BackendError, ResponseFormat, ToolSpec

TEXT = ResponseFormat()
JSON = ResponseFormat(kind="json")

# Keywords the grammar converter enforces, or that only annotate (title, description ...).
_SUPPORTED = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "$defs",
    "definitions",
    "pattern",
    "minLength",
    "maxLength",
    "format",
    "title",
    "description",
    "default",
    "examples",
    "$schema",
    "$id",
    "$comment",
    "readOnly",
    "writeOnly",
    "deprecated",
}
_FORMATS = {"date", "time", "date-time", "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5"}
_SCHEMA_MAPS = ("properties", "$defs", "definitions")  # name -> subschema
_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


class SchemaError(BackendError):
    """The schema is invalid or uses keywords the grammar cannot enforce."""


def canonical(schema: dict[str, Any]) -> str:
    """The schema as JSON text; key order is kept (the grammar writes properties in it)."""
    return json.dumps(schema, ensure_ascii=False)


def json_schema_format(schema: Any, *, name: str = "response", strict: bool = True) -> ResponseFormat:
    """A checked ``json_schema`` format (raises :class:`SchemaError`)."""
    if isinstance(schema, str):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise SchemaError(
                f"The schema is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
            ) from None
    if not isinstance(schema, dict):
        raise SchemaError('A JSON Schema must be a JSON object, like {"type": "object", ...}.')
    check_schema(schema)
    return ResponseFormat(
        kind="json_schema", schema_json=canonical(schema), name=name or "response", strict=strict
    )


def parse_response_format(obj: Any) -> ResponseFormat:
    """OpenAI's or llama-cpp-python's ``response_format`` -> ResponseFormat (None -> text)."""
    if obj is None:
        return TEXT
    if not isinstance(obj, dict) or "type" not in obj:
        raise SchemaError('response_format must be an object with a "type".')
    kind = obj["type"]
    if kind == "text":
        return TEXT
    if kind == "json_object":
        return json_schema_format(obj["schema"]) if obj.get("schema") is not None else JSON
    if kind == "json_schema":
        spec = obj.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
            raise SchemaError(
                'response_format json_schema needs {"json_schema": {"name": ..., "schema": {...}}}.'
            )
        return json_schema_format(
            spec["schema"], name=str(spec.get("name") or "response"), strict=bool(spec.get("strict", True))
        )
    raise SchemaError(
        f"response_format type {kind!r} is not supported: use text, json_object or json_schema."
    )


def schema_of(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    return json.loads(fmt.schema_json) if fmt is not None and fmt.schema_json else None


# --------------------------------------------------------------------------- checking


def unsupported_keywords(schema: Any, path: str = "$") -> list[str]:
    """``keyword (at path)`` for every keyword the grammar cannot enforce."""
    out: list[str] = []
    if not isinstance(schema, dict):
        return out
    for key, value in schema.items():
        where = f"{path}.{key}"
        if key not in _SUPPORTED:
            out.append(f"{key} (at {path})")
        elif key == "format" and value not in _FORMATS:
            out.append(f"format {value!r} (at {path}; supported: date, time, date-time, uuid)")
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            for name, sub in value.items():
                out += unsupported_keywords(sub, f"{where}.{name}")
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            for i, sub in enumerate(value):
                out += unsupported_keywords(sub, f"{where}[{i}]")
        elif key in ("items", "additionalProperties") and isinstance(value, dict):
            out += unsupported_keywords(value, where)
        elif key == "$ref" and isinstance(value, str) and not value.startswith("#"):
            out.append(f"$ref to {value!r} (at {path}; only local #/$defs/... references)")
    return out


def check_schema(schema: dict[str, Any]) -> None:
    """Raise :class:`SchemaError` if the schema is invalid or cannot be enforced; say why."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError as MetaError

    try:
        Draft202012Validator.check_schema(schema)
    except MetaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        raise SchemaError(f"The schema is invalid at {where}: {exc.message}.") from None
    bad = unsupported_keywords(schema)
    if bad:
        raise SchemaError(
            "The schema uses keywords the constrained decoder cannot enforce: "
            + "; ".join(bad)
            + ". Remove them (check such rules in your code after parsing) and try again."
        )
    grammar_for_schema(canonical(schema))  # compiles, or says why not


# --------------------------------------------------------------------------- grammar


@functools.lru_cache(maxsize=64)
def grammar_for_schema(schema_json: str) -> str:
    """GBNF text for a schema (cached); SchemaError when the converter rejects it."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(schema_json)
    except Exception as exc:  # the converter asserts / raises ValueError on what it cannot do
        raise SchemaError(f"The schema cannot be turned into a grammar: {exc}") from None


def tool_call_schema(tool: ToolSpec) -> dict[str, Any]:
    """A tool call as a bare JSON object (how backends.tool_text reads calls in text)."""
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": tool.parameters or {"type": "object"}},
        "required": ["name", "arguments"],
    }


def grammar_text(fmt: ResponseFormat | None, tools: Sequence[ToolSpec] = ()) -> str | None:
    """GBNF for a format, or None for free text. With ``tools``, the answer may also be a tool
    call (``{"name": ..., "arguments": {...}}``), so a constrained model can still use tools."""
    if fmt is None or not fmt.constrained:
        return None
    answer = schema_of(fmt) or {"type": "object"}
    if tools:
        answer = {"anyOf": [answer, *(tool_call_schema(t) for t in tools)]}
    if fmt.kind == "json" and not tools:
        from llama_cpp.llama_grammar import JSON_GBNF

        return JSON_GBNF
    return grammar_for_schema(canonical(answer))


def llama_grammar(fmt: ResponseFormat | None, tools: Sequence[ToolSpec] = ()) -> Any:
    """A ``LlamaGrammar`` for ``create_chat_completion(grammar=...)``, or None."""
    text = grammar_text(fmt, tools)
    if text is None:
        return None
    from llama_cpp.llama_grammar import LlamaGrammar

    return LlamaGrammar.from_string(text, verbose=False)


def openai_response_format(fmt: ResponseFormat | None) -> dict[str, Any] | None:
    """The ``response_format`` an OpenAI-compatible server expects (None: leave it out)."""
    if fmt is None or not fmt.constrained:
        return None
    if fmt.kind == "json":
        return {"type": "json_object"}
    spec = {"name": fmt.name, "schema": schema_of(fmt), "strict": fmt.strict}
    return {"type": "json_schema", "json_schema": spec}


# --------------------------------------------------------------------------- answers


@dataclass(frozen=True)
class Validation:
    ok: bool
    value: Any = None
    errors: tuple[str, ...] = ()
    empty: tuple[str, ...] = field(default=())  # required fields that are "", [] or null

    def line(self) -> str:
        if not self.ok:
            return "❌ " + "; ".join(self.errors)
        note = f" · empty: {', '.join(self.empty)} (the model did not find a value)" if self.empty else ""
        return "✅ valid JSON" + (" matching the schema" if not self.errors else "") + note


def strip_fences(text: str) -> str:
    body = text.strip()
    if body.startswith("```"):
        body = body.split("\n", 1)[1] if "\n" in body else ""
        body = body.rsplit("```", 1)[0]
    return body.strip()


def validate_answer(text: str, fmt: ResponseFormat | None) -> Validation:
    """Parse and check an answer against its format (free text is always fine)."""
    if fmt is None or not fmt.constrained:
        return Validation(True, text)
    try:
        value = json.loads(strip_fences(text))
    except json.JSONDecodeError as exc:
        return Validation(False, None, (f"not valid JSON: {exc.msg} at character {exc.pos}",))
    schema = schema_of(fmt)
    if schema is None:
        return Validation(True, value)
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        msgs = tuple(f"{'/'.join(map(str, e.absolute_path)) or 'answer'}: {e.message}" for e in errors[:5])
        return Validation(False, value, ("does not match the schema: " + msgs[0], *msgs[1:]))
    return Validation(True, value, (), tuple(empty_fields(value, schema)))


def empty_fields(value: Any, schema: dict[str, Any], path: str = "") -> Iterable[str]:
    if not isinstance(value, dict):
        return
    props = schema.get("properties") or {}
    for name in schema.get("required", ()):
        v = value.get(name)
        where = f"{path}{name}"
        if v in ("", None, [], {}):
            yield where
        elif isinstance(v, dict) and isinstance(props.get(name), dict):
            yield from empty_fields(v, props[name], where + ".")
