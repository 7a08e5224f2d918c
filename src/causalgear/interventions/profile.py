"""Which part of the SQL an intervention changes: its effect on each component, and how much of
that effect falls on one component (causal precision) rather than on all of them (damage).

Per component, the change of correctness (treated minus unedited, paired per prompt, with a
bootstrap interval) on the prompts whose gold query has that component; beside it, the change on
the prompts whose gold lacks it (an intervention that adds an ORDER BY nobody asked for shows
there). The target is the component the intervention moves most; precision is |Δ target| minus
the mean |Δ| of the other components, selectivity |Δ target| / Σ |Δ|.
"""

from __future__ import annotations

import numpy as np

from causalgear.data.components import COMPONENTS, component_correct, components
from causalgear.interventions.statistics import paired_bootstrap


def correctness(examples, predictions) -> np.ndarray:
    """[n, components]: 1.0 right, 0.0 wrong; a component neither gold nor prediction has is right."""
    rows = [component_correct(e.sql, p) for e, p in zip(examples, predictions, strict=True)]
    return np.array([[1.0 if r[c] is None else r[c] for c in COMPONENTS] for r in rows])


def gold_has(examples) -> np.ndarray:
    """[n, components]: which components each gold query has."""
    parsed = [components(e.sql) or {} for e in examples]
    return np.array([[p.get(c) is not None for c in COMPONENTS] for p in parsed])


def _moved(base: np.ndarray, treated: np.ndarray, has: np.ndarray) -> dict[int, float]:
    """|mean change of correctness| of each component, on the prompts whose gold has it."""
    return {i: abs(float((treated[has[:, i], i] - base[has[:, i], i]).mean()))
            for i in range(len(COMPONENTS)) if has[:, i].any()}


def _precision(moved: dict, target) -> float:
    others = [v for c, v in moved.items() if c != target]
    return moved.get(target, 0.0) - (float(np.mean(others)) if others else 0.0)


def profile(base: np.ndarray, treated: np.ndarray, has: np.ndarray, n_boot: int, seed: int) -> dict:
    per: dict[str, dict] = {}
    for i, c in enumerate(COMPONENTS):
        on, off = has[:, i], ~has[:, i]
        row = {"n": int(on.sum()), "delta": None, "ci_low": None, "ci_high": None,
               "absent_n": int(off.sum()), "absent_delta": float((treated[off, i] - base[off, i]).mean()) if off.any()
               else None}
        if on.any():
            row.update(paired_bootstrap(base[on, i], treated[on, i], n_boot, seed).as_dict())
        per[c] = row
    moved = {c: abs(r["delta"]) for c, r in per.items() if r["delta"] is not None}
    if not moved or max(moved.values()) == 0:
        return {"profile": per, "target_component": None, "precision": 0.0, "selectivity": None}
    target = max(moved, key=moved.get)
    return {"profile": per, "target_component": target, "precision": _precision(moved, target),
            "selectivity": moved[target] / sum(moved.values())}


def precision_interval(base: np.ndarray, treated: np.ndarray, has: np.ndarray, n_boot: int, seed: int,
                       level: float = 0.95) -> tuple[float, float]:
    """A percentile interval of the precision over prompts resampled with replacement (the target
    component fixed as measured), paired as the accuracy intervals are."""
    moved = _moved(base, treated, has)
    if not moved or max(moved.values()) == 0:
        return 0.0, 0.0
    target = max(moved, key=moved.get)
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(base), len(base))
        stats.append(_precision(_moved(base[idx], treated[idx], has[idx]), target))
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
