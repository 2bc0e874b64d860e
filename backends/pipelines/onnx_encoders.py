"""int8 ONNX copies of the small encoders (the MiniLM embedder, the fine-tuned classifiers).

``prepare.py`` exports each model once (``torch.onnx.export`` in fp32, then ONNX Runtime's
dynamic int8 quantization of the weights, per channel) into ``<data_dir>/onnx/<name>/``, with
a ``source.json`` that records a hash of the weights it came from. At run time
:func:`find_int8` returns the int8 file only when that hash still matches the source folder, so
retrained weights are never served through a stale export (the app falls back to PyTorch fp32
and says so in the log until ``prepare.py`` runs again).

Why not optimum / sentence-transformers' ``export_dynamic_quantized_onnx_model``: they need
``optimum-onnx``, whose only release pins ``transformers<4.58`` (the app pins 5.23). The two
steps they wrap (export, ``quantize_dynamic``) are used here directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification
KINDS = ("embedder", "sequence", "token")
# The int8 recipe; a change re-exports (source.json records it). Only MatMul weights are
# quantized (per output channel): quantizing the embedding tables (Gather) too cost the
# embedder 0.015 MRR on knowledge-base-eval, MatMul-only lost nothing there (BENCHMARKS.md).
RECIPE = {"weight_type": "QInt8", "per_channel": True, "op_types": ["MatMul"]}
INT8_FILE = "model_int8.onnx"
FP32_FILE = "model.onnx"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def fingerprint(src: Path) -> str:
    """sha256 of the weights file (the config and tokenizer do not change the graph's math)."""
    for name in WEIGHT_FILES:
        if (src / name).is_file():
            h = hashlib.sha256()
            with open(src / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            return h.hexdigest()
    raise FileNotFoundError(f"no {' or '.join(WEIGHT_FILES)} in {src}")


def mean_pooled(src: Path) -> bool:
    """True for a sentence-transformers folder whose only pooling is the token mean (what
    :class:`OnnxEmbedder` implements), like all-MiniLM-L6-v2."""
    try:
        modules = json.loads((src / "modules.json").read_text())
        pooling = next(m["path"] for m in modules if m.get("type", "").endswith("Pooling"))
        cfg = json.loads((src / pooling / "config.json").read_text())
    except (OSError, ValueError, StopIteration, KeyError):
        return False
    modes = {k for k, v in cfg.items() if k.startswith("pooling_mode") and v is True}
    return modes == {"pooling_mode_mean_tokens"} and len(modules) <= 3  # Transformer, Pooling, Normalize


def export_dir(data_dir: Path, src: Path) -> Path:
    src = src.resolve()  # parent too: the shipped embedder's folder is just "model"
    slug = re.sub(r"[^a-z0-9]+", "-", f"{src.parent.name}-{src.name}".lower()).strip("-") or "model"
    return data_dir / "onnx" / slug


def find_int8(data_dir: Path, src: Path) -> Path | None:
    """The int8 export of ``src`` made by :func:`export`, or None when missing or stale."""
    out = export_dir(data_dir, src)
    try:
        meta = json.loads((out / "source.json").read_text())
        fresh = (
            (out / INT8_FILE).is_file()
            and meta.get("recipe") == RECIPE
            and meta.get("fingerprint") == fingerprint(src)
        )
    except (OSError, ValueError):
        return None
    if not fresh:
        log.warning("int8 export in %s is missing or stale for %s: run prepare.py", out, src)
    return out / INT8_FILE if fresh else None


def export(src: Path, data_dir: Path, kind: str) -> Path:
    """Export ``src`` (a transformers folder) to fp32 ONNX and int8; nothing to do when the
    export is fresh. Returns the int8 file."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    if kind == "embedder" and not mean_pooled(src):
        raise ValueError(f"{src}: only mean-pooled sentence-transformers models have an int8 path")
    if (done := find_int8(data_dir, src)) is not None:
        return done
    import torch
    import transformers
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out = export_dir(data_dir, src)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    auto = {"embedder": "AutoModel", "sequence": "AutoModelForSequenceClassification",
            "token": "AutoModelForTokenClassification"}[kind]  # fmt: skip
    model = getattr(transformers, auto).from_pretrained(str(src), dtype=torch.float32).eval()
    tok = transformers.AutoTokenizer.from_pretrained(str(src))
    enc = tok(["an example input", "a second, longer example input"], return_tensors="pt", padding=True)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    output = "last_hidden_state" if kind == "embedder" else "logits"

    class Wrapped(torch.nn.Module):  # positional inputs, one named output
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *args: Any) -> Any:
            return self.model(**dict(zip(names, args, strict=True)))[0]

    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, output]}
    with torch.no_grad():
        args = tuple(enc[n] for n in names)
        torch.onnx.export(Wrapped(), args, str(tmp / FP32_FILE), input_names=names, output_names=[output],
                          dynamic_axes=axes, opset_version=17, dynamo=False)  # fmt: skip
    quantize_dynamic(tmp / FP32_FILE, tmp / INT8_FILE, weight_type=getattr(QuantType, RECIPE["weight_type"]),
                     per_channel=RECIPE["per_channel"], op_types_to_quantize=RECIPE["op_types"])  # fmt: skip
    (tmp / FP32_FILE).unlink()  # the fp32 path is PyTorch; only the int8 graph is kept
    meta = {"source": str(src), "kind": kind, "recipe": RECIPE, "fingerprint": fingerprint(src)}
    (tmp / "source.json").write_text(json.dumps(meta))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log.info("exported %s -> %s", src, out / INT8_FILE)
    return out / INT8_FILE


THREADS: int | None = None  # ONNX Runtime's intra-op threads (None: its default, the cores)


def session(path: Path, threads: int | None = None) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    threads = threads or THREADS
    if threads:
        opts.intra_op_num_threads = threads
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class Output(dict):
    """``out.logits`` and ``out["logits"]``, like transformers' ModelOutput."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class OrtModel:
    """An int8 ONNX encoder that answers like a transformers model where the classifiers use
    it: ``model(**encoding).logits`` (torch tensors in and out), ``.config``, ``.eval()``."""

    def __init__(self, path: Path, config: Any) -> None:
        self.path = path
        self.config = config
        self._session = session(path)
        self._inputs = [i.name for i in self._session.get_inputs()]

    def eval(self) -> OrtModel:
        return self

    # what transformers' pipeline() asks of a model (token classification uses one)
    input_modalities = ("text",)

    @property
    def device(self) -> Any:
        import torch

        return torch.device("cpu")

    def to(self, *_: Any, **__: Any) -> OrtModel:
        return self

    def can_generate(self) -> bool:
        return False

    def __call__(self, **enc: Any) -> Output:
        import torch

        feeds = {n: enc[n].numpy() for n in self._inputs if n in enc}
        (logits,) = self._session.run(None, feeds)
        return Output(logits=torch.from_numpy(logits))


def ort_model(path: Path, config: Any) -> OrtModel:
    """An :class:`OrtModel` whose class name is the model's architecture (e.g.
    ``BertForTokenClassification``): transformers' pipelines check that name and log an error
    for any other, although the ONNX graph is that very model."""
    arch = str((getattr(config, "architectures", None) or ["OrtModel"])[0])
    return type(arch, (OrtModel,), {})(path, config)


class OnnxEmbedder:
    """An :class:`~backends.base.Embedder` on the int8 export of a sentence-transformers folder:
    the folder's tokenizer and max length, mean pooling and L2 normalization (what the
    all-MiniLM-L6-v2 pipeline does), no torch. Loads on first use, once, behind a lock."""

    # One text per run by default: no padding (knowledge-base chunks vary in length, and a batch
    # is padded to its longest), and each vector independent of what it was batched with (the
    # int8 model quantizes activations per run), i.e. documents embedded exactly like queries.
    # BENCHMARKS.md "int8 embedder": 1 vs 8 vs 64 on ingest speed and MRR.
    def __init__(self, path: Path, onnx_file: Path, model_id: str, batch_size: int = 1) -> None:
        self.path = path
        self.onnx_file = onnx_file
        self.model_id = model_id
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, int] | None = None

    def _load(self) -> tuple[Any, Any, int]:
        with self._lock:
            if self._loaded is None:
                from tokenizers import Tokenizer

                cfg = self.path / "sentence_bert_config.json"
                max_len = json.loads(cfg.read_text()).get("max_seq_length", 256) if cfg.is_file() else 256
                tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
                tok.enable_truncation(max_length=int(max_len))
                tok.no_padding()
                self._loaded = (tok, session(self.onnx_file), int(max_len))
                log.info("loaded int8 embedder %s", self.onnx_file)
            return self._loaded

    @property
    def dimension(self) -> int:
        return len(self.embed(["dimension"])[0])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        import numpy as np

        tok, sess, _ = self._load()
        names = {i.name for i in sess.get_inputs()}
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # less padding per batch
        out: list[Any] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            encs = tok.encode_batch([texts[i] for i in idx])
            width = max(len(e.ids) for e in encs)
            arrays = {
                name: np.array([getattr(e, attr) + [0] * (width - len(e.ids)) for e in encs], dtype=np.int64)
                for name, attr in (("input_ids", "ids"), ("token_type_ids", "type_ids"),
                                   ("attention_mask", "attention_mask"))
            }  # fmt: skip
            (hidden,) = sess.run(None, {k: v for k, v in arrays.items() if k in names})
            mask = arrays["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            for row, i in zip(pooled, idx, strict=True):
                out[i] = row.tolist()
        return out
