"""4-bit and 8-bit loading through bitsandbytes (a dependency, CPU included): the quantized model
loads, generates, harvests and is patched like the full-precision one."""

import pytest
import torch

from causalgear.harvest.run import ensure_store
from causalgear.interventions.types import ZeroCode
from causalgear.models.generate import generate_sql
from causalgear.models.loading import load_model
from causalgear.models.site import Site
from causalgear.preflight import compose
from causalgear.sae.relu import ReLUSAE
from tests.conftest import TEXTS, save_tiny_qwen2

LINEAR = {"4bit": "Linear4bit", "8bit": "Linear8bitLt"}


def overrides(path, cache, quantization):
    return ["model=hf", f"model.name_or_path={path}", "model.layer=1", f"model.quantization={quantization}",
            f"paths.cache_dir={cache}", "harvest.max_examples=20", "data.n_train_per_set=20", "data.n_schemas=8"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny Qwen2 wide enough for bitsandbytes' 4-bit blocks (its key/value projections are 32 wide)."""
    return save_tiny_qwen2(tmp_path_factory.mktemp("qwen2-64"), hidden_size=64)


@pytest.fixture(scope="module")
def full(model_dir, tmp_path_factory):
    return load_model(compose(overrides(model_dir, tmp_path_factory.mktemp("c"), "none")).model, "unused")


@pytest.mark.parametrize("quantization", ["4bit", "8bit"])
def test_a_quantized_model_loads_generates_harvests_and_patches(model_dir, tmp_path, full, quantization):
    cfg = compose(overrides(model_dir, tmp_path, quantization))
    model, tokenizer = load_model(cfg.model, tmp_path)
    assert type(model.model.layers[0].mlp.up_proj).__name__ == LINEAR[quantization]
    batch = tokenizer(TEXTS[:2], return_tensors="pt", padding=True)
    with torch.no_grad():
        got, expected = model(**batch).logits, full[0](**batch).logits
    # quantized, not equal; close enough that the model is the same model
    assert not torch.equal(got, expected)
    assert ((got - expected).norm() / expected.norm()) < 0.25

    sql = generate_sql(model, tokenizer, TEXTS[:2], max_new_tokens=4)
    assert len(sql) == 2 and all(isinstance(s, str) for s in sql)

    store, hit = ensure_store(cfg, model, tokenizer, progress=False)
    assert not hit and store.n_rows > 0 and store.d_in == model.config.hidden_size
    assert store.manifest["inputs"]["model"]["quantization"] == quantization  # its own cache key

    torch.manual_seed(0)
    sae = ReLUSAE(store.d_in, 8)
    with torch.no_grad():
        sae.b_enc.fill_(0.5)  # every code fires, so zeroing one changes the stream
        plain = model(**batch).logits
        site = Site(model, 1)
        with ZeroCode(site, sae, 3).applied({"example_index": torch.arange(len(batch["input_ids"]))}):
            patched = model(**batch).logits
        with site.edit(lambda h: h):
            same = model(**batch).logits
    assert not torch.equal(plain, patched) and torch.equal(plain, same)
