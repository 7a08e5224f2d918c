"""TinySQL: the project's own text-to-SQL data in progressive command sets, with real databases.

CS1 `SELECT fields FROM table`; CS2 adds `ORDER BY`; CS3 adds aggregates with aliases; CS4 adds
`WHERE` with a typed literal. Every schema is one table and owns several SQLite databases of
seeded random rows, so execution accuracy follows the test-suite rule (right on all of them).

Splits never share a (schema, question) pair. `test_ood` uses phrasing templates and synonyms
that no other split uses, for every element at once. `test_shift.<element>` (graded shift)
shifts exactly one phrasing element (SHIFT_ELEMENTS) to its held-out form, on the schemas of
`test` and as many examples per command set, in the command sets where that element occurs;
`validation_shift.<element>` is its twin on the schemas of `validation` (what choices about the
shift, such as which split to steer on, are made from). They are generated on first use beside
the data set, which they leave unchanged. Everything is
a pure function of the config: the same seed gives byte-identical files.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from causalgear.config import SHIFT_ELEMENTS
from causalgear.data import vocab as V
from causalgear.data.examples import Example
from causalgear.io import build_dir_atomically, cache_key

GENERATOR_VERSION = 1
SHIFT_VERSION = 2
SPLITS = ("train", "validation", "test", "test_ood")
SHIFT_SPLITS = tuple(f"test_shift.{e}" for e in SHIFT_ELEMENTS)
VALIDATION_SHIFT_SPLITS = tuple(f"validation_shift.{e}" for e in SHIFT_ELEMENTS)
# the command sets whose questions can hold each element (CS4 may add an ORDER BY or aggregates)
SHIFT_SETS = {"verb": ("CS1", "CS2", "CS3", "CS4"), "select": ("CS1", "CS2", "CS3", "CS4"),
              "order": ("CS2", "CS4"), "aggregate": ("CS3", "CS4"), "where": ("CS4",), "operator": ("CS4",)}
TYPES = {"TEXT": V.TEXT_FIELDS, "INTEGER": V.INT_FIELDS, "REAL": V.REAL_FIELDS}


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # TEXT | INTEGER | REAL

    @property
    def numeric(self) -> bool:
        return self.type != "TEXT"


@dataclass(frozen=True)
class Schema:
    db_id: str
    table: str
    fields: tuple[Field, ...]

    @property
    def create_table(self) -> str:
        cols = ", ".join(f"{f.name} {f.type}" for f in self.fields)
        return f"CREATE TABLE {self.table} ({cols})"


def _rng(*parts: object) -> random.Random:
    # String seeds hash with sha512 inside `random`: stable across runs and Python versions.
    return random.Random("/".join(map(str, parts)))


def make_schemas(seed: int, n_schemas: int) -> list[Schema]:
    rng = _rng(seed, "schemas")
    tables = list(V.TABLE_NOUNS) + [f"{p}_{t}" for p in V.TABLE_PREFIXES for t in V.TABLE_NOUNS]
    base = rng.sample(V.TABLE_NOUNS, min(n_schemas, len(V.TABLE_NOUNS)))
    extra = rng.sample(tables[len(V.TABLE_NOUNS):], max(0, n_schemas - len(base)))
    schemas = []
    for i, table in enumerate(base + extra):
        n_fields = rng.randint(3, 6)
        # at least one text and one numeric field, so every command set has material
        picked = [Field(rng.choice(V.TEXT_FIELDS), "TEXT"),
                  Field(rng.choice(V.INT_FIELDS + V.REAL_FIELDS), "")]
        picked[1] = Field(picked[1].name, "INTEGER" if picked[1].name in V.INT_FIELDS else "REAL")
        while len(picked) < n_fields:
            typ = rng.choice(("TEXT", "TEXT", "INTEGER", "REAL"))
            name = rng.choice(TYPES[typ])
            if name not in {f.name for f in picked}:
                picked.append(Field(name, typ))
        rng.shuffle(picked)
        schemas.append(Schema(f"s{i:04d}_{table}", table, tuple(picked)))
    return schemas


# --- databases ---------------------------------------------------------------------------

def _field_values(schema: Schema, field: Field, seed: int) -> list[str]:
    # A few values per text field, so that `WHERE f = 'x'` matches some rows.
    return _rng(seed, "values", schema.db_id, field.name).sample(V.TEXT_VALUES, 6)


def _random_value(rng: random.Random, schema: Schema, field: Field, seed: int):
    if field.type == "INTEGER":
        return rng.randint(0, 100)
    if field.type == "REAL":
        return round(rng.uniform(0, 1000), 2)
    return rng.choice(_field_values(schema, field, seed))


def write_database(path: Path, schema: Schema, seed: int, variant: int, n_rows: int) -> None:
    rng = _rng(seed, "rows", schema.db_id, variant)
    rows = [tuple(_random_value(rng, schema, f, seed) for f in schema.fields) for _ in range(n_rows)]
    conn = sqlite3.connect(path)
    try:
        conn.execute(schema.create_table)
        marks = ", ".join("?" for _ in schema.fields)
        conn.executemany(f"INSERT INTO {schema.table} VALUES ({marks})", rows)
        conn.commit()
    finally:
        conn.close()


# --- questions and SQL --------------------------------------------------------------------

def _mention(rng: random.Random, name: str) -> str:
    return name.replace("_", " ") if "_" in name and rng.random() < 0.5 else name


def _join(rng: random.Random, words: Sequence[str]) -> str:
    if len(words) == 1:
        return words[0]
    if rng.random() < 0.5:
        return ", ".join(words[:-1]) + " and " + words[-1]
    return ", ".join(words)


def _literal(rng: random.Random, schema: Schema, field: Field, seed: int) -> tuple[str, str]:
    """(SQL literal, how the question writes it)."""
    if field.type == "INTEGER":
        v = str(rng.randint(0, 100))
        return v, v
    if field.type == "REAL":
        v = f"{rng.randint(0, 999)}.{rng.randint(0, 9)}"
        return v, v
    v = f"'{rng.choice(_field_values(schema, field, seed))}'"
    return v, v


def make_example(rng: random.Random, schema: Schema, command_set: str, style: str, seed: int):
    """One (question, SQL) pair of a command set; `style` picks train or ood phrasings."""
    question, sql, _ = _example(rng, schema, command_set, style, seed)
    return question, sql


def _example(rng: random.Random, schema: Schema, command_set: str, style: str, seed: int,
             shifted: str | None = None) -> tuple[str, str, set[str]]:
    """(question, SQL, the phrasing elements the question uses). The element `shifted` takes its
    ood phrasing and every other element `style`'s; with none shifted the draws are the same as
    ever, so the splits stay byte-identical."""

    def phrasing(element: str) -> str:
        return "ood" if element == shifted else style

    used: set[str] = set()
    verb = rng.choice(V.VERBS[phrasing("verb")])
    table_words = _mention(rng, schema.table)
    fields = list(schema.fields)

    if command_set == "CS3" or (command_set == "CS4" and rng.random() < 0.3):
        n_aggs = rng.choice((1, 1, 2))
        chosen, aggs_sql, aggs_q = [], [], []
        for _ in range(n_aggs):
            f = rng.choice(fields)
            funcs = ("COUNT", "SUM", "AVG", "MIN", "MAX") if f.numeric else ("COUNT", "MIN", "MAX")
            func = rng.choice(funcs)
            if (func, f) in chosen:
                continue
            chosen.append((func, f))
            aggs_sql.append(f"{func}({f.name}) AS {func.lower()}_{f.name}")
            aggs_q.append(rng.choice(V.AGG_PHRASES[phrasing("aggregate")][func]).format(field=_mention(rng, f.name)))
        sql = f"SELECT {', '.join(aggs_sql)} FROM {schema.table}"
        template = rng.choice(V.AGG_TEMPLATES[phrasing("select")])
        question = template.format(verb=verb, aggs=" and ".join(aggs_q), table=table_words)
        used |= {"select", "aggregate"}
        order = None
    else:
        picked = rng.sample(fields, rng.randint(1, min(3, len(fields))))
        sql = f"SELECT {', '.join(f.name for f in picked)} FROM {schema.table}"
        template = rng.choice(V.SELECT_TEMPLATES[phrasing("select")])
        question = template.format(verb=verb, fields=_join(rng, [_mention(rng, f.name) for f in picked]),
                                   table=table_words)
        used.add("select")
        wants_order = command_set == "CS2" or (command_set == "CS4" and rng.random() < 0.4)
        order = (rng.choice(fields), rng.choice(("ASC", "DESC"))) if wants_order else None

    if command_set == "CS4":
        f = rng.choice(fields)
        op = rng.choice(("=", "!=", ">", "<", ">=", "<=") if f.numeric else ("=", "!="))
        lit_sql, lit_q = _literal(rng, schema, f, seed)
        sql += f" WHERE {f.name} {op} {lit_sql}"
        question += " " + rng.choice(V.WHERE_TEMPLATES[phrasing("where")]).format(
            field=_mention(rng, f.name), op=rng.choice(V.OP_PHRASES[phrasing("operator")][op]), value=lit_q)
        used |= {"where", "operator"}
    if order is not None:
        f, direction = order
        sql += f" ORDER BY {f.name} {direction}"
        question += " " + rng.choice(V.ORDER_PHRASES[phrasing("order")][direction]).format(field=_mention(rng, f.name))
        used.add("order")
    if "{verb}" in template:
        used.add("verb")
    return question, sql, used


# --- the data set on disk -----------------------------------------------------------------

def _draw(rng: random.Random, schemas: Sequence[Schema], n: int, split: str, command_set: str,
          seen: set[tuple[str, str]], patience: int, make) -> list[dict]:
    """`n` rows of `split` for one command set, each a (schema, question) pair not in `seen` (which
    grows). `make(schema)` draws (question, SQL) with `rng`, or None to draw again; at most
    `patience` × n + 1000 draws."""
    rows: list[dict] = []
    for _ in range(patience * n + 1000):
        if len(rows) == n:
            return rows
        schema = rng.choice(schemas)
        drawn = make(schema)
        if drawn is None or (schema.db_id, drawn[0]) in seen:
            continue
        question, sql = drawn
        seen.add((schema.db_id, question))
        rows.append({"id": f"{split}-{command_set}-{len(rows):05d}", "split": split, "group": command_set,
                     "db_id": schema.db_id, "question": question, "context": schema.create_table, "sql": sql})
    if len(rows) == n:
        return rows
    raise RuntimeError(f"TinySQL: could not make {n} distinct {split}/{command_set} examples")


def data_key(cfg) -> str:
    fields = {k: cfg[k] for k in ("seed", "command_sets", "n_train_per_set", "n_validation_per_set",
                                  "n_test_per_set", "n_test_ood_per_set", "n_schemas",
                                  "n_databases", "rows_per_table")}
    fields["command_sets"] = list(fields["command_sets"])
    fields["version"] = GENERATOR_VERSION
    return cache_key(fields)


def _split_sizes(cfg) -> dict[str, int]:
    return {"train": cfg.n_train_per_set, "validation": cfg.n_validation_per_set,
            "test": cfg.n_test_per_set, "test_ood": cfg.n_test_ood_per_set}


def generate(cfg, out_dir: Path) -> None:
    """Write `{split}.jsonl` and `databases/<db_id>/*.sqlite` into out_dir (must not exist)."""
    seed = cfg.seed
    schemas = make_schemas(seed, cfg.n_schemas)
    out_dir.mkdir(parents=True)
    db_root = out_dir / "databases"
    for schema in schemas:
        (db_root / schema.db_id).mkdir(parents=True)
        for variant in range(cfg.n_databases):
            name = schema.db_id if variant == 0 else f"{schema.db_id}_{variant}"
            write_database(db_root / schema.db_id / f"{name}.sqlite", schema, seed, variant,
                           cfg.rows_per_table)

    seen: set[tuple[str, str]] = set()
    sizes = _split_sizes(cfg)
    # Held-out splits first, so train is the one that skips pairs already taken.
    for split in ("test_ood", "test", "validation", "train"):
        style = "ood" if split == "test_ood" else "train"
        rows = []
        for cs in cfg.command_sets:
            rng = _rng(seed, split, cs)
            rows += _draw(rng, schemas, sizes[split], split, cs, seen, 50,
                          lambda schema, cs=cs, rng=rng, style=style: make_example(rng, schema, cs, style, seed))
        with open(out_dir / f"{split}.jsonl", "w") as fh:
            for row in rows:
                fh.write(json.dumps(row, sort_keys=True) + "\n")
    (out_dir / "info.json").write_text(json.dumps(
        {"generator_version": GENERATOR_VERSION, "key": data_key(cfg), "n_schemas": len(schemas),
         "splits": {s: sizes[s] * len(cfg.command_sets) for s in SPLITS}}, indent=2, sort_keys=True))


def ensure_dataset(cfg, cache_dir: str | Path) -> Path:
    """The data set's directory in the cache, generated atomically on first use."""
    final = Path(cache_dir).expanduser() / "data" / f"tinysql-{data_key(cfg)}"

    def complete(d: Path) -> bool:
        return (d / "info.json").is_file()

    if complete(final):
        return final
    return build_dir_atomically(final, lambda tmp: generate(cfg, tmp), complete)


def generate_shifts(cfg, root: Path, out_dir: Path) -> None:
    """Write `test_shift.<element>.jsonl` and `validation_shift.<element>.jsonl` for every element
    into out_dir, for the data set at `root`."""
    seed = cfg.seed
    schemas = {s.db_id: s for s in make_schemas(seed, cfg.n_schemas)}
    schemas_of: dict[str, list[str]] = {"test": [], "validation": []}
    seen: set[tuple[str, str]] = set()
    for split in SPLITS:
        with open(root / f"{split}.jsonl") as fh:
            for line in fh:
                r = json.loads(line)
                seen.add((r["db_id"], r["question"]))
                if split in schemas_of and r["db_id"] not in schemas_of[split]:
                    schemas_of[split].append(r["db_id"])
    out_dir.mkdir(parents=True)
    # test first: its draws do not depend on the validation twins drawn after it
    for base, n_per_set in (("test", cfg.n_test_per_set), ("validation", cfg.n_validation_per_set)):
        for element in SHIFT_ELEMENTS:
            name, rows = f"{base}_shift.{element}", []
            for cs in [c for c in cfg.command_sets if c in SHIFT_SETS[element]]:
                rng = _rng(seed, name, cs)

                def shifted(schema: Schema, cs=cs, rng=rng, element=element) -> tuple[str, str] | None:
                    question, sql, used = _example(rng, schema, cs, "train", seed, shifted=element)
                    return (question, sql) if element in used else None  # the element must be in the question

                rows += _draw(rng, [schemas[d] for d in schemas_of[base]], n_per_set, name, cs, seen, 100, shifted)
            with open(out_dir / f"{name}.jsonl", "w") as fh:
                fh.writelines(json.dumps(row, sort_keys=True) + "\n" for row in rows)
    (out_dir / "info.json").write_text(json.dumps({"shift_version": SHIFT_VERSION, "data_key": data_key(cfg)}))


def ensure_shifts(cfg, cache_dir: str | Path) -> tuple[Path, Path]:
    """(the data set's directory, its graded-shift splits' directory), each generated on first use."""
    root = ensure_dataset(cfg, cache_dir)
    final = root.with_name(f"{root.name}-shift{SHIFT_VERSION}")

    def complete(d: Path) -> bool:
        return (d / "info.json").is_file()

    if not complete(final):
        build_dir_atomically(final, lambda tmp: generate_shifts(cfg, root, tmp), complete)
    return root, final


def load_split(cfg, cache_dir: str | Path, split: str) -> list[Example]:
    shifts = SHIFT_SPLITS + VALIDATION_SHIFT_SPLITS
    if split not in SPLITS + shifts:
        raise ValueError(f"unknown TinySQL split {split!r}: one of {', '.join(SPLITS + shifts)}")
    if split in shifts:
        root, where = ensure_shifts(cfg, cache_dir)
    else:
        root = where = ensure_dataset(cfg, cache_dir)
    examples = []
    with open(where / f"{split}.jsonl") as fh:
        for line in fh:
            r = json.loads(line)
            examples.append(Example(db_dir=str(root / "databases" / r["db_id"]), **r))
    return examples
