"""One loader for hub ids, local directories and the embedded model."""

import pytest
import torch
from transformers import AutoTokenizer, Qwen2ForCausalLM

from causalgear.models.embedded import CARD, embedded_dir
from causalgear.models.loading import ModelLoadError, load_model
from causalgear.preflight import compose
from tests.conftest import TEXTS


def hf_cfg(path, layer=1, **extra):
    overrides = ["model=hf", f"model.name_or_path={path}", f"model.layer={layer}"]
    return compose(overrides + [f"model.{k}={v}" for k, v in extra.items()]).model


def test_tiny_qwen2_round_trip_by_path_gives_the_same_logits(tiny_qwen2_dir, tmp_path):
    original = Qwen2ForCausalLM.from_pretrained(tiny_qwen2_dir).eval()
    model, tokenizer = load_model(hf_cfg(tiny_qwen2_dir), tmp_path)
    batch = tokenizer(TEXTS[:2], return_tensors="pt", padding=True)
    with torch.no_grad():
        expected = original(**batch).logits
        got = model(**batch).logits
    assert torch.equal(expected, got)


def test_tokenizer_round_trip_keeps_ids_including_numbers(tiny_qwen2_dir):
    from causalgear.models.tokenizer import train_tokenizer

    fresh = train_tokenizer(TEXTS * 5, vocab_size=300)
    loaded = AutoTokenizer.from_pretrained(tiny_qwen2_dir)
    for text in TEXTS + ["WHERE price >= 123.45 AND id = 7"]:
        assert fresh(text).input_ids == loaded(text).input_ids
    assert loaded.padding_side == "left"


def test_the_backbone_is_frozen_and_in_eval_mode(tiny_qwen2_dir, tmp_path):
    model, _ = load_model(hf_cfg(tiny_qwen2_dir), tmp_path)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training


def test_dtype_comes_from_the_config(tiny_qwen2_dir, tmp_path):
    model, _ = load_model(hf_cfg(tiny_qwen2_dir, dtype="bfloat16"), tmp_path)
    assert next(model.parameters()).dtype == torch.bfloat16


def test_a_missing_path_and_a_directory_without_weights_are_one_line_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist") as err:
        load_model(hf_cfg(tmp_path / "nope"), tmp_path)
    assert "\n" not in str(err.value)
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text("{}")
    with pytest.raises(ModelLoadError, match="has no weights"):
        load_model(hf_cfg(tmp_path / "empty"), tmp_path)


def test_an_unreachable_hub_id_is_a_clear_error(tmp_path, monkeypatch):
    # huggingface_hub reads HF_HUB_OFFLINE at import, so set the constant itself
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelLoadError, match="could not load model 'causalgear-test/no-such-model'") as err:
        load_model(hf_cfg("causalgear-test/no-such-model", layer=0), tmp_path)
    assert "\n" not in str(err.value)


def test_a_layer_beyond_the_loaded_model_is_refused(tiny_qwen2_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="allowed 0..2"):
        load_model(hf_cfg(tiny_qwen2_dir, layer=3), tmp_path)


def test_the_embedded_model_is_built_once_then_loaded_from_the_cache(smoke_model):
    cfg, model, _ = smoke_model
    path = embedded_dir(cfg.model, cfg.paths.cache_dir)
    assert (path / CARD).is_file() and (path / "model.safetensors").is_file()
    assert not list(path.parent.glob("*.tmp-*"))  # no half-built directory left behind
    again, _ = load_model(cfg.model, cfg.paths.cache_dir)
    for a, b in zip(model.parameters(), again.parameters(), strict=True):
        assert torch.equal(a, b)


def test_quantization_without_bitsandbytes_is_refused_clearly(tiny_qwen2_dir, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # as where it is not installed: import fails
    with pytest.raises(ModelLoadError, match="needs bitsandbytes"):
        load_model(hf_cfg(tiny_qwen2_dir, quantization="4bit"), tmp_path)
