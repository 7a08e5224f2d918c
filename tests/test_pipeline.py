"""The pipeline chains every stage into one run dir and ends with report.html."""

import json
import re

from causalgear.pipeline import run
from causalgear.preflight import compose


def test_pipeline_runs_every_stage_into_one_run_dir_and_reports(tiny_qwen2_dir, tmp_path):
    cfg = compose(["model=hf", f"model.name_or_path={tiny_qwen2_dir}", "model.layer=1",
                   f"paths.cache_dir={tmp_path / 'cache'}", "logger=none", "sae=relu", "sae.d_sae=4", "sae.epochs=1",
                   "sae.ce_examples=4", "data.n_train_per_set=20", "data.n_test_per_set=3",
                   "data.n_validation_per_set=2", "data.n_test_ood_per_set=2", "data.n_schemas=10",
                   "harvest.max_examples=40", "causal.n_select=4", "causal.n_test=4", "causal.n_boot=100",
                   "causal.kl_examples=2", "generation.max_new_tokens=6", "steering.scales=[0.1]",
                   "steering.alphas=[1.0]", "steering.n_steps=8", "report.features=3"])
    out = tmp_path / "run"
    out.mkdir()
    summary = run(cfg, out)
    for f in ("harvest/harvest.json", "train/metrics.json", "train/sae/cfg.json", "evaluate/causal.json",
              "evaluate/causal.png", "steer/steering.json", "steer/steering.png", "steer/attributions.json",
              "steer/attributions.html", "features.json", "pipeline.json", "report.html"):
        assert (out / f).is_file(), f
    saved = json.loads((out / "pipeline.json").read_text())
    assert set(saved["seconds"]) == {"harvest", "train", "load", "evaluate", "steer", "features", "top-tokens"}
    concepts = json.loads((out / "features/concepts.json").read_text())
    assert saved["features"]["coverage"] == concepts["coverage"] and (out / "features/features.html").is_file()
    causal = json.loads((out / "evaluate/causal.json").read_text())
    assert summary["causal"]["verdict"] == causal["verdict"]
    # steer took the coordinate evaluate chose, handed over in memory
    steered = json.loads((out / "steer/steering.json").read_text())
    assert steered["feature"] == causal["chosen"] and steered["feature_source"] == "evaluate"
    assert len(json.loads((out / "features.json").read_text())["coordinates"]) == 3

    page = (out / "report.html").read_text()
    for section in ("Sparse autoencoder", "Top-activating tokens", "Causal evaluation", "Steering", "Configuration"):
        assert f"<h2>{section}</h2>" in page, section
    # every plot is embedded as a real PNG, and the attributions page is linked relative to the report
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
    assert len(pngs) >= 4 and all(p.startswith("iVBORw0KGgo") for p in pngs)
    assert "href='steer/attributions.html'" in page
    assert causal["verdict"] in page
    steering = json.loads((out / "steer/steering.json").read_text())["methods"]
    unbeaten = any(m["unsteered_best_on_selection"] for m in steering.values())
    assert ("no scale tried beat no steering" in page) == unbeaten

    # compare reads a pipeline run: its causal and steering figures land in the row
    import csv

    from causalgear.cli import main

    assert main(["compare", str(out)]) == 0
    (row,) = list(csv.DictReader(open(out / "comparison.csv")))
    assert float(row["causal_delta"]) == causal["chosen_test"]["delta"]
    assert {"steer_grains_delta", "steer_additive_delta", "steer_grains_scale"} <= set(row)
    # and the concept coverage where features scored a concept; no column where it scored none
    if concepts.get("coverage") is None:
        assert "coverage" not in row and concepts["skipped"]
    else:
        assert float(row["coverage"]) == concepts["coverage"]
