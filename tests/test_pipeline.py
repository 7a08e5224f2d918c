"""The pipeline chains every stage into one run dir and ends with report.html; with a data set
that lacks what a stage needs, it runs the rest and says in one line what it skipped."""

import csv
import json
import re

import pytest
import torch

from causalgear.cli import main
from causalgear.pipeline import run
from causalgear.preflight import compose
from tests.conftest import write_user_jsonl

SMALL = ["model=hf", "model.layer=1", "logger=none", "sae=relu", "sae.d_sae=4", "sae.epochs=1", "sae.ce_examples=4",
         "sae.seeds=1",
         "harvest.max_examples=40", "causal.n_select=4", "causal.n_test=4", "causal.n_boot=100",
         "causal.kl_examples=2", "generation.max_new_tokens=6", "steering.grains.scales=[0.1]",
         "steering.methods.alphas=[1.0]",
         "steering.grains.n_steps=8", "report.features=3"]
TINYSQL = ["data.n_train_per_set=20", "data.n_test_per_set=3", "data.n_validation_per_set=2",
           "data.n_test_ood_per_set=2", "data.n_schemas=10"]


def read(out, name: str) -> dict:
    return json.loads((out / name).read_text())


@pytest.fixture(scope="module")
def piped(tiny_qwen2_dir, tmp_path_factory):
    """One pipeline run on TinySQL with two SAE seeds: (its summary, its run dir)."""
    root = tmp_path_factory.mktemp("pipeline")
    cfg = compose([*SMALL, *TINYSQL, f"model.name_or_path={tiny_qwen2_dir}", f"paths.cache_dir={root / 'cache'}",
                   "sae.seeds=2"])
    out = root / "run"
    out.mkdir()
    return run(cfg, out), out


def test_every_stage_writes_its_files_into_one_run_dir(piped):
    _, out = piped
    for f in ("harvest/harvest.json", "train/metrics.json", "train/sae/cfg.json", "evaluate/causal.json",
              "evaluate/causal.png", "steer/steering.json", "steer/steering.png", "steer/attributions.json",
              "steer/attributions.html", "features.json", "features/features.html", "pipeline.json", "report.html"):
        assert (out / f).is_file(), f


def test_pipeline_json_times_every_stage_and_skips_nothing_on_tinysql(piped):
    summary, out = piped
    saved = read(out, "pipeline.json")
    assert set(saved["seconds"]) == {"harvest", "train", "load", "evaluate", "steer", "features", "sae-seeds",
                                     "top-tokens"}
    assert "skipped" not in saved and "skipped" not in summary
    # where its figures come from: the command as typed, the model, the commit of the code that ran, the
    # machine (its processor and the numerical libraries)
    assert saved["provenance"]["command"] == "causalgear pipeline"  # called from Python: no overrides typed
    assert saved["provenance"]["model"] == "hf" and saved["provenance"]["commit"]
    assert f"torch {torch.__version__}" in saved["provenance"]["machine"]


def test_the_summary_carries_each_stage_s_own_figures(piped):
    summary, out = piped
    assert summary["causal"]["verdict"] == read(out, "evaluate/causal.json")["verdict"]
    assert read(out, "pipeline.json")["features"]["coverage"] == read(out, "features/concepts.json")["coverage"]
    assert len(read(out, "features.json")["coordinates"]) == 3
    steered = read(out, "steer/steering.json")["methods"]["trained_latents"]
    line = next(iter(read(out, "pipeline.json")["steering"].values()))["trained_latents"]
    assert (line["delta"], line["twin"]["delta"]) == (steered["test"]["delta"], steered["twin"]["test"]["delta"])
    # the report opens with the scoreboard, and each section says its finding, from those same files
    import html

    from causalgear.report.findings import findings

    found = findings(out)
    assert [f.stage for f in found][:4] == ["sae", "features", "causal", "cause_isolate"]
    page = html.unescape((out / "report.html").read_text())
    assert all(f.sentence in page for f in found) and page.index("Scoreboard") < page.index("Sparse autoencoder")


def test_steer_takes_the_coordinate_evaluate_chose_in_memory(piped):
    _, out = piped
    steered = read(out, "steer/steering.json")
    assert steered["feature"] == read(out, "evaluate/causal.json")["chosen"]
    assert steered["feature_source"] == "evaluate"


def test_the_report_has_every_section_and_real_embedded_plots(piped):
    _, out = piped
    page = (out / "report.html").read_text()
    for section in ("Sparse autoencoder", "Top-activating tokens", "Causal evaluation", "Steering", "Configuration"):
        assert re.search(f"<h2( id='[a-z-]+')?>{section}</h2>", page), section
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(pngs) >= 4 and all(p.startswith("iVBORw0KGgo") for p in pngs)
    assert "href='steer/attributions.html'" in page
    assert read(out, "evaluate/causal.json")["verdict"] in page


def test_the_report_says_when_no_scale_beat_no_steering(piped):
    _, out = piped
    methods = read(out, "steer/steering.json")["methods"]
    unbeaten = [name for name, m in methods.items() if m["unsteered_best_on_selection"]]
    assert ("no scale tried beat no steering" in (out / "report.html").read_text()) == bool(unbeaten)


def test_compare_reads_a_pipeline_run(piped):
    _, out = piped
    assert main(["compare", str(out)]) == 0
    (row,) = list(csv.DictReader(open(out / "comparison.csv")))
    assert float(row["causal_delta"]) == read(out, "evaluate/causal.json")["chosen_test"]["delta"]
    assert {"steer_grains_delta", "steer_additive_delta", "steer_grains_scale"} <= set(row)
    concepts = read(out, "features/concepts.json")
    assert float(row["coverage"]) == concepts["coverage"]


@pytest.fixture(scope="module")
def piped_jsonl(tiny_qwen2_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline_jsonl")
    path = write_user_jsonl(root / "mine")
    out = root / "run"
    code = main(["pipeline", *SMALL, f"model.name_or_path={tiny_qwen2_dir}", f"paths.cache_dir={root / 'cache'}",
                 "data=jsonl", f"data.path={path}", f"hydra.run.dir={out}"])
    return code, out


def test_pipeline_on_a_user_jsonl_runs_every_stage_the_source_supports(piped_jsonl):
    code, out = piped_jsonl
    assert code == 0
    for f in ("harvest/harvest.json", "train/metrics.json", "evaluate/causal.json", "steer/steering.json",
              "features/concepts.json", "report.html"):
        assert (out / f).is_file(), f


def test_pipeline_on_a_user_jsonl_skips_what_it_lacks_with_the_reason(piped_jsonl):
    _, out = piped_jsonl
    skipped = read(out, "pipeline.json")["skipped"]
    assert skipped == {"cause/isolate and activation patching": "no counterfactual pairs",
                       "concept steering": "no validation split", "question concept labels": "no question concepts",
                       "shift-split steering": "no shift splits"}
    said = [line for line in (out / "pipeline.log").read_text().splitlines() if "skips" in line]
    assert said == ["data=jsonl skips: shift-split steering (no shift splits); question concept labels (no question "
                    "concepts); cause/isolate and activation patching (no counterfactual pairs); concept steering "
                    "(no validation split)"]
    causal = read(out, "evaluate/causal.json")
    assert "cause_isolate" not in causal and not (out / "evaluate/patching.json").exists()
    steering = read(out, "steer/steering.json")
    assert steering["data_split"] == "test" and "no shift splits" in steering["split_choice"]["rule"]
    assert ("steering.target.split=auto falls back: auto: data=jsonl has no shift splits, so data.eval_split (test)"
            in (out / "pipeline.log").read_text())  # printed, not only kept in steering.json
    assert all("no validation split" in c["skipped"] for c in steering["concept_steering"].values())


def test_each_further_sae_seed_is_trained_from_the_same_harvest_and_measured_on_what_depends_on_the_sae(piped):
    summary, out = piped
    first, second = read(out, "train/metrics.json"), read(out, "seeds/seed_1/train/metrics.json")
    assert (first["seed"], second["seed"]) == (0, 1) and first["store"] == second["store"]
    for f in ("evaluate/causal.json", "features/concepts.json", "steer/steering.json"):
        assert (out / "seeds" / "seed_1" / f).is_file(), f
    assert not (out / "seeds" / "seed_1" / "evaluate" / "patching.json").exists()  # the model's alone: once
    seeds = read(out, "seeds/seeds.json")
    assert seeds["seeds"] == [0, 1] and set(seeds["stability"]["pairs"]) == {"0-1"}
    assert "random_twins" in seeds["stability"] and seeds["carriers"]["chosen"]["coordinates"].keys() == {"0", "1"}
    assert seeds["findings"]["sae"]["seeds"] == 2 and len(seeds["findings"]["sae"]["per_seed"]) == 2
    assert summary["sae_seeds"]["findings"]["sae"]["seeds"] == 2
    page = (out / "report.html").read_text()
    assert "id='sae-seeds'" in page and "Across 2 SAE seeds" in page
    assert (out / "seeds" / "seeds.png").is_file() and "alt='each SAE finding" in page
