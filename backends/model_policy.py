"""Which models and files a request may name: :class:`ModelRefPolicy`, the one rule every
surface calls (the Local tab's picker, ``/local_model_card``, ``/local_chat``, the chat model of
Chat + tools and ``/v1``, the Pipelines tokenizer explorer, the fine-tune base model, uploaded
files of the RAG and Fine-tune tabs).

Local mode (the app serves only this machine's user) keeps the old freedom: a typed path, a
file name in the models dir, a shipped name, ``hf:owner/repo/file.gguf``.

Public mode (``Settings.is_public``: a share link, a non-loopback host, Spaces, or a login)
answers visitors, so nothing they type may reach the filesystem or the Hub:

- a GGUF is a shipped name, or the *name* of a ``*.gguf`` directly in the models dir (no
  ``/``, no ``..``, no absolute path, no symlink that leaves the dir);
- a transformers model is one the server offered (its own picker entries);
- ``hf:`` / Hub ids only with ``WB_ALLOW_HUB_DOWNLOADS``, and only under the size cap
  (``WB_HUB_MAX_DOWNLOAD_MB``, checked from the Hub's metadata *before* downloading);
- uploaded files must be in Gradio's upload folder;
- every refusal is the same sentence naming what the user typed, so a missing file, a file
  that is not a GGUF and a file outside the dir cannot be told apart (no existence oracle).

The size cap also holds in local mode: a typo must not start a 40 GB download.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendError
from backends.models import (
    SHIPPED_GGUFS,
    GGUFChoice,
    list_ggufs,
    resolve_gguf,
    resolve_hf_model,
    shipped_gguf_path,
)

log = logging.getLogger(__name__)

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_GGUF_NAME = re.compile(r"^[\w][\w.+ -]{0,200}\.gguf$", re.IGNORECASE)


class ModelRefused(BackendError):
    """A model or file a request may not use here. The message names only what was typed."""


def _shown(ref: str) -> str:
    ref = ref.strip().replace("\n", " ")
    return repr(ref if len(ref) <= 80 else ref[:77] + "...")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


@dataclass(frozen=True)
class ModelRefPolicy:
    public: bool
    data_dir: Path
    models_dir: Path
    offline: bool = False
    allow_hub: bool = True  # public mode: WB_ALLOW_HUB_DOWNLOADS; local mode: always
    hub_max_bytes: int = 8 << 30
    upload_dir: Path | None = None  # public mode: uploads must come from here
    trusted: frozenset[str] = frozenset()  # refs the operator configured (WB_LOCAL_MODEL): any form

    @classmethod
    def from_settings(cls, settings: Any) -> ModelRefPolicy:
        public = bool(getattr(settings, "is_public", False))
        upload = getattr(settings, "gradio_temp_dir", None)
        return cls(
            public=public,
            data_dir=Path(settings.data_dir),
            models_dir=Path(settings.models_dir),
            offline=bool(getattr(settings, "hf_hub_offline", False)),
            allow_hub=(not public) or bool(getattr(settings, "allow_hub_downloads", False)),
            hub_max_bytes=int(getattr(settings, "hub_max_download_mb", 8192)) << 20,
            upload_dir=Path(upload) if upload else Path(tempfile.gettempdir()) / "gradio",
            trusted=frozenset({str(settings.local_model)})
            if getattr(settings, "local_model", "")
            else frozenset(),
        )

    # ------------------------------------------------------------------ refusals
    def refused(self, ref: str) -> ModelRefused:
        """The one answer for anything not offered: missing, not a GGUF, a path, outside."""
        return ModelRefused(
            f"The model {_shown(ref)} is not available on this server. Pick one from the list."
        )

    def _no_hub(self, ref: str) -> ModelRefused:
        return ModelRefused(
            f"The model {_shown(ref)} would be downloaded from the Hugging Face Hub, which this server "
            "does not allow (WB_ALLOW_HUB_DOWNLOADS). Pick a model from the list."
        )

    # ------------------------------------------------------------------ GGUF
    def models_dir_ggufs(self) -> list[str]:
        """Names of the ``*.gguf`` files directly in the models dir that stay inside it."""
        if not self.models_dir.is_dir():
            return []
        return sorted(
            p.name for p in self.models_dir.glob("*.gguf") if p.is_file() and _inside(p, self.models_dir)
        )

    def offered_ggufs(self) -> list[GGUFChoice]:
        """What pickers and ``/v1/models`` list: ``list_ggufs`` less what public mode refuses."""
        choices = list_ggufs(self.models_dir)
        if not self.public:
            return choices
        allowed = set(self.models_dir_ggufs())
        return [c for c in choices if c.ref in allowed or c.ref in SHIPPED_GGUFS]

    def gguf(self, ref: str) -> Path:
        """The GGUF file for what a user typed (see the module docstring for the rules)."""
        ref = (ref or "").strip()
        if not ref:
            raise ModelRefused("Pick a model first.")
        if ref in self.trusted and not ref.startswith("hf:"):  # the operator's own setting (a path)
            return resolve_gguf(ref, data_dir=self.data_dir, models_dir=self.models_dir)
        if ref.startswith("hf:"):
            return self._hub_gguf(ref)
        if not self.public:
            return resolve_gguf(ref, data_dir=self.data_dir, models_dir=self.models_dir)
        shipped = SHIPPED_GGUFS.get(ref.lower())
        if shipped is not None:
            try:
                path = shipped_gguf_path(shipped, self.data_dir)
            except BackendError as exc:
                raise ModelRefused(
                    f"The model {_shown(ref)} is not installed on this server ({exc})."
                ) from None
            if path is None:
                raise ModelRefused(f"The model {_shown(ref)} is not installed on this server.")
            return path
        if not _GGUF_NAME.match(ref) or ".." in ref or ref not in self.models_dir_ggufs():
            log.info("public mode: refused model ref %r", ref[:200])
            raise self.refused(ref)
        return self.models_dir / ref

    def _hub_gguf(self, ref: str) -> Path:
        repo, _, filename = ref[3:].strip().rpartition("/")
        if repo.count("/") != 1 or not _HUB_ID.match(repo) or not _GGUF_NAME.match(filename):
            raise ModelRefused("Write a Hub model as hf:owner/repo/file.gguf.")
        from huggingface_hub import hf_hub_download

        try:  # already in the local cache: no download, no size question
            return Path(hf_hub_download(repo, filename, local_files_only=True))
        except Exception:
            pass
        if not self.allow_hub and ref not in self.trusted:  # the operator's own hf: setting may
            raise self._no_hub(ref)
        if self.offline:
            raise ModelRefused(
                f"Offline (HF_HUB_OFFLINE is set) and {repo}/{filename} is not in the local "
                "Hugging Face cache. Go online once, or download the .gguf into the models folder."
            )
        self._check_size(ref, self._hub_file_size(repo, filename))
        try:
            return Path(hf_hub_download(repo, filename))
        except Exception as exc:
            log.warning("hub download of %s failed: %s", ref, exc)
            raise ModelRefused(f"Could not download {_shown(ref)} from the Hugging Face Hub.") from None

    def _hub_file_size(self, repo: str, filename: str) -> int:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url

        try:
            size = get_hf_file_metadata(hf_hub_url(repo, filename)).size
        except Exception as exc:
            log.info("hub metadata of %s/%s: %s", repo, filename, exc)
            raise ModelRefused(f"{repo}/{filename} was not found on the Hugging Face Hub.") from None
        return int(size or 0)

    def _check_size(self, ref: str, size: int) -> None:
        if size <= 0 or size > self.hub_max_bytes:
            cap = self.hub_max_bytes >> 20
            raise ModelRefused(
                f"The model {_shown(ref)} is {size / 2**20:,.0f} MB, over this server's download cap "
                f"of {cap:,} MB (WB_HUB_MAX_DOWNLOAD_MB)."
                if size > 0
                else f"The size of {_shown(ref)} is unknown, so it is not downloaded."
            )

    # ------------------------------------------------------------------ transformers models
    def hf_model(self, ref: str, offered: Iterable[str] = ()) -> Path:
        """A transformers model folder for ``ref``: in public mode one of ``offered`` (what the
        server's own picker lists), or a Hub id when downloads are allowed (under the cap)."""
        ref = (ref or "").strip()
        if not ref:
            raise ModelRefused("Pick a model first.")
        if not self.public or ref in set(offered):
            return resolve_hf_model(ref, offline=self.offline)
        if not _HUB_ID.match(ref) or ".." in ref:
            log.info("public mode: refused model ref %r", ref[:200])
            raise self.refused(ref)
        from backends.models import _hf_cache

        cached = _hf_cache(ref)
        if cached is not None:
            return cached
        if not self.allow_hub:
            raise self._no_hub(ref)
        if self.offline:
            raise ModelRefused(
                f"Offline (HF_HUB_OFFLINE is set) and {_shown(ref)} is not in the local cache."
            )
        self._check_size(ref, self._hub_repo_size(ref))
        try:
            return resolve_hf_model(ref, offline=False)
        except BackendError:
            raise ModelRefused(f"Could not download {_shown(ref)} from the Hugging Face Hub.") from None

    def _hub_repo_size(self, repo: str) -> int:
        from huggingface_hub import HfApi

        try:
            info = HfApi().model_info(repo, files_metadata=True)
        except Exception as exc:
            log.info("hub metadata of %s: %s", repo, exc)
            raise ModelRefused(f"{_shown(repo)} was not found on the Hugging Face Hub.") from None
        return sum(int(s.size or 0) for s in info.siblings or [])

    # ------------------------------------------------------------------ uploaded files
    def user_file(self, path: Any, what: str = "file") -> Path:
        """A file a request hands in (an upload). Public mode: only from the upload folder;
        anything else gets the same answer as a missing file."""
        p = Path(path if isinstance(path, (str, os.PathLike)) else getattr(path, "name", "") or "")
        ok = p.name and p.is_file() and (not self.public or (self.upload_dir and _inside(p, self.upload_dir)))
        if not ok:
            if self.public:
                log.info("public mode: refused file %r", str(p)[:200])
            raise ModelRefused(f"The {what} could not be read. Upload it again.")
        return p
