"""The one select-then-report search: chosen on selection alone, its grid grown past an edge that
holds the best score until the curve turns down, a best point still at an edge flagged."""

import math

from causalgear.steering.search import select_then_report


def peaked(at: float):
    """A selection score that rises geometrically to `at` and falls after it."""
    return lambda p: -abs(math.log2(p[1] / at))


def test_the_grid_grows_past_its_high_edge_until_the_curve_turns_down():
    choice = select_then_report([(0, 1.0), (0, 2.0), (0, 4.0)], peaked(16.0), lambda p: p, max_extensions=3)
    assert [r["scale"] for r in choice.curve] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert (choice.scale, choice.edge) == (16.0, None)
    assert [r.get("extended") for r in choice.curve][3:] == ["high"] * 3


def test_the_grid_grows_below_its_low_edge_by_its_own_ratio():
    choice = select_then_report([(None, 1.0), (None, 3.0)], peaked(0.1), lambda p: p, max_extensions=2)
    assert [round(r["scale"], 4) for r in choice.curve] == [1.0, 3.0, 0.3333, 0.1111]
    assert round(choice.scale, 4) == 0.1111
    assert choice.edge == "low"  # two steps were not enough: the JSON says the choice sits at the edge


def test_a_best_point_inside_the_grid_adds_nothing():
    choice = select_then_report([(0, 1.0), (0, 2.0), (0, 4.0)], peaked(2.0), lambda p: p, max_extensions=3)
    assert len(choice.curve) == 3 and (choice.scale, choice.edge) == (2.0, None)


def test_without_extensions_a_choice_at_the_edge_is_flagged():
    choice = select_then_report([(0, 1.0), (0, 2.0)], peaked(8.0), lambda p: p, max_extensions=0)
    assert (choice.scale, choice.edge, len(choice.curve)) == (2.0, "high", 2)


def test_only_the_best_latent_s_grid_grows():
    score = {0: peaked(64.0), 1: lambda p: -10.0}
    choice = select_then_report([(0, 1.0), (0, 2.0), (1, 1.0), (1, 2.0)], lambda p: score[p[0]](p), lambda p: p,
                                max_extensions=1)
    assert [(r["latent"], r["scale"]) for r in choice.curve][4:] == [(0, 4.0)]


def test_report_runs_once_at_the_chosen_point_after_every_selection_score():
    calls = []

    def on_selection(p):
        calls.append(("selection", p))
        return peaked(4.0)(p)

    def report(p):
        calls.append(("report", p))
        return "measured"

    choice = select_then_report([(0, 1.0), (0, 2.0)], on_selection, report, max_extensions=2)
    assert calls[-1] == ("report", (0, 4.0)) and [c[0] for c in calls].count("report") == 1
    assert choice.report == "measured"


def test_a_flat_curve_or_a_single_scale_grows_nothing_and_is_flagged():
    flat = select_then_report([(0, 1.0), (0, 2.0)], lambda p: 0.0, lambda p: p, max_extensions=3)
    assert len(flat.curve) == 2 and (flat.scale, flat.edge) == (1.0, "low")  # ties go to the smaller scale
    single = select_then_report([(0, 3.0)], peaked(1.0), lambda p: p, max_extensions=3)
    assert len(single.curve) == 1 and single.edge == "only"


def planted(rates: dict[float, tuple[float, float]], n: int = 20):
    """Per-prompt 0/1 scores: scale -> (share right on the first half, share right on the rest)."""
    import numpy as np

    calls = []

    def one(p, idx):
        calls.append((p[1], len(idx)))
        first, rest = rates[p[1]]
        row = np.array([1.0 if (i < n // 2 and i < first * n / 2) or (i >= n // 2 and i - n // 2 < rest * n / 2)
                        else 0.0 for i in range(n)])
        return row[idx]

    def per_prompt(points, idx):
        return [one(p, idx) for p in points]

    return per_prompt, calls


def test_successive_halving_scores_only_the_better_half_on_the_rest_and_never_chooses_a_pruned_point():
    rates = {1.0: (0.2, 0.2), 2.0: (0.6, 0.6), 4.0: (0.8, 0.4), 8.0: (0.4, 1.0), 16.0: (0.1, 0.1)}
    per_prompt, calls = planted(rates)
    full = {s: (a + b) / 2 for s, (a, b) in rates.items()}
    choice = select_then_report([(0, s) for s in rates], lambda p: full[p[1]], lambda p: p, measure="accuracy",
                                per_prompt=per_prompt, n_prompts=20)
    assert [s for s, _ in calls[:5]] == list(rates) and [s for s, _ in calls[5:]] == [2.0, 4.0, 8.0]  # >= median
    pruned = {r["scale"] for r in choice.curve if r.get("pruned")}
    assert pruned == {1.0, 16.0}
    assert (choice.scale, choice.score) == (8.0, 0.7)  # the whole grid's winner, found with 3 of 5 on the rest
    whole = select_then_report([(0, s) for s in rates], lambda p: full[p[1]], lambda p: p, measure="accuracy")
    assert (whole.scale, whole.score) == (choice.scale, choice.score)


def test_a_pruned_point_that_would_have_won_on_the_rest_is_the_price_of_halving_and_is_said():
    rates = {1.0: (0.0, 1.0), 2.0: (0.5, 0.5), 4.0: (0.6, 0.5)}  # 1.0 wins overall (0.5) but loses the first half
    per_prompt, _ = planted(rates)
    choice = select_then_report([(0, s) for s in rates], None, lambda p: p, measure="accuracy", max_extensions=0,
                                per_prompt=per_prompt, n_prompts=20)
    assert choice.scale == 4.0 and [r for r in choice.curve if r.get("pruned")] == [
        {"latent": 0, "scale": 1.0, "accuracy": 0.0, "pruned": True}]


def test_halving_asks_for_the_points_in_order_of_scale_and_keeps_the_curve_in_grid_order():
    rates = {1.0: (0.2, 0.2), 2.0: (0.6, 0.6), 4.0: (0.8, 0.4)}
    per_prompt, _ = planted(rates)
    asked = []
    grid = [(j, s) for j in (7, 3) for s in rates]
    choice = select_then_report(grid, None, lambda p: p, measure="accuracy", n_prompts=20, max_extensions=0,
                                per_prompt=lambda points, idx: asked.append(list(points)) or per_prompt(points, idx))
    assert asked[0] == [(7, 1.0), (3, 1.0), (7, 2.0), (3, 2.0), (7, 4.0), (3, 4.0)]
    assert asked[1] == [(7, 2.0), (7, 4.0), (3, 4.0)]  # half of six: (7, 2.0) ties (3, 2.0) and was tried first
    assert [(r["latent"], r["scale"]) for r in choice.curve] == grid


def test_halving_breaks_ties_as_the_choice_does_so_a_flat_grid_still_halves():
    rates = {s: (0.0, 0.0) for s in (0.5, 1.0, 2.0, 4.0, 8.0)}  # a concept no scale forces: 0 everywhere
    per_prompt, calls = planted(rates)
    choice = select_then_report([(0, s) for s in reversed(rates)], None, lambda p: p, measure="accuracy",
                                max_extensions=0,
                                per_prompt=per_prompt, n_prompts=20)
    assert [s for s, _ in calls[5:]] == [0.5, 1.0, 2.0]  # the smaller scales: where a tie would be chosen
    assert {r["scale"] for r in choice.curve if r.get("pruned")} == {4.0, 8.0}
    assert (choice.scale, choice.edge) == (0.5, "low")


def test_a_pruned_points_first_half_score_does_not_make_a_flat_curve_grow_past_its_edge():
    rates = {1.0: (0.5, 0.5), 2.0: (0.5, 0.5), 4.0: (0.0, 1.0)}  # 4.0 loses the first half, is pruned
    per_prompt, _ = planted(rates)

    def never(point):
        raise AssertionError(f"the flat curve grew to {point}")

    choice = select_then_report([(0, s) for s in rates], never, lambda p: p, measure="accuracy", max_extensions=2,
                                per_prompt=per_prompt, n_prompts=20)
    assert (choice.scale, choice.edge) == (1.0, "low") and len(choice.curve) == 3
