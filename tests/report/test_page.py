"""report.html's causal section: cause and isolate with every method side by side."""

import json
from html.parser import HTMLParser

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


def test_the_steering_section_says_how_the_split_was_chosen_where_the_gate_fires_and_the_concept_scores(tmp_path):
    summary = {"baseline_accuracy": 0.3, "steered_accuracy": 0.4, "delta": 0.1, "ci_low": 0.02, "ci_high": 0.18,
               "fixed": 12, "broken": 2, "mcnemar_p": 0.01, "changed_share": 0.2, "n": 100, "component_flips": {}}
    method = {"latent": 493, "scale": 5.0, "selection_curve": [{"latent": None, "scale": 0.0, "accuracy": 0.3},
                                                               {"latent": 493, "scale": 5.0, "accuracy": 0.4}],
              "test": summary, "in_distribution": {**summary, "delta": -0.003}, "mean_completeness_error": None}
    steering = {"feature": 525, "feature_source": "evaluate", "direction": "raise", "n_test": 100,
                "data_split": "test_shift.order", "in_distribution_split": "test",
                "split_choice": {"rule": "auto: most room", "source": "model card",
                                 "validation_accuracy": {"order": 0.335, "aggregate": 0.045}},
                "detector": {"fires": {"selection": 0.6, "test": 0.64, "in_distribution_test": 0.027}},
                "methods": {"clamp": method, "gated_clamp": method},
                "concept_steering": {
                    "order_direction:ASC": {"n_test": 100, "methods": {"clamp": {
                        "latent": 493, "scale": 5.0, "test": {"concept": 0.85, "instruction": 1.0, "fluency": 1.0,
                                                              "score": rate(0.85, 100)}}}},
                    "aggregate:MAX": {"skipped": "no example to steer towards aggregate:MAX"}}}
    (tmp_path / "steer").mkdir()
    (tmp_path / "steer" / "steering.json").write_text(json.dumps(steering))
    page = write_report(tmp_path, compose()).read_text()
    section = page[page.index("<h2 id='steering'>Steering</h2>"):]
    assert "chosen by auto: most room (validation accuracy: order 0.335, aggregate 0.045; model card)" in section
    assert "in distribution test 3%" in section and "<td>gated_clamp</td>" in section
    assert "Concept steering" in section and "0.850 [0.750, 0.950]" in section
    assert "skipped: no example to steer towards aggregate:MAX" in section


HOSTILE = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>"


def hostile_run(tmp_path):
    """A run dir whose every JSON string (and every key that names data: methods, attributes, splits,
    components, targets) is markup that would run if written raw."""
    h = HOSTILE
    interval = {"delta": -0.1, "ci_low": -0.2, "ci_high": 0.0}
    files = {
        "train/metrics.json": {"arch": h, "d_sae": 8, "explained_variance": 0.9},
        "features.json": {"tokens_per_coordinate": 5, "coordinates": [
            {"coordinate": 1, "firing_rate": 0.1, "top": [{"token": h, "value": 1.0, "clause": h}]}]},
        "features/concepts.json": {"per_concept": {h: {}}, "fit_rows": 10, "held_out_rows": 10, "dead_fraction": 0.1,
                                   "dense_fraction": 0.0, "coverage": 0.5, "linear_probe_coverage": 0.7,
                                   "diffmean_coverage": 0.4, "k_sparse_coverage": {"5": 0.4},
                                   "random_model_floor": {"coverage": 0.1}},
        "evaluate/causal.json": {
            "chosen": 3, "mode": h, "method": h, "n_select": 6, "n_test": 6, "chosen_test": interval,
            "controls": {"random_coordinate": {"coordinate": 1, **interval}, "random_direction": interval},
            "baseline": {"test_accuracy": 0.9}, "kl_prompt_positions": 0.01, "beats_controls": False, "verdict": h,
            "select_by": h, "source_data": h,
            "chosen_test_profile": {"target_component": h, "precision": 0.1, "precision_ci_low": 0.0,
                                    "precision_ci_high": 0.2, "selectivity": 0.5,
                                    "profile": {h: {"n": 3, "absent_delta": 0.0, **interval}}},
            "cause_isolate": {h: {"test_pairs": 1, "test_pairs_made": 2, "methods": {
                h: {"cause": rate(0.5), "isolate": rate(1.0)}}},
                "other": {"test_pairs": 0, "test_pairs_made": 0, "methods": {}, "skipped": h}},
            "transfer": {h: {"data": h, "skipped": h}}},
        "steer/steering.json": {
            "feature": 5, "feature_source": h, "direction": h, "n_test": 4, "data_split": h,
            "in_distribution_split": h, "split_choice": {"rule": h, "source": h, "validation_accuracy": {h: 0.5}},
            "detector": {"fires": {h: 0.5}},
            "methods": {h: {"latent": h, "scale": 1.0, "unsteered_best_on_selection": True,
                            "mean_completeness_error": None, "in_distribution": interval,
                            "test": {"baseline_accuracy": 0.5, "steered_accuracy": 0.5, "changed_share": 0.0,
                                     "fixed": 0, "broken": 0, "component_flips": {h: {"fixed": 1, "broken": 0}},
                                     **interval}}},
            "concept_steering": {h: {"skipped": h}, "b": {"n_test": 3, "methods": {h: {
                "latent": h, "scale": 1.0, "test": {"concept": 0.5, "instruction": 0.5, "fluency": 0.5,
                                                    "score": rate(0.5)}}}}}},
    }
    for name, obj in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(obj))
    return tmp_path


class Tags(HTMLParser):
    """Every tag and attribute name a page holds, as an HTML parser reads it."""

    def __init__(self):
        super().__init__()
        self.tags, self.attrs = set(), set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs |= {name for name, _ in attrs}


def test_no_string_from_a_runs_json_reaches_the_report_as_markup(tmp_path):
    page = write_report(hostile_run(tmp_path), compose()).read_text()
    parser = Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "img" not in parser.tags  # the fixture has no plot: any <img> is hostile
    assert "onerror" not in parser.attrs
    # every hostile string was written, as text
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 20
