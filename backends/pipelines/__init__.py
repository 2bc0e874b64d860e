"""Classic NLP tasks (sentiment, entities, translation, ...) on pluggable backends.

``tasks`` is the one table of the tasks (names, aliases, titles, examples, output kinds,
default models per backend kind) and the picker catalog built from what backends register.

``hf`` + ``hf_models`` (transformers), ``spacy_ner``, ``llm_tasks`` (the shipped GGUF as a
task engine), ``tokenizers`` (the Under-the-hood explorer), ``entity_spans`` (whole-word
entities, shared by every NER backend and the guardrails), ``onnx_encoders`` (int8 copies).
The names below are the public API; the modules are private parts (tests may reach in).
"""

from backends.pipelines.hf import REPO_WEIGHTS, discover_trained, make_hf_task
from backends.pipelines.tasks import TASKS, TaskChoice, TaskSpec, UnknownTask, canonical, task_choices
from backends.pipelines.tokenizers import SAMPLE_CONVERSATION, explore_tokenizer, tokenizer_sources

__all__ = [
    "REPO_WEIGHTS",
    "SAMPLE_CONVERSATION",
    "TASKS",
    "TaskChoice",
    "TaskSpec",
    "UnknownTask",
    "canonical",
    "discover_trained",
    "explore_tokenizer",
    "make_hf_task",
    "task_choices",
    "tokenizer_sources",
]
