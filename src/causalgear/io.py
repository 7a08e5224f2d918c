"""Atomic writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from filelock import FileLock

from causalgear.errors import CausalgearError


def follow_umask(path: str | Path) -> None:
    """Give a file the permissions a plain open() would (safetensors and mkstemp write 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        follow_umask(tmp)  # mkstemp makes the file private (0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe(directory: Path) -> str | None:
    if not directory.is_dir():
        return f"{directory} is not a writable directory"
    try:  # a real file, not os.access: root passes access() on read-only mounts and /proc alike
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".causalgear-probe-"):
            pass
    except OSError as err:
        return f"{directory} is not a writable directory ({err.strerror})"
    return None


def write_problem(out: str | Path) -> str | None:
    """Why the file `out` cannot be written, or None: checked before the work, so that nothing
    is lost at its end (an existing directory, a path under a file, /proc, a read-only mount)."""
    out = Path(out)
    if out.is_dir():
        return "is a directory"
    if out.exists() and not os.access(out, os.W_OK):
        return "is not writable"
    return _probe(_nearest_existing(out.parent if str(out.parent) else Path(".")))


def dir_write_problem(out: str | Path) -> str | None:
    """Why files cannot be written into the folder `out` (made if absent), or None."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        return "is not a directory"
    return _probe(_nearest_existing(out))


# every cache key is this many hex digits of a sha256: 64 bits, no collision among a cache's entries
KEY_LENGTH = 16


def cache_key(blob) -> str:
    """The cache key of a JSON-able description of what an entry is made from (sorted keys)."""
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:KEY_LENGTH]


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _finite(obj):
    """NaN and infinity are not JSON: write them as null (e.g. an undefined rank correlation)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


def read_json(path: str | Path, remedy: str) -> object:
    """The JSON document at `path`. One that is not whole (truncated, random bytes, not UTF-8) is
    one CausalgearError naming the file and `remedy` (what rewrites it), never a traceback from
    deep inside a stage."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
        raise CausalgearError(f"{path} is not whole JSON ({str(err)[:80]}); {remedy}") from None


def write_json(path: str | Path, obj) -> None:
    write_text(path, json.dumps(_finite(obj), indent=2, allow_nan=False) + "\n")


def remove_stale_builds(parent: Path) -> None:
    """Remove `*.tmp-<pid>` build dirs in `parent` whose process is gone (killed runs' leftovers)."""
    if not parent.is_dir():
        return
    for stale in parent.glob("*.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(stale, ignore_errors=True)


def cache_lock(final: Path) -> FileLock:
    """The lock that one build (or rebuild) of the cache entry `final` holds: a second process
    waits, then finds the entry built."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(final.with_name(f"{final.name}.lock"))


def build_dir_atomically(final: Path, build: Callable[[Path], object], complete: Callable[[Path], bool],
                         locked: bool = False) -> Path:
    """Build a cache directory in `<final>.tmp-<pid>` and rename it to `final` when complete.

    A reader sees no directory or a whole one. Builds of one entry are serialised by its lock
    (`locked=True`: the caller holds it already); one that finds the entry complete keeps it.
    Leftovers of killed runs (their pid is gone) are removed first. `build(tmp)` creates `tmp`.
    """
    if not locked:
        with cache_lock(final):
            return build_dir_atomically(final, build, complete, locked=True)
    if final.exists() and complete(final):
        return final
    remove_stale_builds(final.parent)
    tmp = final.with_name(f"{final.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build(tmp)
    os.rename(tmp, final)
    return final
