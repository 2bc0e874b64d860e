"""openai_chat pieces that need no server: streamed tool-call deltas, status, configuration."""

from __future__ import annotations

from types import SimpleNamespace as NS

import pytest

from backends import registry
from backends.base import BackendError, Message, ToolCall
from backends.openai_chat import OpenAIChat, ToolCallAccumulator, openai_status, to_openai_messages
from settings import Settings


def piece(index, id=None, name=None, arguments=None):
    return NS(index=index, id=id, function=NS(name=name, arguments=arguments))


def test_streamed_tool_call_deltas_are_joined_by_index():
    acc = ToolCallAccumulator()
    acc.feed([piece(0, "call_a", "get_ticket_price", "")])
    acc.feed([piece(0, arguments='{"destination_')])
    acc.feed(
        [piece(1, "call_b", "calculator", '{"expression": "1+1"}'), piece(0, arguments='city": "Paris"}')]
    )
    assert acc.calls() == (
        ToolCall("call_a", "get_ticket_price", '{"destination_city": "Paris"}'),
        ToolCall("call_b", "calculator", '{"expression": "1+1"}'),
    )


def test_messages_keep_tool_calls_and_ids():
    msgs = [
        Message("assistant", "", tool_calls=(ToolCall("c", "calculator", "{}"),)),
        Message("tool", "2", tool_call_id="c", name="calculator"),
    ]
    out = to_openai_messages(msgs)
    assert out[0]["tool_calls"][0] == {
        "id": "c",
        "type": "function",
        "function": {"name": "calculator", "arguments": "{}"},
    }
    assert out[1] == {"role": "tool", "content": "2", "tool_call_id": "c"}


def test_status_without_network_and_registration():
    s = Settings(_env_file=None)
    st = openai_status(s)
    assert not st.available and "no key/base URL configured" in st.detail
    assert registry.status("chat", "openai", s) == st
    s2 = Settings(_env_file=None, openai_base_url="http://localhost:11434/v1", openai_model="llama3.2")
    assert openai_status(s2).available and "llama3.2 at http://localhost:11434/v1" in openai_status(s2).detail
    model = registry.create("chat", "openai", s2)
    assert isinstance(model, OpenAIChat) and model.model_id == "llama3.2" and not model.tools_after_results


def test_with_options_overrides_only_what_is_given():
    base = OpenAIChat(base_url=None, api_key="sk-secret", model="gpt-4o-mini", timeout=5, max_retries=0)
    assert base.with_options() is base and base.tools_after_results
    other = base.with_options(base_url="http://127.0.0.1:8080/v1", model="qwen")
    assert (other.base_url, other.api_key, other.model_id, other.timeout) == (
        "http://127.0.0.1:8080/v1",
        None,  # the configured key never goes to a server the user typed
        "qwen",
        5,
    )
    assert base.with_options(model="gpt-4o").api_key == "sk-secret"  # same server: same key


def test_public_mode_fixes_the_server_and_key():
    """Public mode: a visitor cannot make the app call a URL they pick, or send a key (README
    Security: "nothing a visitor types reaches ... another server")."""
    from settings import Settings

    s = Settings(_env_file=None, share=True, auth="u:pw", openai_api_key="sk-secret", openai_model="m")
    model = registry.create("chat", "openai", s)
    for kw in ({"base_url": "http://169.254.169.254/v1"}, {"api_key": "sk-visitor"}):
        with pytest.raises(BackendError, match="fixed by its operator"):
            model.with_options(**kw)
    assert model.with_options(model="m2").api_key == "sk-secret"


def test_per_request_copies_share_one_client_per_server():
    """Building an OpenAI client costs ~0.1 s of CPU: the copies with_options() makes for each
    request reuse the client of their server and key, and only a few are kept."""
    from backends import openai_chat

    base = OpenAIChat(base_url="http://127.0.0.1:9/v1", api_key=None, model="m", timeout=5, max_retries=0)
    a = base.with_options(model="other").client()
    b = base.with_options(model="third").client()
    assert a is b is base.client()
    c = base.with_options(base_url="http://127.0.0.1:10/v1").client()
    assert c is not a
    for port in range(20, 20 + openai_chat.MAX_CLIENTS + 3):
        base.with_options(base_url=f"http://127.0.0.1:{port}/v1").client()
    assert len(base._clients) == openai_chat.MAX_CLIENTS
