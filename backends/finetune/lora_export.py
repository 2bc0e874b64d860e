"""The model lab's exports: a finished LoRA job -> GGUF files in the models dir, Quantize for
any listed GGUF, and the perplexity / validation-loss table (mixed into ``LoraLab``)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from backends.finetune.data import DataError
from backends.finetune.jobs import NAME_RE
from backends.llama import export as gx
from backends.models import list_ggufs, resolve_gguf


class LabExports:
    """Needs ``data_dir``, ``models_dir``, ``out_dir`` (finished jobs) and ``threads``."""

    data_dir: Path
    models_dir: Path
    out_dir: Path
    threads: int
    _export_lock: threading.Lock

    def job_dir(self, name: str) -> Path:
        if not NAME_RE.match(name or "") or not (self.out_dir / name / "lora.json").is_file():
            raise DataError(f"No finished LoRA job named {name!r}: pick one from the list.")
        return self.out_dir / name

    def export(self, name: str, kinds: list[str], *, keep_f16: bool = True) -> list[gx.Written]:
        """The job's merged model -> ``<name>-f16.gguf`` (+ ``<name>-<kind>.gguf`` per kind)."""
        folder = self.job_dir(name)
        bad = [k for k in kinds if k not in gx.QUANT_TYPES]
        if bad:
            raise DataError(f"Unknown quantization {', '.join(bad)}: use {', '.join(gx.QUANT_TYPES)}.")
        card = json.loads((folder / "lora.json").read_text(encoding="utf-8"))
        with self._export_lock:
            f16 = self.models_dir / f"{name}-f16.gguf"
            out = [gx.convert_to_gguf(folder / "merged", f16)]
            try:
                for k in kinds:
                    out.append(
                        gx.quantize(
                            f16, self.models_dir / f"{name}-{k.lower()}.gguf", k, threads=self.threads
                        )
                    )
            finally:
                if not keep_f16:
                    f16.unlink(missing_ok=True)
            for w in out:
                if w.path.exists():
                    gx.write_card(w.path, {**card, "gguf_type": w.kind, "size_bytes": w.size})
        return [w for w in out if w.path.exists()]

    def export_advice(self, name: str, kinds: list[str]) -> str:
        """A warning when a 4-bit export would undo the job: re-quantizing a model merged from a
        quantized GGUF base to a type at or below the base's own puts most weights back on the
        base's grid (measured on the FlightAI run: Q5_0 tensors kept 10-19 % of the LoRA change,
        and the Q4_K_M export scored like an untuned model; Q8_0 kept all of it)."""
        low = [k for k in kinds if k.startswith("Q4")]
        if not low or not NAME_RE.match(name or ""):
            return ""
        try:
            card = json.loads((self.out_dir / name / "lora.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return ""
        base = Path(card.get("base_gguf") or "")
        if not base.suffix == ".gguf" or not base.is_file():
            return ""
        base_type = gx.describe(base)["type"]
        if base_type in {"F16", "F32", "BF16"}:
            return ""
        return (
            f"Warning: this job's base is a {base_type} GGUF, so {', '.join(low)} puts most weights back "
            "on the base's own grid and can erase what the LoRA learned (measured: a Q4_K_M export of a "
            "LoRA on the Q4_K_M Qwen scored like the untuned model). Check it, or use Q8_0."
        )

    def ggufs(self) -> list[tuple[str, str]]:
        return [(c.label, c.ref) for c in list_ggufs(self.models_dir)]

    def listed(self, ref: str) -> Path:
        """A GGUF from the pickers' list only (so a visitor's text never becomes a path)."""
        if ref not in {r for _, r in self.ggufs()}:
            raise DataError(
                f"{ref!r} is not in the model list: put the .gguf into the models folder and press Refresh."
            )
        return resolve_gguf(ref, data_dir=self.data_dir, models_dir=self.models_dir)

    def quantize(self, src: Path, kinds: list[str]) -> list[gx.Written]:
        stem = src.stem.removesuffix("-f16").removesuffix("-F16").removesuffix("-f32")
        with self._export_lock:
            return [
                gx.quantize(src, self.models_dir / f"{stem}-{k.lower()}.gguf", k, threads=self.threads)
                for k in kinds
            ]

    def score(
        self, ggufs: list[Path], *, job: str = "", text: str = "", n_ctx: int = 512
    ) -> list[dict[str, Any]]:
        """One row per GGUF: type, size, perplexity on ``text``, validation loss of ``job``'s data."""
        dev = None
        if job:
            dev = json.loads((self.job_dir(job) / "dev_tokens.json").read_text(encoding="utf-8"))
        if not text.strip() and dev is None:
            raise DataError(
                "Give a text file for perplexity, or pick a finished job for its validation loss."
            )
        rows = []
        for path in ggufs:
            row = gx.describe(path)
            speeds = []
            if text.strip():
                sc = gx.score_rows(
                    path, gx.text_rows(path, text, n_ctx=n_ctx), n_ctx=n_ctx, threads=self.threads
                )
                row["text perplexity"] = round(sc.perplexity, 3)
                speeds.append(sc.tokens_per_s)
            if dev is not None:
                sc = gx.score_rows(
                    path, dev, n_ctx=max(n_ctx, max(len(r["input_ids"]) for r in dev)), threads=self.threads
                )
                row["validation loss"] = round(sc.nll, 4)
                speeds.append(sc.tokens_per_s)
            row["tokens/s (prompt)"] = round(sum(speeds) / len(speeds), 1)
            rows.append(row)
        return rows
