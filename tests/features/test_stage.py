"""`causalgear features` on the embedded model's code path: every field, and a page that renders."""

import json

import pytest

from causalgear.features.stage import features
from causalgear.preflight import compose
from tests.conftest import chromium_dom


@pytest.fixture(scope="module")
def scored(smoke_sae, tmp_path_factory):
    overrides, _ = smoke_sae
    out = tmp_path_factory.mktemp("features")
    result = features(compose([*overrides, "harvest.max_examples=80", "data.n_train_per_set=80", "sae.epochs=1"]),
                      out)
    return result, out


def test_features_writes_every_field(scored):
    result, out = scored
    saved = json.loads((out / "concepts.json").read_text())
    assert saved["coverage"] == pytest.approx(result["coverage"])
    assert saved["concepts"] and set(saved["per_concept"]) == set(saved["concepts"])
    f1s = [c["f1"] for c in saved["per_concept"].values()]
    assert saved["coverage"] == pytest.approx(sum(f1s) / len(f1s))
    for c in saved["per_concept"].values():
        assert 0 <= c["precision"] <= 1 and 0 <= c["recall"] <= 1 and 0 <= c["f1"] <= 1
        assert set(c["references"]) == {"linear_probe", "diffmean", "k_sparse_1", "k_sparse_2", "k_sparse_5"}
    assert len(saved["latents"]) == 8  # the smoke SAE's codes, each with its best concept
    assert all(r["best_concept"] in saved["concepts"] for r in saved["latents"])
    floor = saved["random_model_floor"]
    assert 0 <= floor["coverage"] <= 1 and set(floor["per_concept_f1"]) == set(saved["concepts"])
    assert saved["held_out_rows"] > 0 and saved["fit_rows"] > saved["held_out_rows"]


def test_the_feature_page_renders_in_chromium(scored, tmp_path):
    _, out = scored
    page = (out / "features.html").read_text()
    assert page.count("class='card'") == sum(r["firing_rate"] > 0 for r in scored[0]["latents"])
    dom = chromium_dom(out / "features.html", tmp_path)
    assert "SAE features against TinySQL's concepts" in dom and dom.count("<tr>") > 8


def test_the_notebook_runs_top_to_bottom_and_shows_the_views(scored, monkeypatch):
    nbclient = pytest.importorskip("nbclient")
    import nbformat

    from tests.conftest import REPO

    _, out = scored
    monkeypatch.setenv("CAUSALGEAR_RUN", str(out))
    nb = nbformat.read(REPO / "notebooks" / "features.ipynb", as_version=4)
    where = {"metadata": {"path": str(REPO)}}
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3", resources=where)
    client.execute()
    shown = [o["data"]["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "text/html" in o.get("data", {})]
    assert any("coverage (mean over" in h for h in shown)  # the summary
    assert any("best latent" in h for h in shown)  # the concepts table
    assert any("class='card'" in h and "top activating contexts" in h for h in shown)  # latent cards


def test_coverage_and_k_sparse_probing_stand_beside_the_random_sae_twin(scored):
    result, out = scored
    twin = json.loads((out / "concepts.json").read_text())["random_sae"]
    assert twin["coverage"]["trained"] == pytest.approx(result["coverage"])
    assert 0 <= twin["coverage"]["random"] <= 1 and twin["coverage"]["n"] == len(result["concepts"])
    c = twin["coverage"]
    assert c["delta"] == pytest.approx(c["trained"] - c["random"]) and c["ci_low"] <= c["delta"] <= c["ci_high"]
    assert c["finding"] == (c["ci_low"] > 0)
    assert set(twin["k_sparse_coverage"]) == {"1", "2", "5"}
    assert twin["k_sparse_coverage"]["1"]["trained"] == pytest.approx(result["k_sparse_coverage"][1])


def test_against_random_is_a_finding_only_where_the_interval_clears_zero():
    from causalgear.features.against_random import against

    clear = against([0.9, 0.8, 0.85, 0.9], [0.1, 0.2, 0.15, 0.1], seed=0)
    assert clear["finding"] and clear["ci_low"] > 0 and clear["n"] == 4
    tied = against([0.5, 0.2, 0.9, None], [0.5, 0.3, 0.8, 0.4], seed=0)
    assert not tied["finding"] and tied["n"] == 3  # a concept one side does not score is left out
