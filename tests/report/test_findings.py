"""What a run found, said once from its JSON: the findings sentences, `causalgear summarize`, and
the top of report.html (checked as a browser would read it)."""

import copy
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from causalgear.cli import main
from causalgear.preflight import compose
from causalgear.report.findings import findings
from causalgear.report.health import health
from causalgear.report.page import write_report
from causalgear.report.plots import patching_empty, patching_flat, profile_empty
from causalgear.report.scoreboard import scoreboard
from causalgear.report.tables import concept_steering_table, steering_table
from tests.conftest import chromium_dom
from tests.report.conftest import FIXTURE

GOLDEN = Path(__file__).parent / "fixtures" / "results.md"


def test_every_stage_that_ran_says_one_sentence_with_its_figure_and_verdict(run):
    found = {f.stage: f for f in findings(run)}
    assert list(found) == ["model", "sae", "features", "causal", "cause_isolate", "steering", "concept_steering"]
    assert "0.978" in found["model"].sentence
    assert found["sae"].verdict == "healthy" and "passes the health gate" in found["sae"].sentence
    assert found["features"].verdict == "a finding" and "random-SAE twin 0.490" in found["features"].sentence
    # the SAE's best latents lose to DiffMean and tie their random twin: said, and not called a finding
    ci = found["cause_isolate"]
    assert ci.verdict == "not a finding" and "no SAE latent set beats its random-SAE twin" in ci.sentence
    assert "diffmean 0.68" in ci.sentence and "full residual 0.75" in ci.sentence
    steer = found["steering"]
    assert "trained_vector +0.095 [+0.015, +0.175]" in steer.sentence and steer.verdict == "not a finding"


def test_the_sentences_follow_the_json_not_a_template(run):
    path = run / "steer" / "steering.json"
    s = json.loads(path.read_text())
    s["methods"]["clamp"]["test"].update(delta=0.2, ci_low=0.1, ci_high=0.3)
    path.write_text(json.dumps(s))
    steer = {f.stage: f for f in findings(run)}["steering"]
    assert steer.verdict == "a finding" and "clamp +0.200 [+0.100, +0.300]" in steer.sentence
    m = json.loads((run / "train" / "metrics.json").read_text())
    assert health({**m, "dead_fraction": 0.3}) == ["dead_fraction 0.3 (needs <= 0.1)"]


def test_a_patch_of_several_latents_counts_as_sae_based_against_its_twin(run):
    path = run / "steer" / "steering.json"
    s = json.loads(path.read_text())
    methods = s["concept_steering"]["aggregate:MAX"]["methods"]
    score = {"rate": 0.76, "ci_low": 0.67, "ci_high": 0.83, "n": 100}
    patch = {"latent": None, "scale": 1.0, "scale_at_grid_edge": None, "selection_score": 0.7, "selection_curve": [],
             "moved_latents": [138, 218, 35],
             "test": {"score": score, "concept": 0.76, "instruction": 1.0, "fluency": 0.99}}
    methods["patch_at_span"] = {**patch, "twin": {**patch, "test": {
        "score": {**score, "rate": 0.0, "ci_low": 0.0, "ci_high": 0.04}, "concept": 0.0, "instruction": 1.0,
        "fluency": 0.99}}}
    path.write_text(json.dumps(s))
    concept = {f.stage: f for f in findings(run)}["concept_steering"]
    assert concept.verdict == "a finding" and "aggregate:MAX (patch_at_span 0.76)" in concept.sentence
    rows = concept_steering_table(s["concept_steering"]).rows
    assert ["aggregate:MAX", "patch_at_span", "3 moved"] == next(r for r in rows if r[1] == "patch_at_span")[:3]


def test_an_sae_method_that_clears_0_is_a_finding_only_above_its_random_twin(run):
    path = run / "steer" / "steering.json"
    s = json.loads(path.read_text())
    gain = copy.deepcopy(s["methods"]["clamp"])
    gain.update(latent=None, moved_latents=[3, 1, 4])
    gain["test"].update(delta=0.1, ci_low=0.05, ci_high=0.15)
    twin = copy.deepcopy(gain)
    twin["test"].update(delta=0.08, ci_low=0.04, ci_high=0.12)
    gain["twin"] = twin
    s["methods"].update(trained_latents=gain)
    path.write_text(json.dumps(s))
    steer = {f.stage: f for f in findings(run)}["steering"]
    assert "trained_latents +0.100 [+0.050, +0.150]" in steer.sentence
    assert "random-SAE twin +0.080 [+0.040, +0.120]" in steer.sentence
    assert steer.verdict == "not a finding" and "clears its random-SAE twin" in steer.sentence
    twin["test"].update(delta=0.0, ci_low=-0.01, ci_high=0.01)
    path.write_text(json.dumps(s))
    assert {f.stage: f for f in findings(run)}["steering"].verdict == "a finding"
    assert ["trained_latents", "3 moved"] == next(r for r in steering_table(s).rows if r[0] == "trained_latents")[:2]


def test_the_chosen_coordinate_s_precision_is_said_beside_its_random_twin_s(run):
    path = run / "evaluate" / "causal.json"
    c = json.loads(path.read_text())
    c["chosen_test_profile"].update(target_component="where_operator", precision=0.6, precision_ci_low=0.5,
                                    precision_ci_high=0.7)
    c["random_sae_chosen"] = {"coordinate": 3, "precision": 0.1, "precision_ci_low": 0.0, "precision_ci_high": 0.2}
    c["precision_beats_random_sae"] = True
    path.write_text(json.dumps(c))
    sentence = {f.stage: f for f in findings(run)}["causal"].sentence
    assert "0.600 [0.500, 0.700] against the random SAE's coordinate's 0.100 [0.000, 0.200] (clears it)" in sentence


def test_summarize_markdown_matches_the_golden_page(run, capsys):
    assert main(["summarize", str(run), "--markdown"]) == 0
    assert capsys.readouterr().out == GOLDEN.read_text()


def test_summarize_prints_the_scoreboard_then_the_findings_then_one_row_per_method(run, capsys):
    assert main(["summarize", str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Scoreboard\nquestion ")
    board = out.split("\n\n")[0].splitlines()
    assert len(board) == 2 + len(scoreboard(run))  # title, header, one row per question
    assert "\n- Model: tinysql_multitable" in out
    table = out[out.index("\nSteering on test_shift.order") + 1:].split("\n\n")[0].splitlines()
    steering = json.loads((run / "steer" / "steering.json").read_text())
    assert len(table) == 2 + len(steering["methods"])  # title, header, one row per method
    assert any(line.startswith("trained_vector ") and "46 / 27" in line for line in table)


def test_summarize_refuses_what_is_not_a_run(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["summarize", str(tmp_path / "nope")])
    assert exit_.value.code == 2 and "is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["summarize", str(tmp_path)])
    assert "holds none of" in capsys.readouterr().err


def test_a_plot_with_nothing_to_show_is_a_sentence_saying_why():
    causal = json.loads((FIXTURE / "evaluate" / "causal.json").read_text())
    assert "every Δ correctness is 0 for the 2 profiled latents" in profile_empty(causal)
    moved = copy.deepcopy(causal)
    next(iter(moved["coordinates"][0]["profile"].values()))["delta"] = -0.1
    assert profile_empty(moved) is None
    patching = json.loads((FIXTURE / "evaluate" / "patching.json").read_text())
    assert patching_empty(patching) is None  # faint is not empty: the title carries its largest value
    first = patching["pairs"][0]
    one_flat = copy.deepcopy(patching)
    for pair in one_flat["pairs"]:
        if pair["kind"] == first["kind"]:  # below what the heatmap's title prints (0.00)
            pair["recovery"] = [[0.004] * len(row) for row in pair["recovery"]]
    if len({p["kind"] for p in patching["pairs"]}) > 1:
        assert patching_empty(one_flat) is None
        assert patching_flat(one_flat).startswith(f"Not plotted: {first['kind']} ")
    for pair in patching["pairs"]:
        pair["recovery"] = [[0.0] * len(row) for row in pair["recovery"]]
    assert "every |recovery| is under 0.005" in patching_empty(patching)
    assert patching_flat(patching) is None  # the whole heatmap's sentence says it


class _Page(HTMLParser):
    """What a reader sees: the finding sentences of the sections, the scoreboard's rows (their
    class and text), and every image's alt text."""

    def __init__(self):
        super().__init__()
        self.findings, self.images, self.board, self._in = [], [], [], None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "p" and (a.get("class") or "").startswith("finding"):
            self._in = self.findings
            self.findings.append("")
        elif tag == "table" and a.get("class") == "scoreboard":
            self._in = "board"
        elif tag == "tr" and self._in == "board" and a.get("class"):
            self.board.append([a["class"], ""])
        elif tag == "img":
            self.images.append(a.get("alt"))

    def handle_endtag(self, tag):
        if tag in ("p", "table"):
            self._in = None

    def handle_data(self, data):
        if self._in is self.findings:
            self.findings[-1] += data
        elif self._in == "board" and self.board:
            self.board[-1][1] += data


def _render(run: Path) -> str:
    (run / "evaluate" / "profile.png").write_bytes((Path(__file__).parents[2] / "docs" / "report.png").read_bytes())
    return write_report(run, compose()).read_text()


def test_the_report_opens_with_the_scoreboard_and_each_section_says_its_finding(run):
    html = _render(run)
    page = _Page()
    page.feed(html)
    assert html.index("<table class='scoreboard'>") == html.index("<table")  # before any other table or plot
    rows = scoreboard(run)
    assert [cls for cls, _ in page.board] == [f"answer-{r.answer.replace(' ', '-')}" for r in rows]
    assert all(text.startswith(r.question) for (_, text), r in zip(page.board, rows, strict=True))
    assert page.findings == [f.sentence for f in findings(run)]
    for r in rows:  # each measured question links to its section
        if r.answer != "not measured":
            assert f"href='#{r.section}'" in html and f"id='{r.section}'" in html
    # an all-zero profile is a sentence, not an <img>, even where the png is on disk
    assert "latent by SQL component heatmap" not in page.images
    assert "No latent moved any SQL component" in html


def test_the_report_reads_the_same_in_headless_chromium(run, tmp_path):
    html = _render(run)
    dom = chromium_dom(run / "report.html", tmp_path)
    page = _Page()
    page.feed(dom)
    assert page.findings == [f.sentence for f in findings(run)] and html
    assert "latent by SQL component heatmap" not in page.images


def test_concept_steering_with_every_target_skipped_says_why_not_that_twins_are_missing():
    from causalgear.report.findings import concept_steering

    found = concept_steering({"aggregate:MAX": {"skipped": "no example to steer towards aggregate:MAX"}})
    assert found.verdict == "measured"
    assert found.sentence == "Concept steering: aggregate:MAX skipped (no example to steer towards aggregate:MAX)."
