"""Paired bootstrap intervals: the same prompts with and without an intervention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Interval:
    delta: float  # mean(treated) - mean(baseline)
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict:
        return {"delta": self.delta, "ci_low": self.low, "ci_high": self.high, "n": self.n}


def flips(baseline, treated) -> dict:
    """What an intervention did prompt by prompt (1 = right): how many it fixed and broke, the fix rate
    P(right after | wrong before), the break rate P(wrong after | right before), and McNemar's exact
    p-value (a two-sided binomial test on the discordant pairs; 1.0 when there are none)."""
    from scipy.stats import binomtest

    a = np.asarray(baseline, dtype=bool)
    b = np.asarray(treated, dtype=bool)
    fixed, broken = int((~a & b).sum()), int((a & ~b).sum())
    wrong, right = int((~a).sum()), int(a.sum())
    p = binomtest(fixed, fixed + broken, 0.5).pvalue if fixed + broken else 1.0
    return {"fixed": fixed, "broken": broken, "fix_rate": fixed / wrong if wrong else None,
            "break_rate": broken / right if right else None, "mcnemar_p": float(p)}


def paired_bootstrap(baseline, treated, n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> Interval:
    """Percentile interval of the mean paired difference, resampling prompts with replacement."""
    a = np.asarray(baseline, dtype=np.float64)
    b = np.asarray(treated, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise ValueError(f"paired samples must be two equal, non-empty 1-d arrays (got {a.shape} and {b.shape})")
    diff = b - a
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(n_boot, len(diff)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return Interval(float(diff.mean()), float(low), float(high), len(diff))


def proportion(x: np.ndarray) -> dict:
    """Share with its Wilson 95% interval."""
    from scipy.stats import binomtest

    n, k = len(x), int(np.sum(x))
    if n == 0:
        return {"rate": None, "ci_low": None, "ci_high": None, "n": 0}
    ci = binomtest(k, n).proportion_ci(method="wilson")
    return {"rate": k / n, "ci_low": float(ci.low), "ci_high": float(ci.high), "n": n}
