"""Scale-out (issue 7): several ``python app.py`` processes share one ``chroma run`` server.

What the code does, and so what a deployment must do:

* The Chroma collection is named after the embedding model only (``backends.rag.store.collection_name``,
  e.g. ``kb-all-minilm-l6-v2-384``), never after the kb dir: every app process on one server
  with the same embedder uses the same collection.
* A sync makes the store hold *exactly* the files of the syncing process's kb dir
  (``backends.rag.sync.sync_files`` deletes every source its own kb dir lacks). So processes with
  different kb dirs overwrite each other: the last one to sync wins
  (``test_separate_kb_dirs_overwrite_each_other`` pins this down). Behind a load balancer,
  every process must see the same knowledge-base contents: one shared folder, or the same
  repo checkout in every container.

``test_two_apps_share_one_chroma_server`` runs that realistic set-up: two real app processes
(own port, own data dir, one shared kb dir, ``WB_CHROMA_URL`` -> one server). A document
synced through A is retrieved through B *without B syncing again* (B synced and built its
search index before the document existed), and a document synced through B is retrieved
through A; B's sync finds A's document already stored (``unchanged``), so the store really
is shared, not re-built per process.
"""

from __future__ import annotations

import shutil
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.helpers import chroma_server, running_app

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BASE_DOCS = ["company/overview.md", "products/aquasense-probe.md"]

DOC_A = (
    "notes/quillfeather-counter.md",
    "# Quillfeather glass-eel counter\n\n"
    "The Quillfeather is an experimental glass-eel counter built by the Marlpit field team. "
    "It counts juvenile eels swimming upstream through the Zephyrine weir using an infrared "
    "light curtain, and reports the tally every fifteen minutes.\n",
)
DOC_B = (
    "notes/brackenmoor-buoy.md",
    "# Brackenmoor lantern buoy\n\n"
    "The Brackenmoor lantern buoy is a solar-powered beacon that measures dissolved methane "
    "in peat-bog lakes. Its firmware is called Owlglass and it reports over LoRa.\n",
)
Q_A = "What does the Quillfeather glass-eel counter count at the Zephyrine weir?"
Q_B = "Which buoy measures dissolved methane in peat-bog lakes with Owlglass firmware?"


def _kb(path: Path, docs: list[str]) -> Path:
    for rel in docs:
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "knowledge-base" / rel, path / rel)
    return path


def _write(kb: Path, doc: tuple[str, str]) -> None:
    (kb / doc[0]).parent.mkdir(parents=True, exist_ok=True)
    (kb / doc[0]).write_text(doc[1])


def _app_env(tmp: Path, name: str, kb: Path, chroma_url: str) -> dict[str, str]:
    return {
        "WB_KB_DIR": str(kb),
        "WB_DATA_DIR": str(tmp / f"data-{name}"),
        "WB_CHROMA_URL": chroma_url,
        "WB_LLAMA_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
        "ANONYMIZED_TELEMETRY": "False",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def _sources(client, question: str, k: int = 3) -> list[str]:
    return [row["source"] for row in client.predict(question, k, api_name="/rag_retrieve")]


def test_two_apps_share_one_chroma_server(tmp_path):
    from gradio_client import Client

    kb = _kb(tmp_path / "kb", BASE_DOCS)  # one folder behind both processes
    with ExitStack() as stack:
        chroma_url = stack.enter_context(chroma_server(tmp_path / "chroma-srv"))
        url_a, _, _ = stack.enter_context(running_app(env=_app_env(tmp_path, "a", kb, chroma_url)))
        url_b, _, _ = stack.enter_context(running_app(env=_app_env(tmp_path, "b", kb, chroma_url)))
        assert url_a != url_b
        a, b = Client(url_a, verbose=False), Client(url_b, verbose=False)

        first = a.predict(api_name="/rag_sync")
        assert first["added"] == len(BASE_DOCS) and first["deleted"] == 0, first
        # B's first use syncs its kb dir: A already stored it, and B builds its search index now
        assert _sources(b, "What is the list price of an AquaSense P4?")[0] == "products/aquasense-probe.md"
        assert _sources(a, "What is the list price of an AquaSense P4?")[0] == "products/aquasense-probe.md"
        for data in ("data-a", "data-b"):
            assert not (tmp_path / data / "chroma").exists()  # nothing stored locally

        # a new document, synced through A only, is found through B (B does not sync)
        _write(kb, DOC_A)
        synced = a.predict(api_name="/rag_sync")
        assert (synced["added"], synced["unchanged"], synced["deleted"]) == (1, len(BASE_DOCS), 0), synced
        assert DOC_A[0] in _sources(b, Q_A), "B did not see the document A synced"

        # and the other way round; B's sync finds A's document already in the shared store
        _write(kb, DOC_B)
        synced = b.predict(api_name="/rag_sync")
        assert (synced["added"], synced["unchanged"], synced["deleted"]) == (1, len(BASE_DOCS) + 1, 0), synced
        assert DOC_B[0] in _sources(a, Q_B), "A did not see the document B synced"
        assert DOC_A[0] in _sources(a, Q_A)

        total = len(BASE_DOCS) + 2
        for client in (a, b):  # both agree the store is complete and current
            again = client.predict(api_name="/rag_sync")
            assert again["unchanged"] == total and again["added"] == again["deleted"] == 0, again


def test_separate_kb_dirs_overwrite_each_other(tmp_path):
    """The documented limit: a sync mirrors the syncing process's own kb dir into the shared
    collection, deleting what only another process's kb dir has."""
    from tests.integration.test_rag_store import _engine

    kb_a = _kb(tmp_path / "kb-a", BASE_DOCS[:1])
    kb_b = _kb(tmp_path / "kb-b", BASE_DOCS[:1])
    _write(kb_a, DOC_A)
    _write(kb_b, DOC_B)
    with chroma_server(tmp_path / "chroma-srv") as url:
        a = _engine(kb_a, tmp_path / "data-a", url)
        b = _engine(kb_b, tmp_path / "data-b", url)
        assert a.store.name == b.store.name  # one collection: named after the embedder only
        assert a.sync().added == 2
        report = b.sync()
        assert (report.added, report.unchanged, report.deleted) == (1, 1, 1)
        assert set(b.store.file_states()) == {BASE_DOCS[0], DOC_B[0]}  # A's document is gone
