"""The store survives a killed ingest, and works through a Chroma server (`chroma run`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import chroma_server

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SUBSET = [
    "company/overview.md",
    "company/history.md",
    "products/aquasense-probe.md",
    "products/tidewatch-platform.md",
    "contracts/kaito-optics-supply.md",
    "employees/priya-raman.md",
    "support/tidewatch-release-notes-2025.txt",
]


def _small_kb(tmp: Path) -> Path:
    kb = tmp / "kb"
    for rel in SUBSET:
        (kb / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "knowledge-base" / rel, kb / rel)
    return kb


def _engine(kb: Path, data: Path, url: str | None = None):
    from backends import registry
    from settings import Settings

    return registry.create(
        "rag", "chroma", Settings(_env_file=None, data_dir=data, kb_dir=kb, chroma_url=url)
    )


# The child ingests in small batches; on the second batch it writes only half of one file's
# chunks, says so, and waits to be killed: the worst moment for a crash.
CHILD = textwrap.dedent(
    """
    import sys, threading
    sys.path.insert(0, {root!r})
    import backends.rag.sync as rag_sync
    from backends.rag.store import VectorStore
    from settings import Settings
    from backends import registry
    rag_sync.EMBED_BATCH = 1
    real_add = VectorStore.add
    calls = []
    def add(self, ids, texts, metas, embs):
        calls.append(1)
        if len(calls) == 1:
            real_add(self, ids, texts, metas, embs)
            print("wrote", flush=True)
            return
        half = max(1, len(ids) // 2)
        real_add(self, ids[:half], texts[:half], metas[:half], embs[:half])
        print("partial", flush=True)
        threading.Event().wait()  # hang here until the test kills this process
    VectorStore.add = add
    s = Settings(_env_file=None, data_dir={data!r}, kb_dir={kb!r})
    registry.create("rag", "chroma", s).sync()
    """
)


def test_killed_ingest_is_repaired_by_the_next_sync(tmp_path):
    kb, data = _small_kb(tmp_path), tmp_path / "data"
    # make the second file multi-chunk so "half" really is a partial file
    (kb / "company" / "history.md").write_text((kb / "company" / "history.md").read_text() * 4)
    code = CHILD.format(root=str(ROOT), data=str(data), kb=str(kb))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ)
    try:
        lines = [proc.stdout.readline().strip(), proc.stdout.readline().strip()]
        assert lines == ["wrote", "partial"], lines
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    engine = _engine(kb, data)
    states = engine.store.file_states()
    assert any(not s.complete for s in states.values())  # the kill really left a half file
    report = engine.sync()
    assert report.unchanged == 1 and report.added + report.updated == len(SUBSET) - 1
    fresh = _engine(kb, tmp_path / "fresh").sync()
    assert report.total_chunks == fresh.total_chunks
    assert all(s.complete for s in engine.store.file_states().values())
    assert engine.retrieve("When was Tessera founded?", k=1)[0].source in {
        "company/history.md",
        "company/overview.md",
    }
    assert engine.sync().unchanged == len(SUBSET)


def test_chroma_server_mode(tmp_path):
    with chroma_server(tmp_path / "srv") as url:
        kb = _small_kb(tmp_path)
        engine = _engine(kb, tmp_path / "data", url)
        assert engine.store.location.startswith("http://127.0.0.1")
        report = engine.sync()
        assert report.added == len(SUBSET) and report.total_chunks > 0
        assert not (tmp_path / "data" / "chroma").exists()  # nothing written locally
        top = engine.retrieve("Who supplies the optical turbidity sensors?", k=2)
        assert "Kaito Optics" in top[0].text
        assert "contracts/kaito-optics-supply.md" in {p.source for p in top}
        again = _engine(kb, tmp_path / "data2", url).sync()
        assert again.unchanged == len(SUBSET)  # the server kept the store
