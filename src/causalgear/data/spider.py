"""Spider: from a local directory in the official layout, or questions from the hub.

Layout: `dev.json` / `train_spider.json`, `tables.json`, `database/<db_id>/<db_id>.sqlite`.
The hub copy (`xlangai/spider`) holds questions and SQL but neither schemas nor databases, so
the hub source still reads `tables.json` and the databases from `data.spider_dir`.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections import Counter
from pathlib import Path

from causalgear.data.examples import Example

_SPLIT_FILES = {"dev": "dev.json", "train": "train_spider.json"}
_HUB_SPLITS = {"dev": "validation", "train": "train"}


def split_file(spider_dir: Path, split: str) -> Path:
    return spider_dir / _SPLIT_FILES.get(split, f"{split}.json")


def _quote(name: str) -> str:
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) else f'"{name}"'


def create_statements(schema: dict) -> str:
    """CREATE TABLE statements for one tables.json entry, on one line."""
    tables = schema["table_names_original"]
    cols: list[list[str]] = [[] for _ in tables]
    for (t, name), typ in zip(schema["column_names_original"], schema["column_types"], strict=True):
        if t >= 0:
            cols[t].append(f"{_quote(name)} {typ.upper()}")
    return " ".join(f"CREATE TABLE {_quote(t)} ({', '.join(c)})" for t, c in zip(tables, cols, strict=True))


def command_set(sql: str) -> str | None:
    """The TinySQL command set a gold query belongs to, or None when it is not a single-table query.

    Single-table (parsed with sqlglot): one SELECT over one table, with no join, subquery, set
    operation, GROUP BY, HAVING or LIMIT. Its group follows TinySQL's progression: CS4 when it
    filters (WHERE), else CS3 when it aggregates, else CS2 when it orders, else CS1.
    """
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(tree, exp.Select) or len(list(tree.find_all(exp.Select))) != 1:
        return None
    if len(list(tree.find_all(exp.Table))) != 1 or tree.find(exp.Join):
        return None
    if any(tree.args.get(k) for k in ("group", "having", "limit")):
        return None
    if tree.args.get("where"):
        return "CS4"
    if tree.find(exp.AggFunc):
        return "CS3"
    return "CS2" if tree.args.get("order") else "CS1"


_KW = re.compile(r"\b(where|group by|order by|limit|join|or|like|intersect|union|except|"
                 r"having|count|sum|avg|min|max|and)\b")


def difficulty(sql: str) -> str:
    """An approximation of Spider's hardness levels from the query's keywords.

    The official rule counts parsed SQL components; this counts the same components by
    keyword, which agrees on most queries but is not the official label.
    """
    s = " ".join(sql.lower().split())
    kw = _KW.findall(s)
    nested = max(0, s.count("select") - 1)
    comp1 = sum(kw.count(k) for k in ("where", "group by", "order by", "limit", "join", "or", "like"))
    select_part = s.split(" from ")[0]
    others = (sum(kw.count(k) for k in ("count", "sum", "avg", "min", "max")) > 1) + \
        (select_part.count(",") > 0) + (kw.count("and") > 0)
    if comp1 <= 1 and others == 0 and nested == 0:
        return "easy"
    if (others <= 2 and comp1 <= 1 and nested == 0) or (comp1 <= 2 and others < 2 and nested == 0):
        return "medium"
    if (others > 2 and comp1 <= 2 and nested == 0) or (2 < comp1 <= 3 and others <= 2 and nested == 0) \
            or (comp1 <= 1 and others == 0 and nested <= 1):
        return "hard"
    return "extra"


def _raw_examples(cfg, spider_dir: Path) -> list[dict]:
    if cfg.source == "hub":
        import datasets  # only this path needs it; loading fails clearly without the hub

        ds = datasets.load_dataset(cfg.hub_id, split=_HUB_SPLITS.get(cfg.split, cfg.split))
        return [{"db_id": r["db_id"], "question": r["question"], "query": r["query"]} for r in ds]
    return json.loads(split_file(spider_dir, cfg.split).read_text())


def check_databases_of(raw: list[dict], spider_dir: Path) -> None:
    """Every database file these (raw) examples run on opens and passes SQLite's quick check, else
    one CausalgearError naming the file: a damaged database would make every gold query an error
    and every answer on it silently wrong. A missing one is counted and skipped by the loader."""
    from causalgear.data.scoring import database_files
    from causalgear.data.sqlexec import database_problem
    from causalgear.errors import CausalgearError

    for db_id in sorted({r["db_id"] for r in raw}):
        for path in database_files(spider_dir / "database" / db_id):
            if (problem := database_problem(path)) is not None:
                n = sum(r["db_id"] == db_id for r in raw)
                raise CausalgearError(f"database {path} {problem}; {n} examples run on it: restore "
                                      f"the file from Spider's release, or remove its directory to skip them")


def check_databases(cfg) -> None:
    """The databases of the configured split, checked without parsing a query (the input check)."""
    spider_dir = Path(os.path.expanduser(str(cfg.spider_dir)))
    check_databases_of(_raw_examples(cfg, spider_dir), spider_dir)


def load_examples(cfg) -> tuple[list[Example], dict]:
    """The configured subset, and counts: total, skipped for a missing database, selected."""
    spider_dir = Path(os.path.expanduser(str(cfg.spider_dir)))
    schemas = {s["db_id"]: s for s in json.loads((spider_dir / "tables.json").read_text())}
    raw = _raw_examples(cfg, spider_dir)
    # before any query is parsed: a damaged database is named in seconds
    check_databases_of(raw, spider_dir)
    usable, missing = [], {}
    for i, r in enumerate(raw):
        db_dir = spider_dir / "database" / r["db_id"]
        if not (db_dir / f"{r['db_id']}.sqlite").is_file() or r["db_id"] not in schemas:
            missing[r["db_id"]] = missing.get(r["db_id"], 0) + 1
            continue
        if cfg.subset == "tinysql":  # the single-table questions, grouped by TinySQL command set
            group = command_set(r["query"])
            if group is None:
                continue
        else:
            group = difficulty(r["query"])
        usable.append(Example(
            id=f"{cfg.split}-{i:05d}", split=cfg.split, group=group, db_id=r["db_id"],
            question=" ".join(r["question"].split()), context=create_statements(schemas[r["db_id"]]),
            sql=r["query"], db_dir=str(db_dir)))
    wanted = usable if cfg.subset == "tinysql" else [e for e in usable if e.group in set(cfg.difficulty)]
    if len(wanted) > cfg.max_examples:
        keep = set(random.Random(cfg.seed).sample(range(len(wanted)), cfg.max_examples))
        wanted = [e for i, e in enumerate(wanted) if i in keep]
    counts = {"total": len(raw), "skipped_missing_database": sum(missing.values()),
              "missing_databases": missing, "subset": cfg.subset, "usable": len(usable), "selected": len(wanted),
              "by_database": dict(sorted(Counter(e.db_id for e in wanted).items()))}
    return wanted, counts
