"""ModelRefPolicy: in public mode nothing a visitor types reaches the filesystem or the Hub.

Backs the README's Security lines "models by name only in public mode", "the same answer for
a missing file, a file that is not a GGUF and a file outside the models dir", "Hub downloads
only with WB_ALLOW_HUB_DOWNLOADS, under WB_HUB_MAX_DOWNLOAD_MB, checked before downloading"
and "local mode keeps typed paths". The probes are the ones of issue 16.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from backends import model_policy
from backends.base import BackendError
from backends.model_policy import ModelRefPolicy, ModelRefused
from settings import Settings

GGUF_HEADER = b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 16  # a GGUF header with no tensors

SYSTEM_PROBES = ["/etc/shadow", "/root/.bashrc", "/proc/self/environ", "/etc/passwd", "/nonexistent/x.gguf"]


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    models = tmp_path / "models"
    models.mkdir()
    (models / "mine.gguf").write_bytes(GGUF_HEADER)
    (models / "notes.txt").write_text("secret")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "real.gguf").write_bytes(GGUF_HEADER)
    (outside / "not-a-model.gguf").write_text("hello")
    (models / "escape.gguf").symlink_to(outside / "real.gguf")
    return {"root": tmp_path, "models": models, "outside": outside}


def _policy(tree: dict[str, Path], **kw: object) -> ModelRefPolicy:
    """A public-mode policy (share + auth); online, so Hub rules are what is tested (the
    suite sets HF_HUB_OFFLINE, and its socket guard fails any real connection)."""
    base = dict(share=True, auth="u:pw", data_dir=tree["root"] / "data", models_dir=tree["models"])
    return replace(ModelRefPolicy.from_settings(Settings(_env_file=None, **{**base, **kw})), offline=False)


def _probes(tree: dict[str, Path]) -> list[str]:
    out = tree["outside"]
    return [
        *SYSTEM_PROBES,
        "../elsewhere/real.gguf",
        "../../etc/shadow",
        "..",
        "notes.txt",  # a file in the models dir that is not a model
        "escape.gguf",  # a symlink that leaves the models dir
        str(out / "real.gguf"),  # a real GGUF outside the models dir
        str(out / "not-a-model.gguf"),
        "missing.gguf",
        "sub/../mine.gguf",
        "C:\\Windows\\win.ini",
    ]


def test_auth_counts_as_public():
    assert Settings(_env_file=None, auth="u:pw").is_public
    assert not Settings(_env_file=None).is_public
    assert Settings(_env_file=None, host="0.0.0.0").is_public


def test_public_gguf_probes_all_get_the_same_answer_naming_the_ref(tree):
    policy = _policy(tree)
    for ref in _probes(tree):
        with pytest.raises(ModelRefused) as info:
            policy.gguf(ref)
        msg = str(info.value)
        assert msg == str(policy.refused(ref)), ref  # no oracle: one sentence for every case
        assert "GGUF" not in msg and "header" not in msg and "Tried" not in msg
        if str(tree["root"]) not in ref:  # names only what was typed, never a resolved file
            assert str(tree["root"]) not in msg


def test_public_accepts_models_dir_names_and_lists_only_those(tree):
    policy = _policy(tree)
    assert policy.gguf("mine.gguf") == tree["models"] / "mine.gguf"
    assert policy.models_dir_ggufs() == ["mine.gguf"]  # not the symlink leaving the dir
    refs = [c.ref for c in policy.offered_ggufs()]
    assert "mine.gguf" in refs and "escape.gguf" not in refs
    assert all("/" not in r for r in refs)


def test_public_accepts_a_shipped_name(tree):
    policy = _policy(tree)
    from backends.models import SMOLLM2

    if not SMOLLM2.installed():
        pytest.skip("SmolLM2 package not installed")
    assert policy.gguf("smollm2").name == SMOLLM2.filename


def test_local_mode_keeps_typed_paths(tree):
    policy = _policy(tree, share=False, auth=None)
    assert not policy.public
    assert policy.gguf(str(tree["outside"] / "real.gguf")) == tree["outside"] / "real.gguf"
    assert [c.ref for c in policy.offered_ggufs()].count("escape.gguf") == 1
    with pytest.raises(BackendError, match="No GGUF model"):
        policy.gguf("/nonexistent/x.gguf")


def test_public_hub_refs_need_the_setting_and_never_download(tree, monkeypatch):
    import huggingface_hub

    calls: list[tuple] = []

    def download(repo, filename, local_files_only=False, **kw):
        calls.append((repo, filename, local_files_only))
        if local_files_only:
            raise FileNotFoundError("not cached")
        raise AssertionError("must not download")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    policy = _policy(tree)
    with pytest.raises(ModelRefused, match="WB_ALLOW_HUB_DOWNLOADS"):
        policy.gguf("hf:owner/repo/x.gguf")
    assert all(local for _r, _f, local in calls)
    with pytest.raises(ModelRefused, match="hf:owner/repo/file.gguf"):
        policy.gguf("hf:../../etc/shadow.gguf")


def test_hub_size_cap_is_checked_before_downloading(tree, monkeypatch):
    import huggingface_hub

    def download(repo, filename, local_files_only=False, **kw):
        if local_files_only:
            raise FileNotFoundError("not cached")
        raise AssertionError("must not download over the cap")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    monkeypatch.setattr(ModelRefPolicy, "_hub_file_size", lambda self, repo, f: 5 << 30)
    policy = _policy(tree, allow_hub_downloads=True, hub_max_download_mb=1024)
    with pytest.raises(ModelRefused, match="over this server's download cap"):
        policy.gguf("hf:owner/repo/big.gguf")
    local = _policy(tree, share=False, auth=None, hub_max_download_mb=1024)  # the cap holds locally too
    with pytest.raises(ModelRefused, match="download cap"):
        local.gguf("hf:owner/repo/big.gguf")


def test_public_hf_models_only_offered_ones(tree, monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(model_policy, "resolve_hf_model", lambda ref, offline: seen.append(ref) or Path(ref))
    policy = _policy(tree)
    assert policy.hf_model("/srv/offered-folder", offered=["/srv/offered-folder"]) == Path(
        "/srv/offered-folder"
    )
    for ref in [*SYSTEM_PROBES, "../x", "/tmp", str(tree["outside"]), "a/../../b"]:
        with pytest.raises(ModelRefused) as info:
            policy.hf_model(ref, offered=["/srv/offered-folder"])
        assert str(info.value) == str(policy.refused(ref))
    monkeypatch.setattr("backends.models._hf_cache", lambda ref: None)
    with pytest.raises(ModelRefused, match="WB_ALLOW_HUB_DOWNLOADS"):
        policy.hf_model("someone/some-model")
    assert seen == ["/srv/offered-folder"]


def test_public_user_files_only_from_the_upload_folder(tree):
    uploads = tree["root"] / "uploads"
    uploads.mkdir()
    (uploads / "q.jsonl").write_text("{}")
    policy = _policy(tree, gradio_temp_dir=uploads)
    assert policy.user_file(uploads / "q.jsonl") == uploads / "q.jsonl"
    answers = set()
    for probe in [
        *SYSTEM_PROBES,
        str(tree["outside"] / "real.gguf"),
        str(uploads / ".." / "models" / "notes.txt"),
    ]:
        with pytest.raises(ModelRefused) as info:
            policy.user_file(probe, "question file")
        answers.add(str(info.value))
    assert answers == {"The question file could not be read. Upload it again."}


def test_rag_eval_file_probes_in_public_mode(tree):
    """The RAG tab's Evaluate file: a server path gets the same answer as a missing file."""
    from backends.fakes import FakeChat, FakeEmbedder
    from backends.rag import RagEngine

    s = Settings(_env_file=None, share=True, auth="u:pw", data_dir=tree["root"] / "d", kb_dir=tree["root"])
    engine = RagEngine(s, embedder=FakeEmbedder, chat=FakeChat)
    answers = set()
    for probe in [*SYSTEM_PROBES, str(tree["outside"] / "real.gguf")]:
        with pytest.raises(BackendError) as info:
            engine.evaluate(Path(probe))
        answers.add(str(info.value))
    assert answers == {"The question file could not be read. Upload it again."}
    with pytest.raises(BackendError) as info:
        engine.add_files([Path("/etc/hosts.md")])
    assert "could not be read" in str(info.value)


def test_finetune_base_and_files_in_public_mode(tree):
    from backends.finetune import FinetuneConfig, FinetuneJobs, JobRequest

    policy = _policy(tree)
    jobs = FinetuneJobs(tree["root"] / "ft", policy=policy)
    for base in ["/etc", "../x", str(tree["outside"])]:
        req = JobRequest(
            path="/etc/passwd", task="classification", name="x", config=FinetuneConfig(base_model=base)
        )
        with pytest.raises(ModelRefused) as info:
            jobs.start(req)
        assert str(info.value) == str(policy.refused(base))
    req = JobRequest(path="/etc/passwd", task="classification", name="y", config=FinetuneConfig())
    with pytest.raises(ModelRefused, match="training file could not be read"):
        jobs.start(req)


def test_the_operators_own_model_path_still_works_in_public_mode(tree):
    """WB_LOCAL_MODEL may be a path (the operator's setting, not a visitor's input)."""
    real = str(tree["outside"] / "real.gguf")
    policy = _policy(tree, local_model=real)
    assert policy.gguf(real) == Path(real)
    with pytest.raises(ModelRefused):
        policy.gguf(str(tree["outside"] / "not-a-model.gguf"))


def test_pipelines_picker_takes_only_its_own_entries(tree):
    """The Pipelines model picker: a typed key that is not one of the picker's entries is
    refused by name (the entries are built by the server: no path reaches a loader)."""
    import app
    from backends.registry import UnknownBackend

    deps = app.Deps(
        Settings(_env_file=None, share=True, auth="u:pw", data_dir=tree["root"], models_dir=tree["models"])
    )
    for probe in [*SYSTEM_PROBES, "hf:/etc", "gguf:/etc/shadow", "hf:../x", "spacy:/etc"]:
        with pytest.raises(UnknownBackend) as info:
            deps.task("sentiment", probe)
        assert repr(probe) in str(info.value) and "refresh the picker" in str(info.value)
