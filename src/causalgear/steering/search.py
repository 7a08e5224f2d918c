"""One select-then-report search: every choice a steering method makes (its latent and scale) is
made on the selection prompts, and only then is the chosen point measured on the test prompts.

The rule, written once for every user (steering's methods, concept steering): the point with the
best selection score; ties go to the smaller scale, then to the point tried first (the feature
before the latents tried beside it). Where the best point sits at an edge of its latent's scales
and the curve rises toward that edge (it is not flat), the grid extends geometrically past the
edge (by the ratio of the grid's two outermost scales on that side) until the selection curve
turns down there, at most `max_extensions` times a side; a best point still at an edge is flagged
(`edge`: "low", "high", or "only" for a grid of one scale). Nothing from the test side reaches the
choice: `report` is called once, with the chosen point, after every selection score is in.
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
    """The chosen point, every point's selection score (`curve`), what `report` measured there, and
    `edge`: "low" or "high" where the chosen scale is still its grid's smallest or largest, "only"
    where its grid has one scale."""

    latent: int | None
    scale: float
    score: float
    curve: list[dict]
    report: T
    edge: str | None = None


def _best(curve: list[dict], measure: str) -> dict:
    return max(curve, key=lambda r: (r[measure], -r["scale"]))


def _step(scales: list[float], side: str) -> float:
    """The geometric ratio past an edge (`scales`: two or more, sorted): that of the two outermost
    scales on that side, else 2."""
    if min(scales) <= 0:
        return 2.0
    ratio = scales[-1] / scales[-2] if side == "high" else scales[1] / scales[0]
    return ratio if ratio > 1 else 2.0


def _edge(curve: list[dict], best: dict) -> str | None:
    scales = sorted(r["scale"] for r in curve if r["latent"] == best["latent"])
    if len(scales) == 1:
        return "only"
    return "high" if best["scale"] == scales[-1] else "low" if best["scale"] == scales[0] else None


def _rising(curve: list[dict], best: dict, measure: str) -> bool:
    """Whether the best latent's curve is not flat: some point of it scored below the best."""
    return any(r[measure] < best[measure] for r in curve if r["latent"] == best["latent"])


def select_then_report(points: Sequence[Point], on_selection: Callable[[Point], float],
                       report: Callable[[Point], T], *, measure: str = "score", desc: str = "",
                       unit: str = "scale", max_extensions: int = 0) -> Choice[T]:
    """Score every point on selection (`measure`: the curve's name for the score), extend the grid
    past an edge that holds the best point (at most `max_extensions` points a side), choose, then
    `report` the chosen point."""
    curve = [{"latent": j, "scale": float(v), measure: on_selection((j, v))}
             for j, v in progress_bar(list(points), desc=desc, unit=unit)]
    extended = {"low": 0, "high": 0}
    while curve:
        best = _best(curve, measure)
        side = _edge(curve, best)
        if side not in extended or extended[side] >= max_extensions or not _rising(curve, best, measure):
            break
        scales = sorted(r["scale"] for r in curve if r["latent"] == best["latent"])
        ratio = _step(scales, side)
        scale = best["scale"] * ratio if side == "high" else best["scale"] / ratio
        extended[side] += 1
        curve.append({"latent": best["latent"], "scale": scale, measure: on_selection((best["latent"], scale)),
                      "extended": side})
    best = _best(curve, measure)
    return Choice(best["latent"], best["scale"], best[measure], curve, report((best["latent"], best["scale"])),
                  _edge(curve, best))
