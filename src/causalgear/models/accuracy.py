"""Execution accuracy of a model on examples: generate, score, summarise by group."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from causalgear.data.examples import Example
from causalgear.data.scoring import Verdict, score_sql, summarize
from causalgear.data.sqlexec import DEFAULT_BUDGET, ExecBudget
from causalgear.models.generate import generate_sql


def score_predictions(examples: Sequence[Example], predictions: Sequence[str],
                      budget: ExecBudget = DEFAULT_BUDGET) -> list[Verdict]:
    return [score_sql(e.sql, p, e.db_paths, budget) for e, p in zip(examples, predictions, strict=True)]


def summaries_by(examples: Sequence[Example], verdicts: Sequence[Verdict], key) -> dict[str, dict]:
    """The summary of each value of `key(example)` (a group, a database), in sorted order."""
    return {k: summarize([v for e, v in zip(examples, verdicts, strict=True) if key(e) == k]).as_dict()
            for k in sorted({key(e) for e in examples})}


def accuracy_report(examples: Sequence[Example], predictions: Sequence[str], verdicts: Sequence[Verdict]) -> dict:
    """`execution_accuracy`, counts by kind, empty-gold figures, and the same per group."""
    report = summarize(list(verdicts)).as_dict()
    report["by_group"] = summaries_by(examples, verdicts, lambda e: e.group)
    report["examples"] = [
        {"id": e.id, "group": e.group, "db_id": e.db_id, "gold": e.sql, "pred": p, "correct": v.correct,
         "kind": v.kind, "empty_gold": v.empty_gold, "bound": v.bound, "dropped": v.dropped}
        for e, p, v in zip(examples, predictions, verdicts, strict=True)
    ]
    return report


def evaluate_model(model, tokenizer, examples: Sequence[Example], max_new_tokens: int = 64,
                   batch_size: int = 128, budget: ExecBudget = DEFAULT_BUDGET, progress: bool = False,
                   schema_decoding: bool = False) -> dict:
    """`schema_decoding`: each prediction decoded under its schema's grammar (`models.constrain`)."""
    predictions = generate_sql(model, tokenizer, [e.prompt for e in examples], max_new_tokens=max_new_tokens,
                               batch_size=batch_size, progress=progress,
                               contexts=[e.context for e in examples] if schema_decoding else None)
    return accuracy_report(examples, predictions, score_predictions(examples, predictions, budget))


class Runner:
    """Generates SQL for `examples` and scores it, each time under the intervention it is given
    (`causalgear.interventions.types`). `generation`: the config group (max_new_tokens, batch_size).
    `schema_decoding`: each prediction decoded under its schema's grammar (`models.constrain`)."""

    def __init__(self, model, tokenizer, examples: Sequence[Example], generation, budget: ExecBudget = DEFAULT_BUDGET,
                 schema_decoding: bool = False):
        self.model, self.tokenizer, self.examples = model, tokenizer, list(examples)
        self.generation, self.budget = generation, budget
        self.contexts = [e.context for e in self.examples] if schema_decoding else None

    def predict(self, intervention=None) -> list[str]:
        """The SQL generated for each example."""
        return generate_sql(self.model, self.tokenizer, [e.prompt for e in self.examples],
                            max_new_tokens=self.generation.max_new_tokens, batch_size=self.generation.batch_size,
                            intervention=intervention, contexts=self.contexts,
                            prefix_cache_mb=self.generation.prefix_cache_mb)

    def correct(self, intervention=None) -> tuple[np.ndarray, list[str]]:
        """(1.0 / 0.0 per example, the predictions)."""
        preds = self.predict(intervention)
        return self.score(preds), preds

    def score(self, preds: Sequence[str]) -> np.ndarray:
        """1.0 / 0.0 per example: whether its prediction executes to the gold's result."""
        return np.array([v.correct for v in score_predictions(self.examples, preds, self.budget)], dtype=np.float64)
