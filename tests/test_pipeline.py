"""The pipeline chains the stages into one run dir and names what is not built yet."""

import json

from causalgear.config import compose
from causalgear.pipeline import run


def test_pipeline_runs_every_built_stage_into_one_run_dir(tiny_qwen2_dir, tmp_path):
    cfg = compose(["model=hf", f"model.name_or_path={tiny_qwen2_dir}", "model.layer=1",
                   f"paths.cache_dir={tmp_path / 'cache'}", "logger=none", "sae=relu", "sae.k=4", "sae.epochs=1",
                   "sae.ce_examples=4", "data.n_train_per_set=20", "data.n_test_per_set=3",
                   "data.n_validation_per_set=2", "data.n_test_ood_per_set=2", "data.n_schemas=10",
                   "harvest.max_examples=40", "causal.n_select=4", "causal.n_test=4", "causal.n_boot=100",
                   "causal.kl_examples=2", "generation.max_new_tokens=6"])
    out = tmp_path / "run"
    out.mkdir()
    summary = run(cfg, out)
    for f in ("harvest/harvest.json", "train/metrics.json", "train/sae/cfg.json", "evaluate/causal.json",
              "evaluate/causal.png", "pipeline.json"):
        assert (out / f).is_file(), f
    saved = json.loads((out / "pipeline.json").read_text())
    assert saved["not_built_yet"] and set(saved["seconds"]) == {"harvest", "train", "evaluate"}
    assert summary["causal"]["verdict"] == json.loads((out / "evaluate/causal.json").read_text())["verdict"]
