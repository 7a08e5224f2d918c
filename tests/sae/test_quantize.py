"""The 4-bit SAE: bitsandbytes' own nf4, one loader, a seventh of the bytes."""

import torch

from causalgear.sae.deep_relu import DeepReLUSAE
from causalgear.sae.io import WEIGHTS, load_sae, save_sae
from causalgear.sae.quantize import Q4_WEIGHTS, save_quantized
from causalgear.sae.relu import ReLUSAE


def test_nf4_is_bitsandbytes_own_round_trip_through_the_one_loader(tmp_path):
    from bitsandbytes.functional import dequantize_4bit, quantize_4bit

    torch.manual_seed(0)
    for arch, sae in (("relu", ReLUSAE(64, 256)), ("deep_relu", DeepReLUSAE(64, 16, [128, 32]))):
        full = save_sae(sae, tmp_path / arch / "full", layer=1, site="resid", model_name="tiny")
        loaded, cfg = load_sae(full)
        q_dir = save_quantized(loaded, cfg, tmp_path / arch / "nf4")
        q_sae, q_cfg = load_sae(q_dir)
        assert q_cfg["causalgear"]["quantization"]["format"] == "bnb-nf4"
        for name, w in loaded.weights().items():
            if w.dim() == 2:  # exactly what bitsandbytes' own round trip gives
                packed, state = quantize_4bit(w.float().contiguous(), quant_type="nf4", blocksize=64)
                assert torch.equal(q_sae.weights()[name], dequantize_4bit(packed, state)), name
            else:  # biases in float16
                assert torch.equal(q_sae.weights()[name], w.half().float()), name
        x = torch.randn(50, 64)
        with torch.no_grad():
            rel = (q_sae(x) - loaded(x)).norm() / loaded(x).norm()
        assert 0 < rel < 0.2, (arch, rel)
        assert (q_dir / Q4_WEIGHTS).stat().st_size < 0.2 * (full / WEIGHTS).stat().st_size
