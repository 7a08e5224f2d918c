"""What a stage works on: the model, the SAE from sae.path with its own shape and site, its activations."""

from causalgear.preflight import compose
from causalgear.workbench import Workbench


def test_an_sae_from_another_block_than_model_layer_is_measured_over_its_own_block(smoke_sae):
    overrides, _ = smoke_sae
    trained = Workbench.load(compose(overrides, stage="evaluate"), "evaluate")
    elsewhere = Workbench.load(compose([*overrides, "model.layer=0"], stage="evaluate"), "evaluate")
    assert elsewhere.site.layer == trained.site.layer == 1
    assert elsewhere.store.path == trained.store.path  # the SAE's block's activations, not block 0's
