"""Telemetry is off: the app writes the libraries' own switches before anything is built, an
operator's explicit value wins, and the Chroma client is created with telemetry disabled."""

from __future__ import annotations

import pytest

from api.deploy import TELEMETRY_OFF, quiet_telemetry


def test_quiet_telemetry_sets_every_switch_and_keeps_explicit_values(monkeypatch):
    for key in TELEMETRY_OFF:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "0")  # an operator's choice
    quiet_telemetry()
    import os

    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert os.environ["ANONYMIZED_TELEMETRY"] == "False"
    assert os.environ["HF_HUB_DISABLE_TELEMETRY"] == "0"
    assert set(TELEMETRY_OFF) == {
        "GRADIO_ANALYTICS_ENABLED",
        "HF_HUB_DISABLE_TELEMETRY",
        "ANONYMIZED_TELEMETRY",
    }


def test_main_quiets_telemetry_before_building_the_app(monkeypatch):
    import app

    calls: list[str] = []
    monkeypatch.setattr("api.deploy.quiet_telemetry", lambda: calls.append("quiet"))

    def stop(*_a, **_k):
        calls.append("build")
        raise SystemExit(0)

    monkeypatch.setattr(app, "build_app", stop)
    with pytest.raises(SystemExit):
        app.main([])
    assert calls == ["quiet", "build"]


def test_the_chroma_client_has_telemetry_off(tmp_path):
    from backends.rag.store import open_client

    assert open_client(tmp_path, None).get_settings().anonymized_telemetry is False
