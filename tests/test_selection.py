"""`causalgear select` scores a candidate SAE on validation data only, beside its random twin, and
`causalgear compare` ranks a sweep's candidates by the rule written in `causalgear.selection.RULE`."""

import json
import shutil

import pytest

from causalgear.cli import main
from causalgear.data.sources import TinySQL
from causalgear.preflight import compose
from causalgear.report.selection import RULE, RULE_ACROSS_SEEDS, SCORED, rank
from causalgear.selection import select
from tests.conftest import SMOKE_SMALL

CANDIDATE = ["logger=none", "sae=topk", "sae.d_sae=16", "sae.k=2", "sae.epochs=1", "sae.ce_examples=4",
             "causal.pairs=6", "causal.pair_candidates=2", "data.n_validation_per_set=4"]


@pytest.fixture(scope="module")
def selected(smoke_model, tmp_path_factory):
    """One candidate trained and scored on the smoke model: (selection.json, its run dir, the splits it read)."""
    cfg0, _, _ = smoke_model
    cfg = compose(["model=tinysql_smoke", f"paths.cache_dir={cfg0.paths.cache_dir}", *SMOKE_SMALL, *CANDIDATE],
                  stage="select")
    read: list[str] = []
    real = TinySQL.load
    mp = pytest.MonkeyPatch()
    mp.setattr(TinySQL, "load", lambda self, split: read.append(split) or real(self, split))
    out = tmp_path_factory.mktemp("select") / "0"
    try:
        result = select(cfg, out)
    finally:
        mp.undo()
    return result, out, read


def test_a_candidate_is_scored_on_validation_and_training_data_only(selected):
    _, _, read = selected
    assert read and set(read) <= {"train", "validation"}, read


def test_selection_json_has_health_carry_and_coverage_each_beside_the_random_twin(selected):
    result, out, _ = selected
    saved = json.loads((out / "selection.json").read_text())
    assert saved["carry_score"] == result["carry_score"]
    assert saved["provenance"]["command"].startswith("causalgear select") and saved["provenance"]["commit"]
    assert saved["arch"] == "topk" and saved["d_sae"] == 16 and saved["layer"] == 1
    assert set(saved["health"]) == {"explained_variance", "l0", "density", "dead_fraction"}
    assert saved["passes_gate"] == (not saved["gate_failures"])
    assert set(saved["carry"]) == set(SCORED)
    for r in saved["carry"].values():
        assert "skipped" in r or {"sae", "random_sae", "full_residual"} <= set(r)
        for name in ("sae", "random_sae"):
            if name in r:
                for figures in (r[name], r[name]["two_latents"]):  # one latent per swap; one per value
                    c = figures["cause"]
                    assert 0 <= c["ci_low"] <= c["rate"] <= c["ci_high"] <= 1
                assert all(1 <= len(js) <= 2 and all(0 <= j < 16 for j in js) for js in r[name]["latents"].values())
    assert result["carry_score"] == pytest.approx(sum(
        r["sae"]["two_latents"]["cause"]["rate"] if "sae" in r else 0.0 for r in saved["carry"].values()) / len(SCORED))
    cov = saved["coverage"]
    assert "skipped" in cov or (cov["trained"] is not None and cov["random"] is not None and cov["n"] > 0)
    assert set(saved["absorption"]) == {"sae", "random_sae"}
    for a in saved["absorption"].values():
        assert "skipped" in a or a["absorption_fraction"] is None or 0 <= a["absorption_fraction"] <= 1
    assert (out / "train" / "sae" / "cfg.json").is_file()


def test_a_trained_sae_is_rescored_in_place_without_training_again(selected, smoke_model, tmp_path):
    result, out, _ = selected
    cfg0, _, _ = smoke_model
    again = select(compose(["model=tinysql_smoke", f"paths.cache_dir={cfg0.paths.cache_dir}", *SMOKE_SMALL,
                            *CANDIDATE, f"sae.path={out / 'train'}"], stage="select"), tmp_path)
    assert not (tmp_path / "train").exists()
    for key in ("health", "passes_gate", "carry", "coverage", "absorption", "carry_score"):
        assert again[key] == result[key], key


def row(passes: bool, carry: float, coverage: float | None, run: str, seed: int = 0) -> dict:
    """A candidate's row, the candidate named by its run (its architecture here), one SAE seed of it."""
    return {"run": run, "arch": run, "seed": seed, "select_passes_gate": passes, "select_carry": carry,
            "select_coverage_delta": coverage}


def test_the_rule_ranks_by_gate_then_carry_then_coverage_over_the_twin():
    rows = [row(False, 0.95, 0.30, "unhealthy but carries"), row(True, 0.404, 0.01, "carries, tie, less coverage"),
            row(True, 0.401, 0.10, "carries, tie, more coverage"), row(True, 0.0, 0.20, "carries nothing")]
    assert [r["run"] for r in rank(rows)] == ["carries, tie, more coverage", "carries, tie, less coverage",
                                              "carries nothing", "unhealthy but carries"]
    assert [r["select_rank"] for r in rows] == [4, 2, 1, 3]
    assert "health gate" in RULE and "validation" in RULE


def test_compare_ranks_the_candidates_and_writes_the_table_with_its_rule_and_winner(selected, tmp_path, capsys):
    _, out, _ = selected
    sweep = tmp_path / "multirun"
    for name in ("0", "1"):
        shutil.copytree(out, sweep / name)
    better = json.loads((sweep / "1" / "selection.json").read_text())
    better.update(carry_score=0.9, passes_gate=True)
    (sweep / "1" / "selection.json").write_text(json.dumps(better))
    assert main(["compare", str(sweep)]) == 0
    page = (sweep / "selection.md").read_text()
    assert RULE in page and "Winner: topk k 2 of 16 at block 1 (1/train)" in page
    assert "2 candidates in 2 runs (`causalgear select`, commit " in page
    assert "| 1 | topk | 2 | 16 | 1 |" in page
    assert "winner by the rule" in capsys.readouterr().out
    with open(sweep / "comparison.csv") as f:
        header = f.readline()
    assert "select_rank" in header and "select_carry" in header


def test_across_seeds_a_candidate_ranks_by_its_worst_seed_then_its_mean():
    lucky = [row(True, 0.95, 0.1, "lucky once", 0), row(True, 0.30, 0.1, "lucky once", 1)]
    steady = [row(True, 0.62, 0.0, "steady", 0), row(True, 0.60, 0.0, "steady", 1)]
    steadier_mean = [row(True, 0.60, 0.0, "less steady", 1), row(True, 0.64, 0.0, "less steady", 0)]
    gate = [row(True, 0.99, 0.5, "fails on one seed", 0), row(False, 0.99, 0.5, "fails on one seed", 1)]
    ranked = rank([*lucky, *steady, *steadier_mean, *gate])
    assert [(r["run"], r["seed"]) for r in ranked] == [
        ("less steady", 0), ("less steady", 1), ("steady", 0), ("steady", 1), ("lucky once", 0), ("lucky once", 1),
        ("fails on one seed", 0), ("fails on one seed", 1)]
    assert [r["select_rank"] for r in ranked] == [1, 1, 2, 2, 3, 3, 4, 4]
    assert ranked[4]["select_carry_min"] == 0.30 and ranked[4]["select_seeds"] == 2
    assert "minimum across seeds" in RULE_ACROSS_SEEDS
