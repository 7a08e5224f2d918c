"""Run untrusted SQL against SQLite: read-only, whitelisted, and bounded in time and steps.

Three independent locks, because `mode=ro` alone still lets `VACUUM INTO` and `ATTACH` create
files (measured on SQLite 3.40): the connection is opened read-only by URI; an authorizer
allows only reads (SELECT, column reads, functions, recursive CTEs) and denies every other
action; attaching is limited to zero databases. Python's sqlite3 refuses multi-statement
strings. A progress handler stops a query past its wall-clock limit or VM-step budget.
"""

from __future__ import annotations

import sqlite3
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

# Kinds of outcome; everything but "ok" scores as wrong.
OK, ERROR, TIMEOUT, REFUSED = "ok", "error", "timeout", "refused"

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
# VM instructions between progress-handler calls: small enough to stop within milliseconds.
_PROGRESS_EVERY = 1000


@dataclass(frozen=True)
class ExecBudget:
    timeout_s: float = 2.0
    max_steps: int = 50_000_000
    max_rows: int = 100_000

    @classmethod
    def from_config(cls, exec_cfg) -> ExecBudget:
        """The budget of the `exec` config group."""
        return cls(exec_cfg.timeout_s, exec_cfg.max_steps, exec_cfg.max_rows)


DEFAULT_BUDGET = ExecBudget()


@dataclass(frozen=True)
class ExecResult:
    kind: str
    rows: tuple[tuple, ...] | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == OK


def normalize_sql(sql: str) -> str:
    """Undo tokenizer spacing inside operators (as Spider's evaluator does) and drop trailing ';'."""
    sql = sql.strip()
    for spaced, op in (("> =", ">="), ("< =", "<="), ("! =", "!=")):
        sql = sql.replace(spaced, op)
    return sql.rstrip("; \t\n")


def _connect_read_only(db_path: Path) -> sqlite3.Connection:
    if not db_path.is_file():
        raise FileNotFoundError(f"database file not found: {db_path}")
    uri = "file:" + urllib.parse.quote(str(db_path.resolve())) + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
    # Spider's databases hold some bytes that are not UTF-8; the official evaluator ignores them.
    conn.text_factory = lambda b: b.decode(errors="ignore")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    return conn


def execute(db_path: str | Path, sql: str, budget: ExecBudget = DEFAULT_BUDGET) -> ExecResult:
    """Run one SELECT on a database file. Never writes; returns instead of raising on bad SQL."""
    conn = _connect_read_only(Path(db_path))
    denied: list[int] = []
    stopped: list[str] = []
    start = time.monotonic()
    steps = 0

    def authorizer(action: int, *_: object) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        denied.append(action)
        return sqlite3.SQLITE_DENY

    def progress() -> int:
        nonlocal steps
        steps += _PROGRESS_EVERY
        if time.monotonic() - start > budget.timeout_s:
            stopped.append(f"wall-clock limit {budget.timeout_s}s")
            return 1
        if steps > budget.max_steps:
            stopped.append(f"step budget {budget.max_steps}")
            return 1
        return 0

    conn.set_authorizer(authorizer)
    conn.set_progress_handler(progress, _PROGRESS_EVERY)
    try:
        cursor = conn.execute(normalize_sql(sql))
        rows = cursor.fetchmany(budget.max_rows + 1)
        if len(rows) > budget.max_rows:
            return ExecResult(ERROR, error=f"more than {budget.max_rows} rows", seconds=time.monotonic() - start)
        return ExecResult(OK, rows=tuple(tuple(r) for r in rows), seconds=time.monotonic() - start)
    except sqlite3.ProgrammingError as err:  # multi-statement strings among others
        kind = REFUSED if "one statement" in str(err) else ERROR
        return ExecResult(kind, error=str(err), seconds=time.monotonic() - start)
    except sqlite3.Error as err:
        if stopped:
            kind, msg = TIMEOUT, f"stopped at {stopped[0]}"
        elif denied or "readonly" in str(err) or "not authorized" in str(err):
            kind, msg = REFUSED, str(err)
        else:
            kind, msg = ERROR, str(err)
        return ExecResult(kind, error=msg, seconds=time.monotonic() - start)
    except (OverflowError, MemoryError, ValueError) as err:
        return ExecResult(ERROR, error=f"{type(err).__name__}: {err}", seconds=time.monotonic() - start)
    finally:
        conn.close()
