"""Each SAE finding says on how many of the run's SAE seeds its own criterion holds, with its
figure's range: in the findings, the scoreboard, summarize and report.html."""

import html
import json
import shutil

from causalgear.cli import main
from causalgear.report.findings import findings
from causalgear.report.scoreboard import scoreboard
from causalgear.report.seeds import across_seeds
from causalgear.report.tables import tables

CARRIED = "order_direction"


def edit(path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def plant_two_seeds(run, holds_on_second: bool, holds_on_first: bool = True):
    """The fixture run as the first of two SAE seeds: two latents carry ORDER BY direction (their interval
    clears their twin's) on the first (where `holds_on_first`); on the second only where `holds_on_second`."""
    def carry(on: bool, rate: float):
        def change(c):
            r = c["cause_isolate"][CARRIED]
            r["methods"]["top_2_latents"]["cause"].update(rate=rate, ci_low=rate - 0.05, ci_high=rate + 0.03)
            r["beats_random_sae"]["top_2_latents"] = on
        return change

    edit(run / "evaluate" / "causal.json", carry(holds_on_first, 0.96))
    second = run / "seeds" / "seed_1"
    for sub in ("train", "evaluate", "features", "steer"):
        shutil.copytree(run / sub, second / sub)
    edit(second / "evaluate" / "causal.json", carry(holds_on_second, 0.31))
    (run / "seeds" / "seeds.json").write_text(json.dumps({"seeds": [0, 1]}))


def test_a_finding_that_holds_on_one_seed_of_two_reads_1_of_2(run):
    plant_two_seeds(run, holds_on_second=False)
    a = across_seeds(run)[f"cause_isolate.{CARRIED}.top_2"]
    assert (a.held, a.n, a.range()) == (1, 2, (0.31, 0.96))
    (found,) = [f for f in findings(run) if f.stage == "cause_isolate"]
    assert f"{CARRIED}: cause of the best 2 0.31–0.96; clears its random twin on 1 of 2" in found.sentence
    assert found.verdict == "a finding (holds on 1 of 2 seeds)"
    (row,) = [r for r in scoreboard(run) if r.section == "cause-isolate"]
    assert f"{CARRIED} 1 of 2 seeds" in row.figure and row.answer != "yes"


def test_a_finding_that_holds_on_every_seed_keeps_its_verdict(run):
    plant_two_seeds(run, holds_on_second=True)
    (found,) = [f for f in findings(run) if f.stage == "cause_isolate"]
    assert "clears its random twin on 2 of 2" in found.sentence and found.verdict == "a finding"


def test_a_finding_that_fails_on_the_first_seed_and_holds_on_another_says_so(run):
    plant_two_seeds(run, holds_on_second=True, holds_on_first=False)
    (found,) = [f for f in findings(run) if f.stage == "cause_isolate"]
    assert found.verdict == "not a finding (but holds on 1 of 2 seeds)"
    (row,) = [r for r in scoreboard(run) if r.section == "cause-isolate"]
    assert row.answer == "partly" and f"{CARRIED} 1 of 2 seeds" in row.figure


def test_every_seed_s_figures_are_a_table_and_summarize_and_the_report_say_the_count(run, capsys):
    plant_two_seeds(run, holds_on_second=False)
    (t,) = [t for t in tables(run) if t.title.startswith("Findings across SAE seeds")]
    assert t.columns[2:4] == ["seed 0", "seed 1"]
    row = next(r for r in t.rows if r[0] == f"cause_isolate.{CARRIED}.top_2")
    assert row[2:] == ["0.960", "0.310 (not)", "clears its random twin: 1 of 2"]
    assert main(["summarize", str(run)]) == 0
    assert "clears its random twin on 1 of 2" in capsys.readouterr().out
    from omegaconf import OmegaConf

    from causalgear.report.page import write_report

    cfg = OmegaConf.create({"model": {"name": "m", "layer": 1}, "data": {"name": "tinysql"},
                            "sae": {"arch": "topk"}})
    page = html.unescape(write_report(run, cfg).read_text())
    assert "id='sae-seeds'" in page and "clears its random twin on 1 of 2" in page


def test_a_run_of_one_sae_says_nothing_of_seeds(run):
    assert across_seeds(run) == {}
    assert not any("SAE seeds" in f.sentence for f in findings(run))
