"""The "Output format" control of the chat tabs: free text, JSON, or JSON matching a schema
(pasted, or built with a small field editor), and the pass/fail report under an answer.

The parsing/validation functions come from the backends as an argument (``formats``: an
object with ``format_from_ui`` and ``validate_answer``, i.e. ``backends.structured``), so
tabs import no backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

import gradio as gr

from backends.base import BackendError, ResponseFormat
from tabs.guard_ui import shown

CHOICES = ("Free text", "JSON", "JSON matching a schema")
FIELD_HEADERS = [
    "name",
    "type (string, integer, number, boolean, string list)",
    "required (yes/no)",
    "enum (comma-separated, optional)",
]
TITLE_PREFIX = "Output:"


class Formats(Protocol):
    def format_from_ui(self, choice: str, schema_text: str = "", rows: Any = None) -> ResponseFormat: ...
    def validate_answer(self, text: str, fmt: ResponseFormat | None) -> Any: ...


@dataclass
class Controls:
    choice: gr.Radio
    schema: gr.Textbox
    fields: gr.Dataframe

    @property
    def inputs(self) -> list[Any]:
        return [self.choice, self.schema, self.fields]


def controls(open: bool = False) -> Controls:
    with gr.Accordion("Output format", open=open):
        choice = gr.Radio(list(CHOICES), value=CHOICES[0], label="Answer as", elem_classes="output-format")
        schema = gr.Textbox(
            "",
            lines=4,
            label="JSON Schema (paste one; it wins over the fields below)",
            placeholder='{"type": "object", "properties": {"city": {"type": "string"}}}',
        )
        fields = gr.Dataframe(
            headers=FIELD_HEADERS,
            value=[["", "string", "yes", ""]],
            row_count=(1, "dynamic"),
            column_count=(4, "fixed"),
            type="array",
            interactive=True,
            label="Or build an object: one row per field",
        )
    return Controls(choice, schema, fields)


def rows_of(value: Any) -> list[list[Any]]:
    if value is None:
        return []
    if hasattr(value, "values") and hasattr(value, "columns"):  # a pandas DataFrame
        return value.values.tolist()
    if isinstance(value, dict):
        return list(value.get("data") or [])
    return [list(r) for r in value]


def resolve(
    formats: Formats | None, choice: str | None, schema_text: str = "", fields: Any = None
) -> ResponseFormat | None:
    """The chosen format (None for free text); a bad schema is a gr.Error that says why."""
    if choice in (None, "", CHOICES[0]):
        return None
    if formats is None:
        raise gr.Error("Structured output is not available in this app.")
    try:
        fmt = formats.format_from_ui(choice, schema_text or "", rows_of(fields))
    except BackendError as exc:
        raise gr.Error(str(exc)) from None
    return fmt if fmt.constrained else None


def report(formats: Formats | None, answer: str, fmt: ResponseFormat | None) -> list[dict[str, Any]]:
    """The answer as pretty JSON under a pass/fail title (titled messages never go back to the model)."""
    if fmt is None or formats is None:
        return []
    result = formats.validate_answer(answer, fmt)
    body = (
        f"```json\n{json.dumps(result.value, indent=2, ensure_ascii=False)}\n```"
        if result.value is not None
        else shown(answer)
    )
    return [{"role": "assistant", "content": body, "metadata": {"title": f"{TITLE_PREFIX} {result.line()}"}}]
