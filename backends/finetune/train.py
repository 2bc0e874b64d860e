"""Fine-tune an encoder with the Hugging Face Trainer on CPU and save it for the Pipelines tab.

The saved folder holds the standard files (config.json with id2label/label2id, tokenizer,
model.safetensors in fp16), a README.md model card and ``workbench.json``
(task, base_model, metrics, created). Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from backends.finetune.config import FinetuneConfig, Progress, TrainResult, resolve_base
from backends.finetune.data import LabelledData
from backends.finetune.metrics import classification_report, ner_report
from backends.finetune.save import save

log = logging.getLogger(__name__)


def _encode(data: LabelledData, tokenizer: Any, label2id: dict[str, int], max_length: int) -> list[dict]:
    if data.task == "classification":
        enc = tokenizer(list(data.texts), truncation=True, max_length=max_length)
        return [
            {k: enc[k][i] for k in enc.keys()} | {"labels": label2id[data.labels[i]]}
            for i in range(len(data))
        ]
    enc = tokenizer(list(data.texts), is_split_into_words=True, truncation=True, max_length=max_length)
    rows = []
    for i, tags in enumerate(data.labels):
        prev, labels = None, []
        for w in enc.word_ids(i):
            labels.append(-100 if w is None or w == prev else label2id[tags[w]])
            prev = w
        rows.append({k: enc[k][i] for k in enc.keys()} | {"labels": labels})
    return rows


def _callback(
    progress: Progress,
    on_progress: Callable[[Progress], None] | None,
    stop: threading.Event,
    deadline: float | None,
):
    from transformers import TrainerCallback

    class _Cb(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001, ANN003
            progress.step, progress.total, progress.epoch = (
                state.global_step,
                state.max_steps,
                state.epoch or 0.0,
            )
            if on_progress:
                on_progress(progress)
            if stop.is_set():
                control.should_training_stop = True
                control.should_evaluate = False
            elif deadline is not None and time.time() > deadline and state.global_step < state.max_steps:
                progress.message = f"time budget reached at step {state.global_step}/{state.max_steps}"
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001, ANN003
            logs = logs or {}
            for key in ("loss", "eval_loss"):
                if key in logs:
                    progress.history.append({"step": state.global_step, key: float(logs[key])})
            if on_progress:
                on_progress(progress)

    return _Cb()


def _deadline_trainer(base: type, deadline: float) -> type:
    """A Trainer whose linear decay also follows the clock: the learning rate reaches zero at
    the end of the planned steps or at ``deadline``, whichever comes first (shared CPUs)."""
    from torch.optim.lr_scheduler import LambdaLR

    class DeadlineTrainer(base):  # type: ignore[misc, valid-type]
        def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
            if self.lr_scheduler is None:
                warm = self.args.get_warmup_steps(num_training_steps)
                start = time.time()
                budget = max(1.0, deadline - start)

                def factor(step: int) -> float:
                    ramp = min(1.0, (step + 1) / max(1, warm))
                    by_steps = (num_training_steps - step) / max(1, num_training_steps - warm)
                    by_time = (deadline - time.time()) / budget
                    return max(0.0, ramp * min(1.0, by_steps, by_time))

                self.lr_scheduler = LambdaLR(optimizer or self.optimizer, factor)
            return self.lr_scheduler

    return DeadlineTrainer


def train(
    config: FinetuneConfig,
    train_data: LabelledData,
    dev_data: LabelledData,
    output_dir: Path,
    *,
    offline: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
    stop: threading.Event | None = None,
    data_note: str = "",
) -> TrainResult:
    """Train, evaluate on ``dev_data`` and save into ``output_dir`` (unless cancelled)."""
    import numpy as np
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    stop = stop or threading.Event()
    started = time.monotonic()
    torch.set_num_threads(max(1, config.threads))
    set_seed(config.seed)
    base = resolve_base(config.base_model, offline)
    names = train_data.label_names()
    label2id = {n: i for i, n in enumerate(names)}
    id2label = dict(enumerate(names))
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    auto = AutoModelForTokenClassification if config.task == "ner" else AutoModelForSequenceClassification
    model = auto.from_pretrained(str(base), num_labels=len(names), id2label=id2label, label2id=label2id)
    if config.freeze_encoder or config.freeze_embeddings:
        body = getattr(model, model.base_model_prefix)
        frozen = body if config.freeze_encoder else body.embeddings.word_embeddings
        for name, p in frozen.named_parameters():
            # BERT's pooler feeds the classifier: with a frozen encoder it trains as part of the head
            p.requires_grad = name.startswith("pooler.")
    train_rows = _encode(train_data, tokenizer, label2id, config.max_length)
    if config.teacher and config.task == "classification":
        from backends.finetune import distill

        logits = distill.teacher_logits(
            Path(config.teacher),
            train_data.texts,
            names,
            config.max_length,
            on_progress=distill.timed("distill"),
        )
        distill.attach_teacher(train_rows, logits)
    dev_rows = _encode(dev_data, tokenizer, label2id, config.max_length)
    rng = np.random.default_rng(config.seed)
    sample = (
        dev_rows
        if len(dev_rows) <= config.eval_sample
        else [dev_rows[i] for i in sorted(rng.choice(len(dev_rows), config.eval_sample, replace=False))]
    )
    steps = math.ceil(len(train_rows) / config.batch_size) * config.epochs
    if config.max_steps > 0:
        steps = min(steps, config.max_steps)
    steps = max(1, math.ceil(steps))
    eval_every = max(1, steps // max(1, config.eval_points))
    collator = (
        DataCollatorForTokenClassification(tokenizer)
        if config.task == "ner"
        else DataCollatorWithPadding(tokenizer)
    )
    progress = Progress(total=steps, message="training")
    with tempfile.TemporaryDirectory(prefix="wb-finetune-") as tmp:
        args = TrainingArguments(
            output_dir=tmp,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=max(32, config.batch_size),
            num_train_epochs=config.epochs,
            max_steps=config.max_steps,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup if config.warmup < 1 else int(config.warmup),
            weight_decay=config.weight_decay,
            label_smoothing_factor=config.label_smoothing if config.task != "ner" else 0.0,
            eval_strategy="steps" if config.eval_points > 0 else "no",
            eval_steps=eval_every,
            logging_steps=max(1, min(eval_every, steps // 50 or 1)),
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            use_cpu=True,
            seed=config.seed,
            dataloader_num_workers=0,
            train_sampling_strategy="group_by_length",
            remove_unused_columns=False,  # rows are dicts; teacher_logits must reach the loss
        )
        trainer_cls: type = Trainer
        if config.teacher and config.task == "classification":
            from backends.finetune.distill import distill_trainer

            trainer_cls = distill_trainer(Trainer, config.distill_alpha, config.distill_temperature)
        if config.deadline:
            trainer_cls = _deadline_trainer(trainer_cls, config.deadline)
        trainer = trainer_cls(
            model=model,
            args=args,
            train_dataset=train_rows,
            eval_dataset=sample,
            data_collator=collator,
            callbacks=[_callback(progress, on_progress, stop, config.deadline)],
        )
        trainer.train()
        if stop.is_set():
            return TrainResult(
                str(output_dir), {}, [], None, progress.history, True, time.monotonic() - started
            )
        progress.message = "evaluating"
        if on_progress:
            on_progress(progress)
        pred = trainer.predict(dev_rows)
    if config.task == "ner":
        metrics, table, confusion = ner_report(pred.predictions, pred.label_ids, id2label)
    else:
        metrics, table, confusion = classification_report(pred.predictions, pred.label_ids, id2label)
    metrics["eval_examples"] = len(dev_rows)
    metrics["train_examples"] = len(train_rows)
    metrics["train_seconds"] = round(time.monotonic() - started, 1)
    metrics["steps"] = f"{progress.step}/{steps}"
    history = progress.history + [{"step": steps, "eval_loss": float(pred.metrics.get("test_loss", 0.0))}]
    result = TrainResult(
        str(output_dir), metrics, table, confusion, history, False, time.monotonic() - started
    )
    save(model, tokenizer, output_dir, config, result, train_data, data_note)
    return result
