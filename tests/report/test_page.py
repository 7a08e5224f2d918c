"""report.html's causal section: cause and isolate with every method side by side."""

import json

from causalgear.preflight import compose
from causalgear.report.page import write_report


def rate(r, n=10):
    return {"rate": r, "ci_low": max(0.0, r - 0.1), "ci_high": min(1.0, r + 0.1), "n": n}


def test_the_report_puts_every_cause_isolate_method_side_by_side(tmp_path):
    methods = {name: {"cause": rate(c), "isolate": rate(1.0)} for name, c in
               (("no_interchange", 0.0), ("top_1_latents", 0.69), ("diffmean", 1.0), ("full_residual", 1.0))}
    causal = {"chosen": 3, "mode": "zero", "method": "exhaustive", "n_select": 6, "n_test": 6,
              "chosen_test": {"delta": -0.1, "ci_low": -0.2, "ci_high": 0.0},
              "controls": {"random_coordinate": {"coordinate": 1, "delta": 0.0, "ci_low": 0.0, "ci_high": 0.0},
                           "random_direction": {"delta": 0.0, "ci_low": 0.0, "ci_high": 0.0}},
              "baseline": {"test_accuracy": 0.9}, "kl_prompt_positions": 0.01, "beats_controls": False,
              "verdict": "no coordinate beats its controls",
              "cause_isolate": {"aggregate": {"test_pairs": 91, "test_pairs_made": 91, "methods": methods},
                                "where_operator": {"test_pairs": 0, "test_pairs_made": 4, "methods": {},
                                                   "skipped": "no pair the unedited model answers right"}}}
    (tmp_path / "evaluate").mkdir()
    (tmp_path / "evaluate" / "causal.json").write_text(json.dumps(causal))
    page = write_report(tmp_path, compose()).read_text()
    assert "Cause and isolate on counterfactual pairs" in page
    header = page[page.index("Cause and isolate"):]
    for name in methods:
        assert f"<th>{name}</th>" in header
    assert "0.69 [0.59, 0.79] / 1.00" in page and "where_operator: no pair the unedited model answers right" in page
