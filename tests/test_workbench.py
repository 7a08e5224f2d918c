"""What a stage works on: the model, the SAE from sae.path with its own shape and site, its activations."""

from causalgear.preflight import compose
from causalgear.workbench import Workbench


def test_an_sae_from_another_block_than_model_layer_is_measured_over_its_own_block(smoke_sae):
    overrides, _ = smoke_sae
    trained = Workbench.load(compose(overrides, stage="evaluate"), "evaluate")
    elsewhere = Workbench.load(compose([*overrides, "model.layer=0"], stage="evaluate"), "evaluate")
    assert elsewhere.site.layer == trained.site.layer == 1
    assert elsewhere.store.path == trained.store.path  # the SAE's block's activations, not block 0's


def test_a_run_dir_loads_as_a_workbench_with_its_own_command_line(smoke_sae, tmp_path):
    import pytest

    from causalgear import load_workbench
    from causalgear.errors import CausalgearError

    overrides, root = smoke_sae
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "train").symlink_to(root / "train")
    given = [o for o in overrides if not o.startswith("sae.path=")] + ["stage=pipeline", "causal.n_test=7"]
    (run / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in given))
    bench = load_workbench(run, "causal.n_select=5")
    assert bench.cfg.causal.n_test == 7 and bench.cfg.causal.n_select == 5  # the run's line, then the caller's
    assert bench.sae_path.startswith(str(run / "train"))  # its own SAE
    assert bench.sae.d_sae == 8 and bench.site.layer == 1
    with pytest.raises(CausalgearError, match="has no train/"):
        load_workbench(tmp_path)
