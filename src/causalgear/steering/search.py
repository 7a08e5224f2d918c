"""One select-then-report search: every choice a steering method makes (its latent and scale) is
made on the selection prompts, and only then is the chosen point measured on the test prompts.

The rule, written once for every user (steering's methods, concept steering): the point with the
best selection score; ties go to the smaller scale, then to the point tried first (the feature
before the latents tried beside it). Nothing from the test side reaches the choice: `report` is
called once, with the chosen point, after every selection score is in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from causalgear.logs import bar as progress_bar

T = TypeVar("T")
Point = tuple[int | None, float]


@dataclass(frozen=True)
class Choice(Generic[T]):
    """The chosen point, every point's selection score (`curve`), and what `report` measured there."""

    latent: int | None
    scale: float
    score: float
    curve: list[dict]
    report: T


def select_then_report(points: Sequence[Point], on_selection: Callable[[Point], float],
                       report: Callable[[Point], T], *, measure: str = "score", desc: str = "",
                       unit: str = "scale") -> Choice[T]:
    """Score every point on selection (`measure`: the curve's name for the score), choose, then
    `report` the chosen point."""
    curve = [{"latent": j, "scale": float(v), measure: on_selection((j, v))}
             for j, v in progress_bar(list(points), desc=desc, unit=unit)]
    best = max(curve, key=lambda r: (r[measure], -r["scale"]))
    return Choice(best["latent"], best["scale"], best[measure], curve, report((best["latent"], best["scale"])))
