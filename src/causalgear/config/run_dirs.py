"""Run dirs that two runs never share (`hydra.run.dir` / `hydra.sweep.dir` in conf/config.yaml)."""

from __future__ import annotations

from pathlib import Path


def unique_dir(path: str) -> str:
    """`path`, else `path-1`, `path-2`, ...: the first that did not exist, claimed by creating it
    (mkdir is atomic across processes), so that two runs started in the same second never share a
    run dir. Registered with a cache: every read of one config's run dir gets the same answer."""
    base = Path(path)
    base.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        candidate = base if n == 0 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            n += 1
            continue
        return str(candidate)
