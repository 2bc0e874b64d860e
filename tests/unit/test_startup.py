"""Start-up helpers: the app's modules are compiled to bytecode at build time (``prepare.py``)
and the heap is frozen out of the garbage collector's reach before and after the page is built."""

from __future__ import annotations

import importlib.util

import pytest


def test_compile_sources_writes_bytecode_for_every_module(tmp_path):
    from prepare import compile_sources

    (tmp_path / "tabs").mkdir()
    (tmp_path / "tabs" / "__init__.py").write_text("")
    (tmp_path / "tabs" / "one.py").write_text("X = 1\n")
    (tmp_path / "app.py").write_text("Y = 2\n")
    assert compile_sources(tmp_path)
    for source in ("tabs/__init__.py", "tabs/one.py", "app.py"):
        assert (tmp_path / importlib.util.cache_from_source(source)).is_file(), source


def test_compile_sources_reports_a_syntax_error(tmp_path, capsys):
    from prepare import compile_sources

    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "bad.py").write_text("def broken(:\n")
    assert not compile_sources(tmp_path)
    assert "bad.py" in capsys.readouterr().out


def test_main_freezes_the_heap_before_and_after_building(monkeypatch):
    import app

    calls: list[str] = []
    monkeypatch.setattr(app, "freeze_heap", lambda: calls.append("freeze"))

    class Page:
        def launch(self, **_kwargs):
            calls.append("launch")
            raise SystemExit(0)

    def build(*_args, **_kwargs):
        calls.append("build")
        return Page()

    monkeypatch.setattr(app, "build_app", build)
    monkeypatch.setattr(app, "api_kwargs", lambda *_a: {})
    with pytest.raises(SystemExit):
        app.main([])
    assert calls == ["freeze", "build", "freeze", "launch"]
