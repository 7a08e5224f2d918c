"""The SAE health gate: an SAE that fails it reconstructs too little, or fires too
densely, or wastes its dictionary, for its latents to be read as features. Light (no torch):
the report reads it."""

from __future__ import annotations

HEALTH_GATE = {"explained_variance": (">=", 0.9), "density": ("<=", 0.1), "dead_fraction": ("<=", 0.1)}


def health(metrics: dict) -> list[str]:
    """The health gate's failures, each naming the figure and its bound; empty when it passes."""
    failed = []
    for key, (op, bound) in HEALTH_GATE.items():
        value = metrics.get(key)
        if value is None or (value < bound if op == ">=" else value > bound):
            failed.append(f"{key} {value if value is None else round(value, 3)} (needs {op} {bound})")
    return failed


def gate_text() -> str:
    """The gate in words, e.g. "explained_variance >= 0.9, density <= 0.1, dead_fraction <= 0.1"."""
    return ", ".join(f"{k} {op} {b}" for k, (op, b) in HEALTH_GATE.items())
