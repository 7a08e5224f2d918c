"""`compare` puts real train runs side by side: one row each, a sortable page, the Pareto plot."""

import csv

from causalgear.cli import main
from causalgear.preflight import compose
from causalgear.sae.train import train


def test_compare_writes_one_row_per_run(tiny_qwen2_dir, tmp_path):
    sweep = tmp_path / "multirun"
    for i, l1 in enumerate(("1e-4", "1e-2")):
        cfg = compose(["model=hf", f"model.name_or_path={tiny_qwen2_dir}", "model.layer=1",
                       f"paths.cache_dir={tmp_path / 'cache'}", "logger=none", "sae=relu", "sae.d_sae=16",
                       "sae.epochs=1",
                       f"sae.l1_coeff={l1}", "sae.ce_examples=4", "data.n_train_per_set=20", "data.n_schemas=8",
                       "harvest.max_examples=60"])
        (sweep / str(i)).mkdir(parents=True)
        train(cfg, sweep / str(i))
    assert main(["compare", str(sweep)]) == 0
    rows = list(csv.DictReader(open(sweep / "comparison.csv")))
    assert [r["run"] for r in rows] == ["0", "1"]
    assert [float(r["l1_coeff"]) for r in rows] == [1e-4, 1e-2]
    assert all(r["explained_variance"] and r["l0"] for r in rows)
    page = (sweep / "comparison.html").read_text()
    assert page.count("<tr>") == 3 and "data:image/png;base64," in page
    assert (sweep / "pareto.png").stat().st_size > 1000


def test_compare_without_a_dir_takes_the_newest_multirun(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["compare"]) == 2 and "no multirun" in capsys.readouterr().err
    for d in ("multirun/2026-01-01/10-00-00", "multirun/2026-01-02/09-00-00"):
        (tmp_path / d).mkdir(parents=True)
    assert main(["compare"]) == 2  # the newest holds no runs, and it says which it looked at
    out = capsys.readouterr()
    assert "multirun/2026-01-02/09-00-00" in out.out and "no train runs" in out.err


def test_compare_refuses_a_dir_without_runs(tmp_path, capsys):
    assert main(["compare", str(tmp_path)]) == 2
    assert "no train runs" in capsys.readouterr().err
    assert main(["compare", str(tmp_path / "nope")]) == 2


def test_the_pareto_figure_gains_a_coverage_panel_where_runs_have_one(tmp_path):
    from causalgear.report.compare import pareto_png

    rows = [{"l1_coeff": lam, "l0": l0, "explained_variance": ev, "d_sae": 64} for lam, l0, ev in
            ((1e-4, 40.0, 0.97), (1e-3, 15.0, 0.92))]
    plain = pareto_png(rows, tmp_path / "a.png")
    covered = [{**r, "coverage": c} for r, c in zip(rows, (0.3, 0.2), strict=True)]
    with_coverage = pareto_png(covered, tmp_path / "b.png")
    import struct

    width = lambda png: struct.unpack(">I", png[16:20])[0]  # noqa: E731 - the PNG header's width
    assert plain.startswith(b"\x89PNG") and width(with_coverage) > width(plain)  # one more panel
    causal = {"causal_delta": -0.5, "causal_ci_low": -0.6, "causal_ci_high": -0.4, "causal_kl": 0.5,
              "causal_precision": 0.2, "causal_precision_ci_low": 0.1, "causal_precision_ci_high": 0.3}
    with_precision = pareto_png([{**r, **causal} for r in covered], tmp_path / "c.png")
    assert width(with_precision) > width(with_coverage)  # the causal delta and precision-against-KL panels


def test_a_run_row_carries_cause_and_isolate_per_attribute_beside_the_random_sae(tmp_path):
    import json

    from causalgear.report.compare import collect

    run = tmp_path / "0"
    (run / "evaluate").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"l0": 4.0, "explained_variance": 0.9}))
    rate = lambda r: {"rate": r, "ci_low": 0.0, "ci_high": 1.0, "n": 10}  # noqa: E731
    methods = {"top_1_latents": {"cause": rate(0.7), "isolate": rate(1.0),
                                 "twin": {"cause": rate(0.1), "isolate": rate(1.0)}},
               "diffmean": {"cause": rate(1.0), "isolate": rate(0.9)}}
    (run / "evaluate" / "causal.json").write_text(json.dumps({
        "chosen": 3, "chosen_test": {"delta": -0.1, "ci_low": -0.2, "ci_high": 0.0}, "kl_prompt_positions": 0.1,
        "beats_controls": False, "cause_isolate": {"aggregate": {"methods": methods},
                                                   "where_operator": {"methods": {}, "skipped": "no pair"}}}))
    row = collect(run, tmp_path)
    assert row["aggregate_top_1_latents_cause"] == 0.7 and row["aggregate_diffmean_isolate"] == 0.9
    assert row["aggregate_top_1_latents_twin_cause"] == 0.1
    assert "aggregate_full_residual_cause" not in row and not any(k.startswith("where_operator") for k in row)


def test_a_run_row_carries_steering_regression_and_concept_scores(tmp_path):
    import dataclasses
    import json

    from causalgear.report.compare import collect
    from causalgear.results import ConceptMethod, ConceptScore, Proportion, SplitMethod, SteeredSummary, to_json

    run = tmp_path / "0" / "train"  # a pipeline run's train dir, its steer dir beside it
    run.mkdir(parents=True)
    (run.parent / "steer").mkdir()
    (run / "metrics.json").write_text(json.dumps({"l0": 4.0, "explained_variance": 0.9}))
    summary = SteeredSummary(delta=0.05, ci_low=0.01, ci_high=0.09, changed_share=0.2)
    method = to_json(SplitMethod(latent=3, scale=2.0, test=summary,
                                 in_distribution=dataclasses.replace(summary, delta=-0.01)))
    score = ConceptScore(concept=0.4, instruction=1.0, fluency=1.0,
                         score=Proportion(rate=0.4, ci_low=0.3, ci_high=0.5, n=100))
    diffmean = to_json(ConceptMethod(latent=None, scale=1.0, test=score))
    (run.parent / "steer" / "steering.json").write_text(json.dumps({
        "methods": {"gated_additive": method},
        "concept_steering": {"order_direction:DESC": {"n_select": 10, "n_test": 100, "candidate_latents": [],
                                                      "methods": {"diffmean": diffmean}},
                             "aggregate:MAX": {"skipped": "no example"}}}))
    row = collect(run, tmp_path)
    assert row["steer_gated_additive_delta"] == 0.05 and row["steer_gated_additive_in_distribution_delta"] == -0.01
    assert row["concept_order_direction_DESC_diffmean_score"] == 0.4
    assert not any(k.startswith("concept_aggregate") for k in row)


def test_a_run_row_carries_coverage_beside_its_random_sae_twin(tmp_path):
    import json

    from causalgear.report.compare import collect

    run = tmp_path / "0" / "train"
    run.mkdir(parents=True)
    (run.parent / "features").mkdir()
    (run / "metrics.json").write_text(json.dumps({"l0": 4.0, "explained_variance": 0.9}))
    (run.parent / "features" / "concepts.json").write_text(json.dumps({
        "coverage": 0.5, "linear_probe_coverage": 0.7, "random_model_floor": {"coverage": 0.1},
        "dead_fraction": 0.0, "dense_fraction": 0.0,
        "random_sae": {"coverage": {"random": 0.45, "delta": 0.05, "ci_low": -0.01, "ci_high": 0.1,
                                    "finding": False}}}))
    row = collect(run, tmp_path)
    assert (row["coverage_random_sae"], row["coverage_minus_random_sae"], row["coverage_beats_random_sae"]) == \
        (0.45, 0.05, False)
