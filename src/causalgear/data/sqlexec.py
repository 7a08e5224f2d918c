"""Run untrusted SQL against SQLite: read-only, whitelisted, and bounded in time and memory.

Three independent locks against writes, because `mode=ro` alone still lets `VACUUM INTO` and
`ATTACH` create files: the connection is opened read-only by URI; an
authorizer allows only reads (SELECT, column reads, functions, recursive CTEs) and denies every
other action; attaching is limited to zero databases. Python's sqlite3 refuses multi-statement
strings. The URI also says `immutable=1`, so that nothing is written beside a user's database
either: a read-only connection to a database in WAL mode would otherwise create its `-wal` and
`-shm` files. Before any connection, the path is checked to be a regular, readable file that
begins with SQLite's header (`file_problem`): `sqlite3.connect` on a FIFO blocks until a writer
comes.

Hard bounds, each named in the result when it stops a query (`ExecResult.bound`):
- `wall_clock`: a watchdog thread calls `interrupt()` at the deadline. The progress handler alone
  is not enough: it runs between VM instructions, and one instruction (a `randomblob` of 200 MB)
  can take seconds. One watchdog serves every query: starting a thread per query costs more than
  a small query does.
- `steps`: the progress handler counts VM instructions.
- `value_length`, `sql_length`: SQLite's own length limits, so that no single value or
  statement can be large, which also keeps each instruction short.
- `memory`: SQLite's hard heap limit (process-wide, set through the C API) with temporary
  tables and sorters in memory, so a runaway sort or DISTINCT fails with "out of memory" instead
  of filling the disk.
- `rows`, `result_bytes`: what Python materialises of the result.

Outcomes are remembered (`Remembered`): the same statement on the same unchanged file under the
same budget gives the same outcome, except a stop at the wall clock or at the process-wide heap
limit (both depend on what else runs), which is never kept. Steering and scoring run the same
outputs many times (most interventions leave most answers unchanged).
"""

from __future__ import annotations

import ctypes
import functools
import os
import sqlite3
import stat
import threading
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from causalgear.config import ExecConfig

# Kinds of outcome; everything but "ok" scores as wrong.
OK, ERROR, TIMEOUT, REFUSED, LIMIT = "ok", "error", "timeout", "refused", "limit"

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
# VM instructions between progress-handler calls: small enough to stop within milliseconds.
_PROGRESS_EVERY = 1000


# The `exec` config group is the budget: its fields are declared once, in causalgear.config.
ExecBudget = ExecConfig


def budget_of(exec_cfg) -> ExecBudget:
    """The budget of an `exec` config group (a DictConfig or an ExecConfig)."""
    return exec_cfg if isinstance(exec_cfg, ExecBudget) else ExecBudget(**exec_cfg)


DEFAULT_BUDGET = ExecBudget()


@dataclass(frozen=True)
class ExecResult:
    kind: str
    rows: tuple[tuple, ...] | None = None
    error: str | None = None
    seconds: float = 0.0
    bound: str | None = None  # the hard bound that stopped the query, if one did

    @property
    def ok(self) -> bool:
        return self.kind == OK


def normalize_sql(sql: str) -> str:
    """Undo tokenizer spacing inside operators (as Spider's evaluator does) and drop trailing ';'."""
    sql = sql.strip()
    for spaced, op in (("> =", ">="), ("< =", "<="), ("! =", "!=")):
        sql = sql.replace(spaced, op)
    return sql.rstrip("; \t\n")


def _sqlite_library() -> ctypes.CDLL | None:
    try:
        import _sqlite3

        lib = ctypes.CDLL(_sqlite3.__file__)
        lib.sqlite3_hard_heap_limit64.restype = ctypes.c_int64
        lib.sqlite3_hard_heap_limit64.argtypes = [ctypes.c_int64]
        return lib
    except (ImportError, OSError, AttributeError):  # a build without the symbol: the other bounds still hold
        return None


_LIB = _sqlite_library()
_heap_lock = threading.Lock()


def _set_heap_limit(n_bytes: int) -> None:
    if _LIB is None:
        return
    with _heap_lock:
        if _LIB.sqlite3_hard_heap_limit64(-1) != n_bytes:  # -1 reads the limit without setting it
            _LIB.sqlite3_hard_heap_limit64(n_bytes)


class _Watchdog:
    """One daemon thread that calls each registered callback at its deadline, unless cancelled first.
    A callback runs under the lock, so once `cancel` returns it can no longer run."""

    def __init__(self):
        self._cond = threading.Condition()
        self._due: dict[int, tuple[float, Callable[[], None]]] = {}
        self._next = 0
        self._thread: threading.Thread | None = None

    def watch(self, deadline: float, callback: Callable[[], None]) -> int:
        with self._cond:
            if self._thread is None or not self._thread.is_alive():  # first use, or a forked process
                self._thread = threading.Thread(target=self._run, name="causalgear-sql-watchdog", daemon=True)
                self._thread.start()
            self._next += 1
            self._due[self._next] = (deadline, callback)
            self._cond.notify()
            return self._next

    def cancel(self, token: int) -> None:
        with self._cond:
            self._due.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                for token in [t for t, (at, _) in self._due.items() if at <= now]:
                    self._due.pop(token)[1]()
                nearest = min((at for at, _ in self._due.values()), default=None)
                self._cond.wait(None if nearest is None else nearest - now)


_WATCHDOG = _Watchdog()


SQLITE_HEADER = b"SQLite format 3\x00"
_KINDS = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "named pipe"), (stat.S_ISSOCK, "socket"),
          (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))


def file_problem(path: str | Path) -> str | None:
    """Why `path` is not a file SQLite may open (missing, not a regular file, unreadable, no SQLite
    header), or None. Opened without blocking and checked on the open descriptor, so that a FIFO,
    a device or a socket is refused, never waited on."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "special file")
            return f"is a {kind}, not a regular file"
        head = os.read(fd, len(SQLITE_HEADER))
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    finally:
        os.close(fd)
    if head != SQLITE_HEADER:
        return "is empty, not an SQLite database" if not head else "is not an SQLite database (no SQLite header)"
    return None


class DatabaseFileError(FileNotFoundError):
    """A database path that no connection may be opened on; the message names it and why."""


def _read_only_uri(path: Path) -> str:
    return "file:" + urllib.parse.quote(str(path)) + "?mode=ro&immutable=1"


def _connect_read_only(db_path: Path, budget: ExecBudget) -> sqlite3.Connection:
    if (problem := file_problem(db_path)) is not None:
        raise DatabaseFileError(f"database {db_path} {problem}")
    conn = sqlite3.connect(_read_only_uri(db_path.resolve()), uri=True, check_same_thread=False)
    # Spider's databases hold some bytes that are not UTF-8; the official evaluator ignores them.
    conn.text_factory = lambda b: b.decode(errors="ignore")
    conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    conn.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, budget.max_value_bytes)
    conn.setlimit(sqlite3.SQLITE_LIMIT_SQL_LENGTH, budget.max_sql_bytes)
    conn.execute("PRAGMA temp_store = MEMORY")  # before the authorizer: a sort never spills to disk
    return conn


def database_problem(db_path: str | Path) -> str | None:
    """Why the SQLite file at `db_path` cannot be trusted, as a phrase to follow its name (not a
    regular SQLite file, or damaged pages), or None: `file_problem`, then SQLite's own `PRAGMA
    quick_check`, read-only. Remembered per file state, so that a split's databases are checked
    once per process however often the split is loaded."""
    if (problem := file_problem(db_path)) is not None:
        return problem
    try:
        return _database_problem(str(Path(db_path).resolve()), file_identity(db_path))
    except (OSError, RuntimeError) as err:  # RuntimeError: a symlink loop met by resolve()
        return f"cannot be read ({getattr(err, 'strerror', None) or err})"


def file_identity(path: str | Path) -> tuple[int, int, int, int]:
    """(device, inode, mtime in ns, size) from one stat call: what a remembered answer about a file is
    keyed by, so that a changed file is asked again; the same for a file reached by another path.
    Raises OSError where the file cannot be stat'ed."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_mtime_ns, st.st_size


def budget_key(budget: ExecBudget) -> tuple:
    """The budget's values, as a key taken now (a budget is a mutable dataclass)."""
    return tuple(vars(budget).values())


@functools.lru_cache(maxsize=4096)
def _database_problem(path: str, _identity: tuple[int, int, int, int]) -> str | None:
    try:
        conn = sqlite3.connect(_read_only_uri(Path(path)), uri=True)
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as err:
        return f"is damaged ({err})"
    problems = [str(r[0]) for r in rows if r[0] != "ok"]
    return f"is damaged ({'; '.join(problems)[:200]})" if problems else None


def _size(value: object) -> int:
    return len(value) if isinstance(value, str | bytes) else 8


def too_long(sql: str, budget: ExecBudget) -> ExecResult | None:
    """The `sql_length` verdict for a statement over the budget, or None: checked before any work
    on the text (parsing it would cost its size again)."""
    if len(sql.encode(errors="replace")) > budget.max_sql_bytes:
        return ExecResult(LIMIT, error=f"statement longer than {budget.max_sql_bytes} bytes", bound="sql_length")
    return None


class Outcome(Protocol):
    """What `Remembered` keeps: an `ExecResult`, or a scoring verdict (`data.scoring.Verdict`)."""

    kind: str
    error: str | None
    bound: str | None


class Remembered:
    """Outcomes (or verdicts) by key, the least recently used dropped first once their rows pass
    `max_bytes` (each counts its rows, its error and a fixed 64 for itself)."""

    def __init__(self, max_bytes: int):
        self.max_bytes, self.bytes = max_bytes, 0
        self._items: OrderedDict[Hashable, tuple[Outcome, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Outcome | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: Hashable, result: Outcome) -> None:
        """Keeps `result` (an outcome, or a scoring verdict: both say their kind, bound and error)
        unless a timeout or the memory bound stopped it: another try may end otherwise."""
        if result.kind == TIMEOUT or result.bound == "memory":
            return
        rows = getattr(result, "rows", None)
        size = sum(_size(v) for row in rows or () for v in row) + len(result.error or "") + 64
        if size > self.max_bytes // 16:  # one large result would push out many small ones
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (result, size)
            self.bytes += size
            while self.bytes > self.max_bytes:
                _, (_, dropped) = self._items.popitem(last=False)
                self.bytes -= dropped


REMEMBERED = Remembered(64 * 2**20)


def execute(db_path: str | Path, sql: str, budget: ExecBudget = DEFAULT_BUDGET) -> ExecResult:
    """Run one SELECT on a database file. Never writes; returns instead of raising on bad SQL.
    An outcome this process already met for the statement on the file as it is now is given again."""
    sql = normalize_sql(sql)
    if (over := too_long(sql, budget)) is not None:
        return over
    path = Path(db_path)
    try:
        key = (*file_identity(path), sql, budget_key(budget))
    except OSError:
        return _execute(path, sql, budget)  # _connect_read_only names the missing file
    if (known := REMEMBERED.get(key)) is not None:
        return known
    result = _execute(path, sql, budget)
    REMEMBERED.put(key, result)
    return result


def _execute(db_path: Path, sql: str, budget: ExecBudget) -> ExecResult:
    start = time.monotonic()
    _set_heap_limit(budget.max_heap_bytes)
    conn = _connect_read_only(db_path, budget)
    denied: list[int] = []
    stopped: list[str] = []
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
            stopped.append("wall_clock")
            return 1
        if steps > budget.max_steps:
            stopped.append("steps")
            return 1
        return 0

    def at_deadline() -> None:
        stopped.append("wall_clock")
        conn.interrupt()

    def elapsed() -> float:
        return time.monotonic() - start

    conn.set_authorizer(authorizer)
    conn.set_progress_handler(progress, _PROGRESS_EVERY)
    watch = _WATCHDOG.watch(start + budget.timeout_s, at_deadline)
    try:
        cursor = conn.execute(sql)
        rows, n_bytes = [], 0
        for row in cursor:
            rows.append(tuple(row))
            n_bytes += sum(_size(v) for v in row)
            if len(rows) > budget.max_rows:
                return ExecResult(LIMIT, error=f"more than {budget.max_rows} rows", seconds=elapsed(), bound="rows")
            if n_bytes > budget.max_result_bytes:
                return ExecResult(LIMIT, error=f"result larger than {budget.max_result_bytes} bytes",
                                  seconds=elapsed(), bound="result_bytes")
        return ExecResult(OK, rows=tuple(rows), seconds=elapsed())
    except sqlite3.ProgrammingError as err:  # multi-statement strings among others
        kind = REFUSED if "one statement" in str(err) else ERROR
        return ExecResult(kind, error=str(err), seconds=elapsed())
    except sqlite3.Error as err:
        return _classify(err, stopped, denied, budget, elapsed())
    except MemoryError:
        return ExecResult(LIMIT, error="out of memory", seconds=elapsed(), bound="memory")
    except (OverflowError, ValueError) as err:
        return ExecResult(ERROR, error=f"{type(err).__name__}: {err}", seconds=elapsed())
    finally:
        _WATCHDOG.cancel(watch)
        conn.close()


def _classify(err: sqlite3.Error, stopped: list[str], denied: list[int], budget: ExecBudget,
              seconds: float) -> ExecResult:
    msg = str(err)
    if stopped:
        bound = stopped[0]
        limit = f"wall-clock limit {budget.timeout_s}s" if bound == "wall_clock" else f"step budget {budget.max_steps}"
        return ExecResult(TIMEOUT, error=f"stopped at {limit}", seconds=seconds, bound=bound)
    if "too big" in msg:
        return ExecResult(LIMIT, error=f"{msg} (a value over {budget.max_value_bytes} bytes)", seconds=seconds,
                          bound="value_length")
    if "out of memory" in msg:
        return ExecResult(LIMIT, error=f"{msg} (SQLite's heap limit is {budget.max_heap_bytes} bytes)",
                          seconds=seconds, bound="memory")
    if denied or "readonly" in msg or "not authorized" in msg:
        return ExecResult(REFUSED, error=msg, seconds=seconds)
    return ExecResult(ERROR, error=msg, seconds=seconds)
