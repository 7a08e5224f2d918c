"""`causalgear score`: execution accuracy of a predictions file, in Spider's file formats."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from causalgear.data.scoring import database_files, score_sql, summarize
from causalgear.data.sqlexec import ExecBudget, database_problem
from causalgear.io import write_problem, write_text


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="causalgear score",
        description="Score predictions by execution accuracy (Spider test-suite semantics).")
    p.add_argument("--gold", required=True, type=Path, help="gold file: one 'query<TAB>db_id' per line")
    p.add_argument("--pred", required=True, type=Path, help="predictions: one query per line, same order")
    p.add_argument("--db", required=True, type=Path, help="database root: <db_id>/<db_id>*.sqlite")
    p.add_argument("--tables", type=Path, help="tables.json: every gold db_id must be a schema in it")
    p.add_argument("--out", type=Path, help="write the JSON report here")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds per query (default 2)")
    p.add_argument("--keep-distinct", action="store_true",
                   help="keep DISTINCT (the official evaluator drops it by default)")
    return p


def _read(path: Path, flag: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{flag} {path}: not UTF-8 text (byte {err.start}: {err.object[err.start:err.start + 1]!r})"
                         ) from None


def _read_gold(path: Path) -> list[tuple[str, str]]:
    gold = []
    for n, line in enumerate(_read(path, "--gold").splitlines(), 1):
        if not line.strip():
            continue
        if "\t" not in line:
            raise ValueError(f"{path}:{n}: expected 'query<TAB>db_id', got {line[:60]!r}")
        query, db_id = line.rsplit("\t", 1)
        gold.append((query.strip(), db_id.strip()))
    return gold


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    for flag, path, want_dir in (("--gold", args.gold, False), ("--pred", args.pred, False),
                                 ("--db", args.db, True), ("--tables", args.tables, False)):
        ok = path is None or (path.is_dir() if want_dir else path.exists() and not path.is_dir())
        if not ok:
            print(f"causalgear score: {flag} {path}: no such {'directory' if want_dir else 'file'}",
                  file=sys.stderr)
            return 2
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        print(f"causalgear score: --timeout {args.timeout}: a number of seconds > 0", file=sys.stderr)
        return 2
    if args.out is not None and (why := write_problem(args.out)) is not None:
        print(f"causalgear score: --out {args.out}: {why}", file=sys.stderr)
        return 2
    try:
        gold = _read_gold(args.gold)
        pred_text = _read(args.pred, "--pred")
    except ValueError as err:
        print(f"causalgear score: {err}", file=sys.stderr)
        return 2
    # As the official evaluator: the first tab-separated field, with its " value " placeholder
    # as 1. A blank line is an (empty, wrong) prediction, never a session break that shifts
    # every later line.
    preds = pred_text.split("\n")
    if preds and preds[-1] == "":
        preds = preds[:-1]
    preds = [p.strip().split("\t")[0].replace(" value ", " 1 ") for p in preds]
    if len(preds) != len(gold):
        print(f"causalgear score: --pred has {len(preds)} lines but --gold has {len(gold)}", file=sys.stderr)
        return 2
    if args.tables is not None:
        try:
            known = {t["db_id"] for t in json.loads(_read(args.tables, "--tables"))}
        except (ValueError, TypeError, KeyError) as err:
            print(f"causalgear score: --tables {args.tables}: not Spider's tables.json ({err})", file=sys.stderr)
            return 2
        unknown = sorted({db for _, db in gold} - known)
        if unknown:
            print(f"causalgear score: db_ids not in {args.tables}: {', '.join(unknown[:5])}", file=sys.stderr)
            return 2

    for db_id in sorted({db for _, db in gold}):  # before any query: a FIFO would block sqlite3.connect
        for path in database_files(args.db / db_id):
            if (problem := database_problem(path)) is not None:
                print(f"causalgear score: --db: database {path} {problem}", file=sys.stderr)
                return 2
    budget = ExecBudget(timeout_s=args.timeout)
    verdicts, examples = [], []
    for i, ((gold_sql, db_id), pred_sql) in enumerate(zip(gold, preds, strict=True)):
        v = score_sql(gold_sql, pred_sql, database_files(args.db / db_id), budget,
                      keep_distinct=args.keep_distinct)
        verdicts.append(v)
        examples.append({"index": i, "db_id": db_id, "correct": v.correct, "kind": v.kind,
                         "empty_gold": v.empty_gold, "error": v.error, "bound": v.bound,
                         "dropped": v.dropped})
    summary = summarize(verdicts).as_dict()
    c = summary["counts"]
    print(f"execution accuracy: {summary['execution_accuracy']:.4f} ({summary['n_correct']}/{summary['n_scored']})")
    print(f"right {c['correct']}  wrong {c['wrong']}  errors {c['error']}  timeouts {c['timeout']}  "
          f"over a memory or size bound {c['limit']}  "
          f"refused {c['refused']}  gold errors {c['gold_error']}  skipped (missing database) {c['skipped']}  "
          f"empty gold {summary['empty_gold']} ({summary['empty_gold_correct']} right)")
    if args.out is not None:
        try:
            write_text(args.out, json.dumps({**summary, "examples": examples}, indent=2) + "\n")
        except OSError as err:  # writable when checked, not now (a full disk, a directory gone)
            print(f"causalgear score: --out {args.out}: {err.strerror or err}", file=sys.stderr)
            return 2
        print(f"outputs: {args.out}")
    return 0
