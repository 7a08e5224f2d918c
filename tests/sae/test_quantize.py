"""The 4-bit SAE format: bounded round-off, one loader, a quarter of the bytes."""

import torch

from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.io import WEIGHTS, load_sae, save_sae
from causalgear.sae.quantize import Q4_WEIGHTS, dequantize_tensor, quantize_tensor, save_quantized
from causalgear.sae.relu import ReLUSAE


def test_round_trip_error_is_at_most_half_a_step_per_group():
    torch.manual_seed(0)
    w = torch.randn(37, 19)  # not a multiple of the group size: the last group is padded
    packed, scale = quantize_tensor(w)
    back = dequantize_tensor(packed, scale, list(w.shape))
    assert back.shape == w.shape and packed.dtype == torch.uint8
    step = scale.float().repeat_interleave(32)[: w.numel()].view(w.shape)
    assert bool(((back - w).abs() <= step / 2 + 1e-6).all())
    assert bool((back[w == 0] == 0).all())


def test_quantized_sae_loads_through_the_one_loader_and_is_four_times_smaller(tmp_path):
    for arch, sae in (("relu", ReLUSAE(64, 256)), ("deep_relu", DeepReLUSAE(64, 16, [128, 32]))):
        torch.manual_seed(0)
        full = save_sae(sae, tmp_path / arch / "full", layer=1, site="resid", model_name="tiny")
        loaded, cfg = load_sae(full)
        q_dir = save_quantized(loaded, cfg, tmp_path / arch / "q4")
        q_sae, q_cfg = load_sae(q_dir)
        assert q_cfg["causalgear"]["quantization"]["format"] == "int4-absmax-g32"
        x = torch.randn(50, 64)
        with torch.no_grad():
            rel = (q_sae(x) - loaded(x)).norm() / loaded(x).norm()
        assert 0 < rel < 0.2, (arch, rel)
        assert (q_dir / Q4_WEIGHTS).stat().st_size < 0.35 * (full / WEIGHTS).stat().st_size


def test_nf4_is_bitsandbytes_own_and_loads_through_the_one_loader(tmp_path):
    from bitsandbytes.functional import dequantize_4bit, quantize_4bit

    torch.manual_seed(0)
    for arch, sae in (("relu", ReLUSAE(64, 256)), ("deep_relu", DeepReLUSAE(64, 16, [128, 32]))):
        full = save_sae(sae, tmp_path / arch / "full", layer=1, site="resid", model_name="tiny")
        loaded, cfg = load_sae(full)
        q_sae, q_cfg = load_sae(save_quantized(loaded, cfg, tmp_path / arch / "nf4", "nf4"))
        assert q_cfg["causalgear"]["quantization"]["format"] == "bnb-nf4"
        for name, w in loaded.weights().items():
            if w.dim() == 2:  # exactly what bitsandbytes' own round trip gives
                packed, state = quantize_4bit(w.float().contiguous(), quant_type="nf4", blocksize=64)
                assert torch.equal(q_sae.weights()[name], dequantize_4bit(packed, state)), name
        x = torch.randn(50, 64)
        with torch.no_grad():
            rel = (q_sae(x) - loaded(x)).norm() / loaded(x).norm()
        assert 0 < rel < 0.2, (arch, rel)
