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

Successive halving (where the caller scores per prompt, `per_prompt`): every point of the grid is
scored on the first half of the selection prompts; only the better half of the points (ranked by
their score there, ties broken as the choice breaks them: the smaller scale, then the point tried
first; half rounded up) is scored on the rest. Breaking ties keeps the rest at half the grid where
many points score alike (a concept no point forces scores 0 everywhere). A point left out keeps its
first-half score in the curve, flagged `pruned`, and is never chosen; a point past an edge is scored
on every prompt. Where the full-selection winner was among the better half on the first half, the
choice, and so every test figure, is the one the whole grid would have given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np

from causalgear.logs import bar as progress_bar

# points a grid may grow past the edge that holds its best selection score, a side: a curve still
# rising at an edge after two more steps of the grid's own ratio is flagged (`edge`) rather than chased
GRID_EXTENSIONS = 2

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
    return max((r for r in curve if not r.get("pruned")), key=lambda r: (r[measure], -r["scale"]))


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
    """Whether the best latent's curve is not flat: some point of it scored below the best on every
    selection prompt (a pruned point's score is of the first half alone)."""
    return any(r[measure] < best[measure] for r in curve if r["latent"] == best["latent"] and not r.get("pruned"))


def halved(points: Sequence[Point], per_prompt: Callable[[list[Point], np.ndarray], list[np.ndarray]], n: int,
           desc: str = "") -> list[dict]:
    """Each point's selection score by successive halving over `n` prompts (module docstring):
    `{"point", "score", "pruned"}` in the order of `points`. `per_prompt(points, idx)`: each point's
    0/1 scores on the prompts at `idx`, the points measured together."""
    first, rest = np.arange(n // 2), np.arange(n // 2, n)
    # asked for in order of scale: the points measured together share batches with their neighbours,
    # and the large scales, whose outputs run longest, hold up only each other's batches
    by_scale = sorted(points, key=lambda p: p[1])
    with progress_bar(total=2, desc=desc, unit="half") as halves:
        on_first = dict(zip(by_scale, per_prompt(by_scale, first), strict=True))
        halves.update()
        # a stable sort of the grid in the order tried: a tie on score and scale keeps the point tried first
        ranked = sorted(dict.fromkeys(points), key=lambda p: (-float(on_first[p].mean()), p[1]))
        better = set(ranked[:(len(ranked) + 1) // 2])
        kept = [p for p in by_scale if p in better]
        on_rest = dict(zip(kept, per_prompt(kept, rest), strict=True))
        halves.update()
    return [{"point": p, "score": float(np.concatenate([on_first[p], on_rest[p]]).mean()) if p in on_rest
             else float(on_first[p].mean()), "pruned": p not in on_rest} for p in points]


def select_then_report(points: Sequence[Point], on_selection: Callable[[Point], float],
                       report: Callable[[Point], T], *, measure: str = "score", desc: str = "",
                       unit: str = "scale", max_extensions: int = GRID_EXTENSIONS,
                       per_prompt: Callable[[list[Point], np.ndarray], list[np.ndarray]] | None = None,
                       n_prompts: int = 0) -> Choice[T]:
    """Score every point on selection (`measure`: the curve's name for the score), extend the grid
    past an edge that holds the best point (at most `max_extensions` points a side), choose, then
    `report` the chosen point. With `per_prompt` (given points and positions of the `n_prompts`
    selection prompts: each point's 0/1 scores there, the points measured together), the grid is
    scored by successive halving."""
    points = list(points)
    if per_prompt is not None and len(points) >= 3 and n_prompts >= 4:
        curve = [{"latent": r["point"][0], "scale": float(r["point"][1]), measure: r["score"],
                  **({"pruned": True} if r["pruned"] else {})}
                 for r in halved(points, per_prompt, n_prompts, desc)]
    else:
        curve = [{"latent": j, "scale": float(v), measure: on_selection((j, v))}
                 for j, v in progress_bar(points, desc=desc, unit=unit)]
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
