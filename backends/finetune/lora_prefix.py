"""Shared-prefix caching for LoRA on CPU.

Chat data for one assistant usually starts with the same tokens: the system prompt and, with
tools, their JSON schemas (for the FlightAI data ~85 % of every conversation). Running that
prefix forward *and* backward in every step is most of the cost. Here the prefix's key/value
cache is computed without gradients and reused; only the rest of each conversation runs with
gradients. The loss is unchanged where it is computed (the prefix carries no labels: it ends
before the first assistant token), the LoRA weights just get no gradient through the prefix's
keys and values. The cache is recomputed every ``refresh`` steps so it follows the adapter
(``refresh=1``: always current). Validation uses a fresh cache, so its loss is exact.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

IGNORE = -100
MIN_PREFIX = 32  # shorter shared prefixes are not worth a cache


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def find_prefix(rows: Sequence[dict[str, list[int]]]) -> tuple[list[int], set[int]]:
    """(prefix ids, indexes of the rows that start with it) for the largest group of rows
    sharing their first tokens; the prefix stops before any labelled token."""
    if not rows:
        return [], set()
    key = Counter(tuple(r["input_ids"][:MIN_PREFIX]) for r in rows).most_common(1)[0][0]
    group = [i for i, r in enumerate(rows) if tuple(r["input_ids"][:MIN_PREFIX]) == key]
    ref = rows[group[0]]["input_ids"]
    n = len(ref)
    for i in group:
        r = rows[i]
        first_label = next((j for j, lab in enumerate(r["labels"]) if lab != IGNORE), len(r["labels"]))
        # label j is predicted from position j-1: keep both outside the prefix
        n = min(n, _lcp(ref, r["input_ids"]), first_label - 1, len(r["input_ids"]) - 2)
    if n < MIN_PREFIX:
        return [], set()
    return list(ref[:n]), set(group)


@dataclass
class PrefixCache:
    """The no-grad KV cache of a shared prefix, refreshed every ``refresh`` uses."""

    ids: list[int]
    rows: set[int]
    refresh: int = 8
    _cache: Any = None
    _uses: int = 0
    stats: dict[str, int] = field(default_factory=lambda: {"cached_tokens": 0, "refreshes": 0})

    def __bool__(self) -> bool:
        return bool(self.ids)

    def compute(self, model: Any) -> None:
        import torch

        was_training = model.training
        model.eval()
        with torch.no_grad():
            out = model(input_ids=torch.tensor([self.ids]), use_cache=True)
        model.train(was_training)
        self._cache, self._uses = out.past_key_values, 0
        self.stats["refreshes"] += 1

    def forward(self, model: Any, row: dict[str, list[int]], *, fresh: bool = False) -> Any:
        """The model's output (with ``.loss``) for one row, using the cached prefix."""
        import torch

        if self._cache is None or fresh or self._uses >= self.refresh:
            self.compute(model)
        self._uses += 1
        n = len(self.ids)
        self.stats["cached_tokens"] += n
        return model(
            input_ids=torch.tensor([row["input_ids"][n:]]),
            labels=torch.tensor([row["labels"][n:]]),
            past_key_values=copy.deepcopy(self._cache),
            use_cache=True,
        )

    def loss_tokens(self, row: dict[str, list[int]]) -> int:
        """Labelled tokens the cached forward scores (the same as a full forward)."""
        return sum(x != IGNORE for x in row["labels"][len(self.ids) + 1 :])
