"""The pipeline tasks, in one table (in the spirit of transformers' ``SUPPORTED_TASKS``).

Each :class:`TaskSpec` says what a task is called (its name is the tab's ``api_name`` and the
registry kind ``task:<name>``; aliases are the transformers pipeline names), how it is shown
(title, example inputs, output kind) and its default model per backend kind. Everything else
reads this table: the backends register for the tasks that name their kind, the Pipelines tab
builds one sub-tab per entry, ``Deps.task`` resolves aliases with :func:`canonical`.

Which backends can serve a task on this machine, best first, is :func:`task_choices`: the
picker entries every backend registered for ``task:<name>`` offers (``registry.choices``), so a
new backend module appears in the picker without an edit anywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backends import registry
from backends.models import QWEN, SPACY_MODEL

if TYPE_CHECKING:
    from settings import Settings

OUTPUTS = ("labels", "entities", "text")
LANGUAGES = {"de": "German", "fr": "French", "es": "Spanish", "it": "Italian"}


@dataclass(frozen=True)
class TaskSpec:
    name: str  # api_name of the tab's event, registry kind "task:<name>"
    title: str  # the sub-tab's title
    output: str  # one of OUTPUTS: what a TaskResult of this task carries
    defaults: Mapping[str, str]  # backend kind -> default model ("hf": Hub id(s), "llm": GGUF name, ...)
    examples: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # transformers' pipeline names, accepted wherever a task name is
    tool: str = ""  # its description as an MCP tool (api/mcp.py); empty: not an MCP tool

    @property
    def kind(self) -> str:
        return f"task:{self.name}"


TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec(
            "sentiment",
            "Sentiment",
            "labels",
            {"hf": "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "llm": QWEN.name},
            (
                "I loved this film: warm, funny and beautifully shot.",
                "A dull, lifeless script and wooden acting.",
            ),
            ("sentiment-analysis", "text-classification"),
            "Classify the sentiment of English text as positive or negative. "
            "Returns each label with its probability.",
        ),
        TaskSpec(
            "ner",
            "Named entities",
            "entities",
            {"hf": "dslim/bert-base-NER", "spacy": SPACY_MODEL, "llm": QWEN.name},
            (
                "Angela Merkel met Tim Cook at Apple's offices in Cupertino last Tuesday.",
                "The European Union fined Google in Brussels.",
            ),
            ("token-classification",),
            "Find named entities (people, organisations, locations, misc.) in English text. "
            "Returns each entity with its label and character offsets.",
        ),
        TaskSpec(
            "translate",
            "Translation",
            "text",
            {"hf": "de=Helsinki-NLP/opus-mt-en-de,fr=Helsinki-NLP/opus-mt-en-fr", "llm": QWEN.name},
            (
                "The weather is nice today. Let's go for a walk in the park.",
                "Where is the train station?",
            ),
            ("translation",),
            "Translate English text into the chosen target language. Returns the translation.",
        ),
        TaskSpec(
            "summarize",
            "Summarization",
            "text",
            {"hf": "sshleifer/distilbart-cnn-12-6", "llm": QWEN.name},
            (
                "The city council met on Monday to discuss the new park. After three hours of debate, "
                "members voted to approve the plan, which adds a playground, a pond and 200 trees by "
                "next summer.",
            ),
            ("summarization",),
            "Summarize English text in a few sentences. Returns the summary.",
        ),
        TaskSpec(
            "qa",
            "Question answering",
            "text",
            {"hf": "distilbert/distilbert-base-cased-distilled-squad", "llm": QWEN.name},
            ("Who wrote the report?",),
            ("question-answering",),
            "Answer a question from a context passage you give (extractive question answering). "
            "Returns the answer text.",
        ),
        TaskSpec(
            "zero_shot",
            "Zero-shot",
            "labels",
            {"hf": "facebook/bart-large-mnli", "llm": QWEN.name},
            ("The striker scored twice in the cup final.",),
            ("zero-shot-classification",),
            "Classify English text into candidate labels you give (comma-separated), with no "
            "training. Returns each label with its score.",
        ),
        TaskSpec(
            "fill_mask",
            "Fill-mask",
            "labels",
            {"hf": "distilbert/distilroberta-base"},
            ("Paris is the [MASK] of France.",),
            ("fill-mask",),
        ),
    )
}


class UnknownTask(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def canonical(task: str) -> str:
    """The table's name for ``task`` or one of its aliases ("summarization" -> "summarize")."""
    key = task.strip().lower().replace(" ", "-")
    for spec in TASKS.values():
        if key in (spec.name, spec.name.replace("_", "-"), *spec.aliases):
            return spec.name
    raise UnknownTask(f"unknown task {task!r}; valid tasks: {', '.join(TASKS)}")


def tasks_for(kind: str) -> list[str]:
    """The tasks whose table entry names a default model for backend ``kind`` ("hf", "llm")."""
    return [name for name, spec in TASKS.items() if kind in spec.defaults]


@dataclass(frozen=True)
class TaskChoice:
    """One entry of a task's model picker. ``key`` is what the UI sends back."""

    key: str
    label: str
    backend: str  # registry name under kind "task:<task>": hf | spacy | llm | ...
    ref: str | None
    available: bool
    reason: str = ""
    targets: tuple[str, ...] = ()  # translation: target languages
    note: str = ""  # shown next to the output: what to expect from this model
    rank: int = 50  # picker order, lower first: fine-tuned here 0, local library models 10-40, downloads 90


def task_choices(settings: Settings, task: str) -> list[TaskChoice]:
    """Every backend that could serve ``task``, best quality first, with why not if not."""
    spec = TASKS[canonical(task)]
    entries = registry.choices(spec.kind, settings)
    return sorted(entries, key=lambda c: c.rank)  # stable: a backend's own order is kept
