"""Runs written before a method's random-SAE control became its `twin` field: their JSON rewritten
to today's layout, so that `run_diff.py --old-layout` compares them leaf by leaf with a new run.

Before, a control sat beside its method under its own name in every `methods` map (steering.json's
split and concept-steering methods, causal.json's cause / isolate methods): `random_sae_X` beside
`X`, `gated_random_sae_X` beside `gated_X`, and the split's twin named itself in its `method`
field. Now it is `methods.X.twin` and names its method. Steering's GrAInS fields were renamed for
what they hold: `position` (where F is read) is `readout`, `top_tokens` (the prompt tokens
perturbed) is `perturbed_tokens`.

  python bench/twin_layout.py FILE.json...   (rewrites each file in place)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OLD = "random_sae_"


def nest(doc):
    """`doc` with every old-layout twin moved into its method's `twin` field."""
    if isinstance(doc, list):
        return [nest(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    out = {k: nest(v) for k, v in doc.items()}
    if isinstance(out.get("methods"), dict):
        out["methods"] = _nest_methods(out["methods"])
    return out


def _nest_methods(methods: dict) -> dict:
    out = {}
    for name, m in methods.items():
        gated = name.startswith("gated_")
        base = name.removeprefix("gated_")
        if base.startswith(OLD):
            method = ("gated_" if gated else "") + base.removeprefix(OLD)
            twin = dict(m)
            if "method" in twin:
                twin["method"] = method
            out.setdefault(method, methods.get(method, {}))
            out[method] = {**out[method], "twin": twin}
        else:
            out[name] = {**m, **({"twin": out[name]["twin"]} if name in out and "twin" in out[name] else {})}
    return out


# steering's files: old key -> new, wherever it sits in them
RENAMED = {"position": "readout", "top_tokens": "perturbed_tokens"}


def renamed(doc):
    """`doc` with steering's GrAInS keys under their new names."""
    if isinstance(doc, list):
        return [renamed(v) for v in doc]
    if not isinstance(doc, dict):
        return doc
    return {RENAMED.get(k, k): renamed(v) for k, v in doc.items()}


def upgrade(doc, rel_path: str):
    """A run file's JSON (`rel_path`: where it sits in its run dir) in today's layout."""
    doc = nest(doc)
    if Path(rel_path).name == "pipeline.json" and isinstance(doc.get("steering"), dict):  # method maps by split
        doc["steering"] = {split: _nest_methods(m) for split, m in doc["steering"].items()}
    return renamed(doc) if Path(rel_path).name in ("steering.json", "attributions.json") else doc


def main(paths: list[str]) -> None:
    for p in map(Path, paths):
        p.write_text(json.dumps(upgrade(json.loads(p.read_text()), p.as_posix()), indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
