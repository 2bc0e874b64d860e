"""Fine-tuning: encoders for the Pipelines tab (``jobs``, ``data``, ``train``, ``save``,
``metrics``, ``config``) and LoRA for chat models, exported as GGUF (``lora_*``).

The names below are the package's public API; the modules are its private parts (tests may
reach into them). Both job kinds run one at a time on :class:`FinetuneJobs`' worker.
Importing this package is cheap: torch, transformers and peft load inside the functions.
"""

from backends.finetune.config import SHIPPED_BASE, FinetuneConfig, TrainResult
from backends.finetune.data import DataError
from backends.finetune.jobs import FinetuneJobs, JobRequest, JobStatus, prepare
from backends.finetune.lora_base import LoraConfig
from backends.finetune.lora_jobs import LoraLab, LoraRequest

__all__ = [
    "SHIPPED_BASE",
    "DataError",
    "FinetuneConfig",
    "FinetuneJobs",
    "JobRequest",
    "JobStatus",
    "LoraConfig",
    "LoraLab",
    "LoraRequest",
    "TrainResult",
    "prepare",
]
