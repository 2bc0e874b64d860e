"""``backends.base.content_text``: the one content -> text converter of the tabs and ``/v1``."""

from __future__ import annotations

import gradio as gr
import pytest

from backends.base import Message, content_text

TEXT = {"type": "text", "text": "hi"}
IMAGE_URL = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
GRADIO_FILE = {"type": "file", "file": {"path": "/tmp/a.png", "mime_type": "image/png"}, "alt_text": None}
GRADIO_COMPONENT = {"type": "component", "component": "image", "value": {"path": "/tmp/a.png"}}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("plain", "plain"),
        ("", ""),
        (None, None),
        (TEXT, "hi"),
        ({"text": "untyped"}, "untyped"),
        ({"value": "edited"}, "edited"),
        ([TEXT, {"type": "text", "text": " there"}], "hi there"),
        ((TEXT,), "hi"),
        ([], None),
        ([IMAGE_URL], None),
        ([GRADIO_FILE, GRADIO_COMPONENT], None),
        ([TEXT, IMAGE_URL, GRADIO_FILE, GRADIO_COMPONENT], "hi"),
        ({"type": "text", "text": 5}, None),  # not text, even with type text
        (GRADIO_COMPONENT, None),  # its "value" is a file, never str()-ed into the text
        ({"role": "user", "content": [TEXT], "metadata": None}, "hi"),  # Gradio 6 message dict
        (gr.ChatMessage(role="user", content="from a ChatMessage"), "from a ChatMessage"),
        (gr.ChatMessage(role="user", content=gr.Image()), None),
        (gr.Image(), None),
        (Message("assistant", "a Message"), "a Message"),
        (42, None),
    ],
)
def test_content_text_cases(content, expected):
    assert content_text(content) == expected


def test_separator_and_non_text_hook():
    assert content_text([TEXT, {"type": "text", "text": "b"}], sep="\n") == "hi\nb"
    seen: list = []
    assert content_text([TEXT, IMAGE_URL, GRADIO_FILE], non_text=seen.append) == "hi"
    assert seen == [IMAGE_URL, GRADIO_FILE]
    assert content_text(None, non_text=seen.append) is None and len(seen) == 2  # None is no part


def test_callers_agree_on_empty_content():
    """The chat tab shows "" where /v1 reads "" (no more None in one place and "" in another)."""
    from api.schemas import ChatMessageIn, message_text
    from tabs.chat_view import as_display

    assert as_display([{"role": "user", "content": [GRADIO_FILE]}])[0]["content"] == ""
    assert message_text(ChatMessageIn(role="user", content=None), 0) == ""
    assert message_text(ChatMessageIn(role="user", content=[TEXT, TEXT]), 0) == "hi\nhi"
    with pytest.raises(Exception, match="only text content parts"):
        message_text(ChatMessageIn(role="user", content=[{"text": "untyped"}]), 0)
