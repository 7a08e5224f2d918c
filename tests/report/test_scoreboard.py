"""The scoreboard: one row per question a researcher asks of a run, its answer decided by the rule
the findings use (an interval clears its control), first in report.html, `summarize` and
docs/results.md; the page it opens fits a 1280 px window."""

import copy
import json
import re
from pathlib import Path

from causalgear.preflight import compose
from causalgear.report.page import write_report
from causalgear.report.scoreboard import ANSWERS, cause_isolate_row, concept_steering_row, scoreboard, steering_row
from tests.conftest import chromium_dom


def _json(run: Path, rel: str) -> dict:
    return json.loads((run / rel).read_text())


def test_one_row_per_question_each_with_an_allowed_answer_and_its_section(run):
    rows = scoreboard(run)
    assert [r.section for r in rows] == ["model", "sae", "features", "causal", "cause-isolate", "steering",
                                         "concept-steering", "transfer"]
    assert all(r.answer in ANSWERS for r in rows)
    by = {r.section: r for r in rows}
    assert by["sae"].answer == "yes" and by["features"].answer == "yes" and by["causal"].answer == "yes"
    assert by["cause-isolate"].answer == "no"  # the fixture's latents carry nothing beyond their twin
    assert by["transfer"].answer == "not measured" and "experiment=transfer" in by["transfer"].figure
    assert "-0.013 [-0.027, -0.003]" in by["causal"].figure and "random latent" in by["causal"].control


def test_two_latents_carry_partly_when_they_beat_their_twin_on_some_attributes(run):
    causal = _json(run, "evaluate/causal.json")
    some = copy.deepcopy(causal)
    some["cause_isolate"]["order_direction"]["beats_random_sae"]["top_2_latents"] = True
    row = cause_isolate_row(some)
    assert row.answer == "partly" and row.figure.startswith("cause order_direction ")
    assert "(not: aggregate, where_operator)" in row.figure
    for r in some["cause_isolate"].values():
        r["beats_random_sae"]["top_2_latents"] = True
    assert cause_isolate_row(some).answer == "yes"


def test_steering_is_yes_only_through_latents_beyond_their_twin_and_without_harm(run):
    s = _json(run, "steer/steering.json")
    assert steering_row(s).answer == "partly"  # a residual vector clears 0, no SAE method does
    test = {"delta": 0.1, "ci_low": 0.05, "ci_high": 0.15, "baseline_accuracy": 0.4, "steered_accuracy": 0.5}
    s["methods"]["clamp"]["test"] = dict(s["methods"]["clamp"]["test"], **test)
    s["methods"]["clamp"]["in_distribution"] = {"delta": -0.01, "ci_low": -0.03, "ci_high": 0.0}
    assert steering_row(s).answer == "yes"
    s["methods"]["clamp"]["in_distribution"] = {"delta": -0.1, "ci_low": -0.15, "ci_high": -0.05}
    assert steering_row(s).answer == "partly"  # it repairs, and it harms in distribution
    for m in s["methods"].values():
        m["test"] = dict(m["test"], ci_low=-0.01)
    assert steering_row(s).answer == "no"


def test_concept_steering_names_the_targets_its_latents_beat_their_twin_on(run):
    s = _json(run, "steer/steering.json")
    assert concept_steering_row(s).answer == "not measured"  # no random-SAE twin to hold them against
    methods = s["concept_steering"]["aggregate:MAX"]["methods"]
    methods["clamp"]["twin"] = copy.deepcopy(methods["clamp"])
    assert concept_steering_row(s).answer == "no"
    methods["clamp"]["test"]["score"] = {"rate": 0.8, "ci_low": 0.7, "ci_high": 0.9, "n": 100}
    row = concept_steering_row(s)
    assert row.answer == "yes"  # the one target with a twin
    assert row.figure.startswith("score aggregate:MAX: 1 SAE method(s), e.g. clamp 0.80 [0.70, 0.90]")


def test_a_file_not_the_shape_its_stage_writes_is_said_in_its_rows(run):
    metrics = _json(run, "train/metrics.json")
    del metrics["l0"]
    (run / "train" / "metrics.json").write_text(json.dumps(metrics))
    row = {r.section: r for r in scoreboard(run)}["sae"]
    assert row.answer == "not measured" and "is not the shape its stage writes (no 'l0')" in row.figure


def test_report_opens_with_the_scoreboard_fits_1280px_and_plots_nothing_all_zero(run, tmp_path):
    patching = _json(run, "evaluate/patching.json")
    for pair in patching["pairs"]:  # every recovery 0: a sentence, no heatmap
        pair["recovery"] = [[0.0] * len(row) for row in pair["recovery"]]
    (run / "evaluate" / "patching.json").write_text(json.dumps(patching))
    (run / "evaluate" / "patching.png").write_bytes((Path(__file__).parents[2] / "docs" / "report.png").read_bytes())
    page = write_report(run, compose())
    dom = chromium_dom(page, tmp_path / "profile", width=1280)
    first = re.search(r"<table[^>]*>", dom).group(0)
    assert "scoreboard" in first
    board = dom[dom.index(first):dom.index("</table>", dom.index(first))]
    classes = re.findall(r"<tr class=\"answer-([a-z-]+)\"", board)
    assert len(classes) == len(scoreboard(run)) and set(classes) <= {a.replace(" ", "-") for a in ANSWERS}
    body = re.search(r"<body[^>]*data-scroll-width=\"(\d+)\"[^>]*data-width=\"(\d+)\"", dom)
    assert body and body.group(1) == body.group(2), body and body.groups()
    assert "activation patching heatmap" not in dom and "every |recovery| is under 0.005" in dom
