"""Two pipeline runs compared leaf by leaf: every number, string and flag of every JSON file the
stages wrote, seconds, paths and provenance aside. For a regression check (the same code on the
same machine must give the same leaves) and for how far a setting moves the figures (another
kernel path, another processor). Ends with one JSON line.

  python bench/run_diff.py RUN_A RUN_B [--show 40] [--old-layout]

`--old-layout`: RUN_A was written before the layout of `bench/twin_layout.py` (a method's random-SAE
control as its `twin`, GrAInS' keys renamed) and is read in today's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# leaves that say when, where or how long, not what was found
SKIP_KEYS = ("seconds", "seconds_by_part", "provenance", "path", "dir", "store", "source", "sae_path", "built_on",
             "card_seconds", "training_seconds", "tokens_per_second", "timings_ms", "commit", "machine", "spider_dir")


def leaves(obj, at: str = ""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k in SKIP_KEYS or k.endswith(("_seconds", "_path", "_dir")):
                continue
            yield from leaves(v, f"{at}.{k}" if at else k)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, f"{at}[{i}]")
    elif not (isinstance(obj, str) and obj.startswith("/")):  # an absolute path names where, not what
        yield at, obj


def run_leaves(run: Path, old_layout: bool = False) -> dict[str, object]:
    from twin_layout import upgrade

    out = {}
    for path in sorted(run.rglob("*.json")):
        rel = path.relative_to(run).as_posix()
        if rel.startswith(("wandb/", ".hydra/")) or "/wandb/" in rel:
            continue
        doc = json.loads(path.read_text())
        out.update({f"{rel}:{k}": v for k, v in leaves(upgrade(doc, rel) if old_layout else doc)})
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--show", type=int, default=40, help="differing leaves to print")
    p.add_argument("--old-layout", action="store_true", help="read RUN_A in today's layout (bench/twin_layout.py)")
    args = p.parse_args()
    a, b = run_leaves(args.a, args.old_layout), run_leaves(args.b)
    shared = sorted(set(a) & set(b))
    differ = [k for k in shared if a[k] != b[k]]
    numeric = [k for k in differ if isinstance(a[k], int | float) and isinstance(b[k], int | float)
               and not isinstance(a[k], bool)]
    for k in differ[:args.show]:
        print(f"{k}: {a[k]!r} -> {b[k]!r}")
    by_file: dict[str, int] = {}
    for k in differ:
        by_file[k.split(":")[0]] = by_file.get(k.split(":")[0], 0) + 1
    for k in sorted(set(a) ^ set(b))[:args.show]:
        print(f"only in {'a' if k in a else 'b'}: {k}")
    print(json.dumps({"leaves": len(shared), "only_a": len(set(a) - set(b)), "only_b": len(set(b) - set(a)),
                      "differ": len(differ), "differ_by_file": by_file,
                      "max_abs_numeric_difference": max((abs(a[k] - b[k]) for k in numeric), default=0.0)}))


if __name__ == "__main__":
    main()
