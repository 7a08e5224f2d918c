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
    choice = select_then_report([(0, 1.0), (0, 2.0)], peaked(8.0), lambda p: p)
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
