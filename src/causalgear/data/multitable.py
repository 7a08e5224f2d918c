"""Multi-table TinySQL: TinySQL's command sets asked the way people ask real databases.

Each database has two to five tables whose identifiers follow one of the styles real schemas use
(`singer_id`, `Singer_ID`, `SingerID`, `SINGER_ID`), with a key column and sometimes a foreign
key; a fifth of the names are made-up words. Every question reads one table, so the model must
pick the table the question names and copy the names the schema spells. The
questions use `count(*)`, `DISTINCT`, several aggregates in one select, WHERE with AND / OR /
BETWEEN and the comparison words of everyday English, plurals and paraphrases
(`multitable_vocab`). The SQL is written the way hand-written gold SQL usually is: lower-case
aggregate calls, no aliases. The context lists every table, in the format `data=spider` uses.

Train, validation and test use disjoint databases. Each database is one SQLite file of seeded
random rows, so execution accuracy is real. Everything is a pure function of (seed, sizes).
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from causalgear.data import multitable_vocab as M
from causalgear.data import vocab as V
from causalgear.data.examples import Example
from causalgear.data.tinysql import _rng
from causalgear.io import build_dir_atomically, cache_key

VERSION = 2
SPLITS = ("train", "validation", "test")
GROUPS = ("CS1", "CS2", "CS3", "CS4")
DATABASES = {"train": 600, "validation": 60, "test": 60}
ROWS = 16
# the share of table and column names that are made-up words, so that the model learns to copy
# names from the context rather than recall the ones it was trained on; validation and test keep
# this share whatever the training data's, so that they are one benchmark
MADE_UP = 0.2
NOUNS = [n for n in V.TABLE_NOUNS if "_" not in n and M.singular(n) not in V.SQL_KEYWORDS]
TYPES = {"TEXT": V.TEXT_FIELDS + ("hometown", "nationality"), "INTEGER": V.INT_FIELDS, "REAL": V.REAL_FIELDS}


@dataclass(frozen=True)
class Column:
    name: str  # as the schema spells it
    words: tuple[str, ...]  # as a question says it
    type: str  # TEXT | NUMBER
    values: tuple[str, ...] = ()  # what a TEXT column holds

    @property
    def mention(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True)
class Table:
    name: str
    noun: str  # plural, as a question names the rows
    columns: tuple[Column, ...]

    @property
    def one(self) -> str:
        return M.singular(self.noun)

    @property
    def create(self) -> str:
        return f"CREATE TABLE {self.name} ({', '.join(f'{c.name} {c.type}' for c in self.columns)})"


@dataclass(frozen=True)
class Database:
    db_id: str
    tables: tuple[Table, ...]

    @property
    def context(self) -> str:
        return " ".join(t.create for t in self.tables)


def _value(rng: random.Random) -> str:
    words = rng.sample(V.TEXT_VALUES, rng.choice((1, 1, 1, 2)))
    return " ".join(w.capitalize() for w in words)


def make_database(rng: random.Random, db_id: str, made_up: float = MADE_UP) -> Database:
    style = rng.choice(M.STYLES)
    singular_tables = rng.random() < 0.7
    nouns = [n if rng.random() >= made_up else M.plural(M.pseudo_word(rng))
             for n in rng.sample(NOUNS, rng.choice((2, 3, 3, 4, 4, 5)))]
    tables = []
    for i, noun in enumerate(nouns):
        one = M.singular(noun)
        key = [one, "id"] if rng.random() < 0.8 else ["id"]
        columns = [Column(M.spell(key, style), tuple(key), "NUMBER")]
        if i and rng.random() < 0.4:  # a foreign key to an earlier table
            other = M.singular(nouns[rng.randrange(i)])
            columns.append(Column(M.spell([other, "id"], style), (other, "id"), "NUMBER"))
        names = {c.words for c in columns}
        for _ in range(rng.randint(2, 5)):
            typ = rng.choice(("TEXT", "TEXT", "INTEGER", "REAL"))
            words = tuple(rng.choice(TYPES[typ]).split("_"))
            if rng.random() < made_up:
                words = (M.pseudo_word(rng),) if rng.random() < 0.5 else (M.pseudo_word(rng), words[-1])
            if words in names:
                continue
            names.add(words)
            values = tuple(_value(rng) for _ in range(5)) if typ == "TEXT" else ()
            columns.append(Column(M.spell(list(words), style), words, "TEXT" if typ == "TEXT" else "NUMBER", values))
        tables.append(Table(M.spell((one if singular_tables else noun).split("_"), style), noun, tuple(columns)))
    return Database(db_id, tuple(tables))


def write_database(path: Path, db: Database, seed: int) -> None:
    rng = _rng(seed, "rows", db.db_id)
    conn = sqlite3.connect(path)
    try:
        for t in db.tables:
            conn.execute(t.create)
            rows = []
            for r in range(ROWS):
                row = [r + 1]
                for c in t.columns[1:]:
                    if c.values:
                        row.append(rng.choice(c.values))
                    elif c.words[-1] == "id":
                        row.append(rng.randint(1, ROWS))
                    else:
                        row.append(rng.randint(0, 100))
                rows.append(row)
            conn.executemany(f"INSERT INTO {t.name} VALUES ({', '.join('?' for _ in t.columns)})", rows)
        conn.commit()
    finally:
        conn.close()


# --- questions ----------------------------------------------------------------------------

def _field_mention(rng: random.Random, c: Column, many: bool) -> str:
    words = list(c.words)
    if many and rng.random() < 0.5 and len(words[-1]) > 3 and not words[-1].endswith("s"):
        words[-1] = M.plural(words[-1])
    return " ".join(words)


def _listing(rng: random.Random, mentions: list[str]) -> str:
    if len(mentions) == 1:
        return mentions[0]
    last = rng.choice((" and ", ", and ", ", "))
    return ", ".join(mentions[:-1]) + last + mentions[-1]


def _condition(rng: random.Random, c: Column, bare: bool) -> tuple[str, str]:
    """(SQL condition, its English) on column `c`."""
    if c.values:
        op = "=" if rng.random() < 0.75 else "!="
        v, w = rng.choice(c.values), ""
        sql = f"{c.name} {op} '{v}'"
        if c.words[-1] in M.PLACE_FIELDS and rng.random() < 0.5:
            return sql, rng.choice(M.PLACE_REL[op]).format(v=v)
    else:
        op = rng.choice((">", ">", "<", "<", ">=", "<=", "=", "!=", "between"))
        lo = rng.randint(0, 90)
        v, w = str(lo), str(rng.randint(lo + 1, 100))
        sql = f"{c.name} BETWEEN {v} AND {w}" if op == "between" else f"{c.name} {op} {v}"
        if c.words == ("age",) and op in M.AGE_REL and rng.random() < 0.5:
            return sql, rng.choice(M.AGE_REL[op]).format(v=v)
    rels, heads = (M.REL_BARE, M.FILTER_BARE) if bare else (M.REL_IS, M.FILTER_IS)
    rel = rng.choice(rels[op]).format(v=v, w=w)
    return sql, rng.choice(heads).format(field=c.mention, rel=rel)


def _filter(rng: random.Random, t: Table) -> tuple[str, str]:
    """(` WHERE ...`, its English): one condition, or two joined by AND / OR."""
    n = 2 if rng.random() < 0.25 else 1
    cols = rng.sample(t.columns[1:] if len(t.columns) > 2 else t.columns, min(n, len(t.columns) - 1) or 1)
    bare = rng.random() < 0.4
    parts = [_condition(rng, c, bare) for c in cols]
    joiner = "OR" if len(parts) == 2 and rng.random() < 0.2 else "AND"
    sql = f" {joiner} ".join(p[0] for p in parts)
    return f" WHERE {sql}", f" {joiner.lower()} ".join(p[1] for p in parts)


def _order(rng: random.Random, t: Table, picked: list[Column]) -> tuple[str, str]:
    c = rng.choice(t.columns)
    direction = rng.choice(("ASC", "DESC"))
    if c.values and direction == "ASC" and c in picked and rng.random() < 0.4:
        phrase = rng.choice(M.ALPHABETICAL)
    else:
        phrase = rng.choice(M.ORDER_TAILS[direction])
    return f" ORDER BY {c.name} {direction}", phrase.format(field=c.mention)


def _end(question: str, tail: str) -> str:
    """`question` with `tail` put before its final punctuation mark."""
    return f"{question[:-1]} {tail}{question[-1]}" if tail else question


def make_example(rng: random.Random, db: Database, group: str) -> tuple[str, str]:
    t = rng.choice(db.tables)
    content = [c for c in t.columns if c.words[-1] != "id"] or list(t.columns)
    where_sql, where_q = _filter(rng, t) if group == "CS4" else ("", "")
    kind = {"CS1": "select", "CS2": "select", "CS3": rng.choice(("count", "count", "agg", "agg", "count_distinct")),
            "CS4": rng.choice(("select", "select", "count", "count", "agg"))}[group]
    if kind == "select":
        distinct = rng.random() < 0.15
        pool = content if rng.random() < 0.9 else list(t.columns)
        picked = rng.sample(pool, 1 if distinct else rng.randint(1, min(3, len(pool))))
        fields = _listing(rng, [_field_mention(rng, c, True) for c in picked])
        head = rng.choice(M.DISTINCT_HEADS if distinct else M.SELECT_HEADS)
        sql = f"SELECT {'DISTINCT ' if distinct else ''}{', '.join(c.name for c in picked)} FROM {t.name}"
        question = head.format(fields=fields, table=t.noun + (f" {where_q}" if where_q else ""), one=t.one)
        if group == "CS2" or (group == "CS4" and rng.random() < 0.25):
            order_sql, order_q = _order(rng, t, picked)
            sql, question = sql + where_sql + order_sql, _end(question, order_q)
        else:
            sql += where_sql
        return question, sql
    if kind == "count":
        sql = f"SELECT count(*) FROM {t.name}{where_sql}"
        if where_q:
            return rng.choice(M.COUNT_FILTER_HEADS).format(table=t.noun, filter=where_q), sql
        return rng.choice(M.COUNT_HEADS).format(table=t.noun), sql
    if kind == "count_distinct":
        c = rng.choice(content)
        sql = f"SELECT count(DISTINCT {c.name}) FROM {t.name}"
        return rng.choice(M.COUNT_DISTINCT_HEADS).format(fields=_field_mention(rng, c, True), table=t.noun), sql
    numeric = [c for c in content if not c.values] or [c for c in t.columns if not c.values]
    c = rng.choice(numeric)
    funcs = rng.sample(("avg", "sum", "min", "max"), rng.choice((1, 1, 2, 3)))
    if len(funcs) > 1 and rng.random() < 0.6 and len(numeric) > 1:  # different columns, as TinySQL's CS3
        cols = [rng.choice(numeric) for _ in funcs]
        aggs = _listing(rng, [f"{rng.choice(M.AGG_WORDS[f])} {d.mention}" for f, d in zip(funcs, cols, strict=True)])
    else:
        cols = [c] * len(funcs)
        aggs = _listing(rng, [rng.choice(M.AGG_WORDS[f]) for f in funcs]) + f" {c.mention}"
    sql = f"SELECT {', '.join(f'{f}({d.name})' for f, d in zip(funcs, cols, strict=True))} FROM {t.name}{where_sql}"
    return rng.choice(M.AGG_HEADS).format(aggs=aggs, table=t.noun + (f" {where_q}" if where_q else "")), sql


# --- the data set on disk -----------------------------------------------------------------

def data_key(seed: int, n_train_per_set: int, made_up: float = MADE_UP) -> str:
    blob = {"seed": seed, "n_train_per_set": n_train_per_set, "version": VERSION, "databases": DATABASES}
    if made_up != MADE_UP:  # added later: the key of the default share is the one it always was
        blob["made_up"] = made_up
    return cache_key(blob)


def sizes(n_train_per_set: int) -> dict[str, int]:
    return {"train": n_train_per_set, "validation": 100, "test": 200}


def generate(seed: int, n_train_per_set: int, out_dir: Path, made_up: float = MADE_UP) -> None:
    out_dir.mkdir(parents=True)
    for split in SPLITS:
        rng = _rng(seed, "databases", split)
        share = made_up if split == "train" else MADE_UP
        dbs = [make_database(rng, f"mt_{split}_{i:04d}", share) for i in range(DATABASES[split])]
        for db in dbs:
            (out_dir / "databases" / db.db_id).mkdir(parents=True)
            write_database(out_dir / "databases" / db.db_id / f"{db.db_id}.sqlite", db, seed)
        rows, seen = [], set()
        want = sizes(n_train_per_set)[split]
        for group in GROUPS:
            rng = _rng(seed, split, group)
            n = 0
            for _ in range(50 * want):
                if n == want:
                    break
                db = rng.choice(dbs)
                question, sql = make_example(rng, db, group)
                if (db.db_id, question) in seen:
                    continue
                seen.add((db.db_id, question))
                rows.append({"id": f"multitable_{split}-{group}-{n:05d}", "split": f"multitable_{split}",
                             "group": group, "db_id": db.db_id, "question": question, "context": db.context,
                             "sql": sql})
                n += 1
            if n < want:
                raise RuntimeError(f"multi-table TinySQL: could not make {want} distinct {split}/{group} examples")
        with open(out_dir / f"{split}.jsonl", "w") as fh:
            fh.writelines(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    (out_dir / "info.json").write_text(json.dumps({"version": VERSION, "seed": seed, "sizes": sizes(n_train_per_set),
                                                   "made_up": made_up}))


def load_split(seed: int, n_train_per_set: int, cache_dir: str | Path, split: str,
               made_up: float = MADE_UP) -> list[Example]:
    """`made_up`: the share of made-up names in the training databases (validation and test keep MADE_UP)."""
    if split not in SPLITS:
        raise ValueError(f"unknown multi-table TinySQL split {split!r}: one of {', '.join(SPLITS)}")
    if not 0 <= made_up <= 1:
        raise ValueError(f"made_up={made_up}: a share of names, from 0 to 1")
    final = Path(cache_dir).expanduser() / "data" / f"multitable-{data_key(seed, n_train_per_set, made_up)}"
    if not (final / "info.json").is_file():
        build_dir_atomically(final, lambda tmp: generate(seed, n_train_per_set, tmp, made_up),
                             lambda d: (d / "info.json").is_file())
    with open(final / f"{split}.jsonl") as fh:
        rows = [json.loads(line) for line in fh]
    return [Example(db_dir=str(final / "databases" / r["db_id"]), **r) for r in rows]
