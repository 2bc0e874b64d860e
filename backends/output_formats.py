"""The chat tabs' "Output format" control on the backend side: the choices, the field
editor (rows of name, type, required, enum -> an object schema) and the answer check.

The tabs get this module as their ``formats`` argument (``format_from_ui`` and
``validate_answer``); everything is built on :mod:`backends.structured`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from backends.base import ResponseFormat
from backends.structured import JSON, TEXT, SchemaError, json_schema_format, validate_answer

__all__ = ["OUTPUT_CHOICES", "FIELD_TYPES", "format_from_ui", "schema_from_fields", "validate_answer"]

FIELD_TYPES = ("string", "integer", "number", "boolean", "string list")


def schema_from_fields(rows: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Rows of (name, type, required, enum values comma-separated) -> an object schema."""
    props: dict[str, Any] = {}
    required: list[str] = []
    for i, row in enumerate(rows, 1):
        cells = [("" if c is None else str(c)).strip() for c in list(row) + ["", "", "", ""]][:4]
        name, kind, req, enum = cells
        if not name:
            continue
        if name in props:
            raise SchemaError(f"Field {name!r} appears twice (row {i}).")
        kind = kind.lower() or "string"
        if kind not in FIELD_TYPES:
            raise SchemaError(f"Row {i}: type {kind!r} is not one of {', '.join(FIELD_TYPES)}.")
        sub: dict[str, Any] = (
            {"type": "array", "items": {"type": "string"}} if kind == "string list" else {"type": kind}
        )
        if enum:
            values = [v.strip() for v in enum.split(",") if v.strip()]
            target = sub["items"] if kind == "string list" else sub
            target["enum"] = [_typed(v, kind, name) for v in values]
        props[name] = sub
        if req.lower() in ("true", "yes", "y", "1", "x", "required"):
            required.append(name)
    if not props:
        raise SchemaError("Add at least one field (a name and a type).")
    return {"type": "object", "properties": props, "required": required, "additionalProperties": False}


def _typed(value: str, kind: str, name: str) -> Any:
    try:
        if kind == "integer":
            return int(value)
        if kind == "number":
            return float(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        raise SchemaError(f"Field {name!r}: enum value {value!r} is not a {kind}.") from None
    return value


OUTPUT_CHOICES = ("Free text", "JSON", "JSON matching a schema")


def format_from_ui(
    choice: str, schema_text: str = "", rows: Sequence[Sequence[Any]] | None = None
) -> ResponseFormat:
    """The Output format control: a pasted schema wins over the field editor's rows."""
    if choice in (None, "", OUTPUT_CHOICES[0]):
        return TEXT
    if choice == OUTPUT_CHOICES[1]:
        return JSON
    if choice != OUTPUT_CHOICES[2]:
        raise SchemaError(f"Output format must be one of: {', '.join(OUTPUT_CHOICES)}.")
    if (schema_text or "").strip():
        return json_schema_format(schema_text)
    return json_schema_format(schema_from_fields(rows or []))
