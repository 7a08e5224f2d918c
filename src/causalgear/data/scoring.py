"""Execution accuracy with the Spider test-suite evaluator's semantics.

A prediction is right when, on every database of its schema, its result equals the gold
result as a multiset of rows, up to a permutation of columns; row order counts only when the
gold query has ORDER BY. Values compare with Python equality, so 1 and 1.0 are equal, as in
the official evaluator. Like it, a prediction is read as its first statement (sqlparse's split,
through its DISTINCT removal): `SELECT ... ; LIMIT 1` is scored as `SELECT ...`, and the rest is
never run; the verdict names what was dropped. The one deliberate difference: candidate column
permutations are pruned with every row instead of 20 random ones, which removes only
permutations that cannot match, so verdicts are the same and never depend on a random draw.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import sqlparse
import sqlparse.exceptions

from causalgear.data.sqlexec import (
    DEFAULT_BUDGET,
    LIMIT,
    OK,
    ExecBudget,
    Remembered,
    budget_key,
    execute,
    file_identity,
    too_long,
)

_CUR_YEAR = re.compile(r"YEAR\s*\(\s*CURDATE\s*\(\s*\)\s*\)\s*", re.IGNORECASE)


@lru_cache(maxsize=65536)
def _read_statement(sql: str) -> tuple[str, str | None, str]:
    """One sqlparse pass over a query, as the official evaluator reads it: (its first statement,
    the text after it or None, that statement without the keyword DISTINCT). Parsing is the
    costly part of scoring and the same predictions recur across interventions: done once each."""
    statements = sqlparse.parse(sql)
    if not statements:
        return sql, None, sql
    first = str(statements[0])
    without = "".join(t.value for t in statements[0].flatten() if t.value.lower() != "distinct")
    return first, sql[len(first):].strip() or None, without


def first_statement(sql: str) -> tuple[str, str | None]:
    """The official evaluator's reading of a prediction: its first statement as sqlparse splits it
    (a `;` inside a quoted string does not end it), and the text after it, which is never run."""
    return _read_statement(sql)[:2]


def remove_distinct(sql: str) -> str:
    """The official evaluator's `remove_distinct`: the first statement's tokens without the
    keyword DISTINCT (a quoted 'distinct' is one token with its quotes, and stays)."""
    return _read_statement(sql)[2]


def prepare(sql: str, keep_distinct: bool = False) -> str:
    """The official evaluator's rewriting of both queries before execution. Dropping DISTINCT
    keeps only the first statement, as there; with `keep_distinct` the text is run whole, and a
    second statement is refused, as the official tool's sqlite3 call refuses it."""
    sql = _CUR_YEAR.sub("2020", sql)
    return sql if keep_distinct else remove_distinct(sql)


CORRECT, WRONG, GOLD_ERROR, SKIPPED = "correct", "wrong", "gold_error", "skipped"
KINDS = (CORRECT, WRONG, "error", "timeout", "refused", "limit", GOLD_ERROR, SKIPPED)


def _unorder_row(row: tuple) -> tuple:
    return tuple(sorted(row, key=lambda x: str(x) + str(type(x))))


def _quick_match(rows1: tuple, rows2: tuple, order_matters: bool) -> bool:
    s1 = [_unorder_row(r) for r in rows1]
    s2 = [_unorder_row(r) for r in rows2]
    return s1 == s2 if order_matters else set(s1) == set(s2)


def _column_permutations(rows1: tuple, rows2: tuple):
    n = len(rows2[0])
    candidates = [set(range(n)) for _ in range(n)]
    if n > 3:
        col_values = [{row[i] for row in rows1} for i in range(n)]
        for row in rows2:
            for c1 in range(n):
                candidates[c1] = {c2 for c2 in candidates[c1] if row[c2] in col_values[c1]}
    return itertools.product(*candidates)


def results_match(gold: tuple, pred: tuple, order_matters: bool) -> bool:
    """The test-suite evaluator's `result_eq`: multiset of rows, any column order."""
    if len(gold) == 0 and len(pred) == 0:
        return True
    if len(gold) != len(pred):
        return False
    n = len(gold[0])
    if len(pred[0]) != n:
        return False
    if not _quick_match(gold, pred, order_matters):
        return False
    for perm in _column_permutations(gold, pred):
        if len(set(perm)) != n:
            continue
        permuted = pred if n == 1 else tuple(tuple(row[perm[i]] for i in range(n)) for row in pred)
        if order_matters:
            if gold == permuted:
                return True
        elif set(gold) == set(permuted) and Counter(gold) == Counter(permuted):
            return True
    return False


def order_matters(gold_sql: str) -> bool:
    return "order by" in gold_sql.lower()


@dataclass(frozen=True)
class Verdict:
    correct: bool
    kind: str  # one of KINDS
    empty_gold: bool = False
    error: str | None = None
    bound: str | None = None  # the executor's hard bound that stopped the prediction (ExecResult.bound)
    dropped: str | None = None  # text after the prediction's first statement: scored without it, never run


def database_files(db_dir: str | Path) -> tuple[Path, ...]:
    """All database variants of one schema (test-suite layout: <db_id>/*.sqlite), or the one file
    `db_dir` names (a JSONL row's `db`)."""
    db_dir = Path(db_dir)
    if db_dir.is_file():
        return (db_dir,)
    if not db_dir.is_dir():
        return ()
    return tuple(sorted(p for p in db_dir.iterdir() if p.suffix == ".sqlite"))


# Verdicts by (gold, prediction, each database file as it is now, budget): steering scores the same
# outputs (most steered answers are the unsteered ones) tens of thousands of times
VERDICTS = Remembered(16 * 2**20)


def score_sql(gold_sql: str, pred_sql: str, db_paths: tuple[Path, ...],
              budget: ExecBudget = DEFAULT_BUDGET, keep_distinct: bool = False) -> Verdict:
    """Score one prediction on every database of its schema. A verdict this process already gave
    for the pair on the files as they are now is given again (never a timeout's, nor a failed gold's)."""
    try:
        key = (gold_sql, pred_sql, tuple(file_identity(db) for db in db_paths), budget_key(budget), keep_distinct)
    except OSError:  # a missing file: scored (and named) without remembering
        return _score_sql(gold_sql, pred_sql, db_paths, budget, keep_distinct)
    if (known := VERDICTS.get(key)) is not None:
        return known
    verdict = _score_sql(gold_sql, pred_sql, db_paths, budget, keep_distinct)
    if verdict.kind != GOLD_ERROR:  # the gold's own failure may be a timeout: asked again next time
        VERDICTS.put(key, verdict)
    return verdict


def _score_sql(gold_sql: str, pred_sql: str, db_paths: tuple[Path, ...], budget: ExecBudget,
               keep_distinct: bool) -> Verdict:
    if (over := too_long(pred_sql, budget)) is not None:
        return Verdict(False, over.kind, error=over.error, bound=over.bound)
    try:
        gold_sql = prepare(gold_sql, keep_distinct)
    except sqlparse.exceptions.SQLParseError as err:
        return Verdict(False, GOLD_ERROR, error=f"the gold query could not be parsed: {err}")
    try:
        dropped = None if keep_distinct else first_statement(pred_sql)[1]
        pred_sql = prepare(pred_sql, keep_distinct)
    except sqlparse.exceptions.SQLParseError as err:  # sqlparse's own bound: 10,000 tokens
        return Verdict(False, LIMIT, error=f"the prediction could not be parsed: {err}", bound="sql_tokens")
    verdict = _score_prepared(gold_sql, pred_sql, db_paths, budget)
    return dataclasses.replace(verdict, dropped=dropped) if dropped else verdict


def _score_prepared(gold_sql: str, pred_sql: str, db_paths: tuple[Path, ...], budget: ExecBudget) -> Verdict:
    if not db_paths:
        return Verdict(False, SKIPPED, error="no database file")
    empty_gold = False
    for i, db in enumerate(db_paths):
        gold = execute(db, gold_sql, budget)  # remembered per file state, as every outcome
        if not gold.ok:
            return Verdict(False, GOLD_ERROR, error=f"gold failed on {db.name}: {gold.error}")
        if i == 0:
            empty_gold = len(gold.rows) == 0
        pred = execute(db, pred_sql, budget)
        if pred.kind != OK:
            return Verdict(False, pred.kind, empty_gold, pred.error, pred.bound)
        if not results_match(gold.rows, pred.rows, order_matters(gold_sql)):
            return Verdict(False, WRONG, empty_gold)
    return Verdict(True, CORRECT, empty_gold)


@dataclass
class Summary:
    n_scored: int
    n_correct: int
    counts: dict[str, int]
    empty_gold: int
    empty_gold_correct: int

    @property
    def execution_accuracy(self) -> float:
        return self.n_correct / self.n_scored if self.n_scored else 0.0

    def as_dict(self) -> dict:
        n_ne = self.n_scored - self.empty_gold
        return {
            "execution_accuracy": self.execution_accuracy,
            "n_scored": self.n_scored,
            "n_correct": self.n_correct,
            "counts": dict(self.counts),
            "empty_gold": self.empty_gold,
            "empty_gold_correct": self.empty_gold_correct,
            # accuracy on examples whose gold result is not empty: an empty prediction can't
            # "match" these by accident
            "execution_accuracy_nonempty_gold": (
                (self.n_correct - self.empty_gold_correct) / n_ne if n_ne else 0.0
            ),
        }


def summarize(verdicts: list[Verdict]) -> Summary:
    """Skipped examples (missing database) are counted but not scored."""
    counts = Counter({k: 0 for k in KINDS})
    counts.update(v.kind for v in verdicts)
    scored = [v for v in verdicts if v.kind != SKIPPED]
    return Summary(
        n_scored=len(scored),
        n_correct=sum(v.correct for v in scored),
        counts=dict(counts),
        empty_gold=sum(v.empty_gold for v in scored),
        empty_gold_correct=sum(v.empty_gold and v.correct for v in scored),
    )
