"""A user's own text-to-SQL data: a JSONL file, one example per row, with `question`, `context`
(CREATE TABLE statements), `sql` (the gold query) and `db` (its SQLite file, relative to the
JSONL's folder and inside it), and an optional `group` (any label the user reports by).

Every row is checked when the file is read: a bad row stops the load with one line naming the
row number, before any model is loaded. Its gold SQL must run on its database (read-only, under
the `exec` budget), or no prediction on it could be scored.
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from pathlib import Path

from causalgear.data.examples import Example
from causalgear.data.sqlexec import DEFAULT_BUDGET, ExecBudget, database_problem, execute
from causalgear.errors import CausalgearError

REQUIRED = ("question", "context", "sql", "db")
SPLITS = ("all", "train", "test")


def _refuse(path: Path, n: int, why: str) -> CausalgearError:
    return CausalgearError(f"{path} row {n}: {why}")


def _example(path: Path, folder: Path, n: int, line: str, budget: ExecBudget) -> Example:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as err:
        raise _refuse(path, n, f"not JSON ({err.msg})") from None
    if not isinstance(row, dict):
        raise _refuse(path, n, f"a JSON {type(row).__name__}, not an object with {', '.join(REQUIRED)}")
    for key in REQUIRED:
        if not isinstance(row.get(key), str) or not row[key].strip():
            raise _refuse(path, n, f"missing field {key!r} (each row needs {', '.join(REQUIRED)} as non-empty "
                                   f"strings; group is optional)")
    try:
        db = (folder / row["db"]).resolve()
    except (RuntimeError, OSError) as err:  # RuntimeError: a symlink loop
        raise _refuse(path, n, f"db {row['db']!r} cannot be resolved ({err})") from None
    if not db.is_relative_to(folder):
        raise _refuse(path, n, f"db {row['db']!r} is outside {folder}: a row's database must sit in the "
                               f"JSONL's folder or below it")
    if (problem := database_problem(db)) is not None:
        raise _refuse(path, n, f"db {row['db']!r} {problem}")
    gold = execute(db, row["sql"], budget)
    if not gold.ok:
        raise _refuse(path, n, f"its sql does not run on {row['db']} ({gold.kind}: {gold.error or gold.bound})")
    return Example(id=f"row-{n:05d}", split="all", group=str(row.get("group") or "all"), db_id=db.stem,
                   question=" ".join(row["question"].split()), context=" ".join(row["context"].split()),
                   sql=row["sql"].strip(), db_dir=str(db))


def _text(path: Path, n: int, line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _refuse(path, n, f"not UTF-8 (byte {line[err.start]:#04x} at column {err.start + 1}); save the "
                               "file as UTF-8") from None


def read_rows(path: str | Path, budget: ExecBudget = DEFAULT_BUDGET) -> list[Example]:
    """Every row of the JSONL at `path`, checked (blank lines are skipped)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CausalgearError(f"data.path={str(path)!r} is not a file: a JSONL of {', '.join(REQUIRED)} rows")
    folder = path.parent.resolve()
    lines = path.read_bytes().splitlines()
    examples = [_example(path, folder, n, _text(path, n, line), budget) for n, line in enumerate(lines, 1)
                if line.strip()]
    if not examples:
        raise CausalgearError(f"{path} has no rows")
    return examples


def read_rows_once(path: str | Path) -> list[Example]:
    """`read_rows` under the default budget, once per state of the file in this process: every
    stage loads its splits through a fresh source, and each read runs every row's gold SQL."""
    p = Path(path).expanduser()
    if not p.is_file():
        return read_rows(p)  # its error
    st = p.stat()
    return list(_read_cached(str(p.resolve()), st.st_mtime_ns, st.st_size))


@functools.lru_cache(maxsize=8)
def _read_cached(path: str, _mtime_ns: int, _size: int) -> tuple[Example, ...]:
    return tuple(read_rows(path))


def duplicate_key(e: Example) -> tuple[str, str, str]:
    """What makes two rows the same question: its words, its schema and its database."""
    return e.question.lower(), e.context, e.db_dir


def duplicates(examples: list[Example]) -> int:
    """Rows that repeat an earlier row's question on the same schema and database."""
    return len(examples) - len({duplicate_key(e) for e in examples})


def split_rows(examples: list[Example], split: str, test_fraction: float, seed: int) -> list[Example]:
    """`all`, or a seeded partition into `train` (harvest and fit) and `test` (evaluate and steer).
    Repeated rows (`duplicate_key`) fall on one side together, so no question is on both; without
    repeats the partition is a shuffle of the rows."""
    if split == "all":
        return examples
    groups: dict[tuple, list[int]] = {}
    for i, e in enumerate(examples):
        groups.setdefault(duplicate_key(e), []).append(i)
    order = list(groups.values())
    random.Random(seed).shuffle(order)
    n_test, test = round(test_fraction * len(examples)), []
    for rows in order:
        if len(test) >= n_test:
            break
        test.extend(rows)
    chosen = sorted(test if split == "test" else set(range(len(examples))) - set(test))
    return [Example(**{**examples[i].as_dict(), "split": split}) for i in chosen]


def file_hash(path: str | Path) -> str:
    """The JSONL's sha256: its rows are part of every cache key built on them."""
    return hashlib.sha256(Path(path).expanduser().read_bytes()).hexdigest()
