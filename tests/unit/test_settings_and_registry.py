from __future__ import annotations

import pytest

import app
from backends import registry
from backends.fakes import FakeChat
from settings import Settings


def test_env_prefix_and_types(monkeypatch):
    monkeypatch.setenv("WB_LLAMA_THREADS", "3")
    monkeypatch.setenv("WB_DATA_DIR", "/tmp/somewhere")
    monkeypatch.setenv("SPACE_ID", "me/space")
    s = Settings(_env_file=None)
    assert s.llama_threads == 3 and str(s.data_dir) == "/tmp/somewhere" and s.on_spaces


def test_env_example_lists_every_variable():
    text = app.__file__ and open(app.__file__.replace("app.py", ".env.example")).read()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if alias is not None else f"WB_{name.upper()}"
        assert env in text, f"{env} missing from .env.example"


def test_unknown_backend_lists_valid_names():
    with pytest.raises(registry.UnknownBackend) as info:
        registry.create("chat", "nonesuch", Settings(_env_file=None))
    assert "fake" in str(info.value) and "llama_cpp" in str(info.value)


def test_fake_registered_through_the_registry():
    assert isinstance(registry.create("chat", "fake", Settings(_env_file=None)), FakeChat)


def test_public_without_auth_is_refused():
    with pytest.raises(app.PublicWithoutAuth):
        app.launch_kwargs(Settings(_env_file=None, share=True))
    with pytest.raises(app.PublicWithoutAuth):
        app.launch_kwargs(Settings(_env_file=None, host="0.0.0.0"))
    kw = app.launch_kwargs(Settings(_env_file=None, host="0.0.0.0", auth="a:b"))
    assert kw["auth"] == ("a", "b") and kw["show_error"] is False


def test_bad_auth_format_is_refused():
    with pytest.raises(ValueError, match="user:password"):
        Settings(_env_file=None, auth="nocolon").auth_pair()


def test_spaces_binds_all_interfaces_and_never_shares(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "me/space")
    s = app.settings_from_args(app.parse_args(["--share"]))
    assert s.host == "0.0.0.0" and s.share is False
    assert app.launch_kwargs(s)["server_name"] == "0.0.0.0"


def test_status_rows_without_loading_models():
    statuses = registry.all_status(Settings(_env_file=None))
    names = {(s.kind, s.name) for s in statuses}
    assert ("chat", "llama_cpp") in names
    assert all(s.name != "fake" for s in statuses)
