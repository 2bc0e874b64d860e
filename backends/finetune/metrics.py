"""Metrics of a fine-tuned model on its validation split: accuracy/F1, per-label table,
confusion matrix (classification); seqeval entity F1 and per-type table (token classification)."""

from __future__ import annotations

from typing import Any


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def classification_report(logits: Any, gold: Any, id2label: dict[int, str]) -> tuple[dict, list, dict]:
    import numpy as np

    pred = np.asarray(logits).argmax(-1)
    gold = np.asarray(gold)
    n = len(id2label)
    matrix = np.zeros((n, n), dtype=int)
    for g, p in zip(gold, pred, strict=True):
        matrix[int(g), int(p)] += 1
    table = []
    for i in range(n):
        tp = int(matrix[i, i])
        p, r, f = _prf(tp, int(matrix[:, i].sum()) - tp, int(matrix[i, :].sum()) - tp)
        table.append(
            {"label": id2label[i], "precision": p, "recall": r, "f1": f, "support": int(matrix[i].sum())}
        )
    metrics = {
        "accuracy": round(float((pred == gold).mean()) if len(gold) else 0.0, 4),
        "macro_f1": round(sum(r["f1"] for r in table) / n, 4),
    }
    labels = [id2label[i] for i in range(n)]
    return metrics, table, {"labels": labels, "matrix": matrix.tolist()}


def decode_tags(logits: Any, gold: Any, id2label: dict[int, str]) -> tuple[list[list[str]], list[list[str]]]:
    """Tag sequences at the positions that carry a label (first sub-token of each word)."""
    import numpy as np

    pred = np.asarray(logits).argmax(-1)
    gold = np.asarray(gold)
    y_true, y_pred = [], []
    for p_row, g_row in zip(pred, gold, strict=True):
        keep = g_row != -100
        y_true.append([id2label[int(x)] for x in g_row[keep]])
        y_pred.append([id2label[int(x)] for x in p_row[keep]])
    return y_true, y_pred


def ner_report(logits: Any, gold: Any, id2label: dict[int, str]) -> tuple[dict, list, None]:
    from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
    from seqeval.metrics import classification_report as seq_report
    from seqeval.scheme import IOB2

    y_true, y_pred = decode_tags(logits, gold, id2label)
    kw = {"mode": "strict", "scheme": IOB2}
    metrics = {
        "f1": round(float(f1_score(y_true, y_pred, **kw)), 4),
        "precision": round(float(precision_score(y_true, y_pred, **kw)), 4),
        "recall": round(float(recall_score(y_true, y_pred, **kw)), 4),
        "token_accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
    }
    report = seq_report(y_true, y_pred, output_dict=True, zero_division=0, **kw)
    table = [
        {
            "label": k,
            "precision": v["precision"],
            "recall": v["recall"],
            "f1": v["f1-score"],
            "support": int(v["support"]),
        }
        for k, v in report.items()
        if k not in {"micro avg", "macro avg", "weighted avg"}
    ]
    return metrics, table, None
