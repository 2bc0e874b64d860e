"""Write a fine-tuned model folder: HF files (fp16 weights, config loading as float32),
tokenizer, ``workbench.json`` (task, base_model, metrics, created) and a README.md model card."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from backends.finetune.config import FinetuneConfig, TrainResult
from backends.finetune.data import LabelledData

log = logging.getLogger(__name__)

WORKBENCH_TASK = {"classification": "sentiment", "ner": "ner"}


def save(
    model: Any,
    tokenizer: Any,
    output_dir: Path,
    config: FinetuneConfig,
    result: TrainResult,
    train_data: LabelledData,
    data_note: str,
) -> None:
    import torch

    output_dir.mkdir(parents=True, exist_ok=True)
    model.to(torch.float16)
    model.save_pretrained(str(output_dir))
    tokenizer.save_pretrained(str(output_dir))
    load_as_float32(output_dir)
    info = {
        "task": WORKBENCH_TASK.get(config.task, config.task),
        "base_model": config.base_model,
        "metrics": result.metrics,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "labels": list(model.config.id2label.values()),
        "settings": asdict(config),
        "data": data_note or train_data.source,
    }
    (output_dir / "workbench.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    (output_dir / "README.md").write_text(model_card(info, result), encoding="utf-8")
    log.info("saved %s (%s)", output_dir, result.metrics)


def load_as_float32(folder: Path) -> None:
    """Weights stay fp16 on disk (half the size); config says float32 so CPU inference with
    ``from_pretrained`` (dtype "auto") upcasts instead of running slow, lossy fp16 matmuls."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["dtype"] = "float32"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def model_card(info: dict[str, Any], result: TrainResult) -> str:
    s = info["settings"]
    rows = "\n".join(
        f"| {r['label']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
        for r in result.table
    )
    metrics = "\n".join(f"- {k}: {v}" for k, v in info["metrics"].items())
    shown = (
        {**s, "deadline": datetime.fromtimestamp(s["deadline"], UTC).isoformat()} if s.get("deadline") else s
    )
    settings = "\n".join(f"- {k}: {v}" for k, v in shown.items())
    return f"""---
library_name: transformers
pipeline_tag: {"token-classification" if s["task"] == "ner" else "text-classification"}
base_model: {info["base_model"].removesuffix(" (shipped)")}
---
# {Path(result.output_dir).name}

Fine-tuned by LLM Workbench on {info["created"]}.

- Task: {info["task"]} (labels: {", ".join(info["labels"])})
- Base model: {info["base_model"]}
- Training data: {info["data"]}
- Weights: fp16 safetensors

## Metrics (held-out validation split)

{metrics}

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{rows}

## Settings

{settings}
"""
