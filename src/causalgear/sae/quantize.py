"""The SAE with 4-bit weight matrices: bitsandbytes' nf4 (4-bit NormalFloat, one float32 absmax
per block of 64 values), quantized and dequantized by bitsandbytes itself, which runs on a CPU too.

Files: `cfg.json` (the SAE's, with `causalgear.quantization` = {format "bnb-nf4", blocksize,
shapes}) and `sae_weights.q4.safetensors` holding per weight matrix `NAME.nf4` (the packed codes)
and its quantization state as bitsandbytes serialises it (`NAME.absmax`, `NAME.quant_map`,
`NAME.quant_state.bitsandbytes__nf4`); biases and other 1-d tensors in float16. `load_sae` reads
such a dir like any other and dequantizes once on load: the SAE is small.

(The project had a 4-bit format of its own, int4 with an absmax per 32 values; measured against
nf4 on the `make run` SAE it was no smaller and no closer to float32, so it went.)
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from causalgear.sae.paths import Q4_WEIGHTS
from causalgear.sae.weights_file import write_weights

FORMAT, BLOCK = "bnb-nf4", 64


def _quantized(name: str, t: torch.Tensor) -> dict[str, torch.Tensor]:
    from bitsandbytes.functional import quantize_4bit

    packed, state = quantize_4bit(t.detach().float().contiguous(), quant_type="nf4", blocksize=BLOCK)
    return {f"{name}.nf4": packed, **{f"{name}.{k}": v for k, v in state.as_dict(packed=True).items()}}


def _dequantized(name: str, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    from bitsandbytes.functional import QuantState, dequantize_4bit

    prefix = f"{name}."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and not k.endswith(".nf4")}
    return dequantize_4bit(tensors[f"{name}.nf4"], QuantState.from_dict(state, device=torch.device("cpu")))


def save_quantized(sae, sae_cfg: dict, path: str | Path) -> Path:
    """Write `sae` (loaded from a dir whose cfg.json is `sae_cfg`) with nf4 weight matrices to `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors, shapes = {}, {}
    for name, t in sae.weights().items():
        if t.dim() < 2:
            tensors[name] = t.detach().half().contiguous()
        else:
            shapes[name] = list(t.shape)
            tensors.update(_quantized(name, t))
    cfg = json.loads(json.dumps(sae_cfg))
    cfg["dtype"] = "float32"  # what it dequantizes to
    cfg.setdefault("causalgear", {})["quantization"] = {"format": FORMAT, "blocksize": BLOCK, "shapes": shapes}
    write_weights(tensors, path, Q4_WEIGHTS, cfg)
    return path


def dequantized_state(tensors: dict[str, torch.Tensor], quant: dict) -> dict[str, torch.Tensor]:
    if quant.get("format") != FORMAT:
        raise ValueError(f"unknown SAE quantization format {quant.get('format')!r}: expected {FORMAT}")
    names = quant["shapes"]
    state = {k: v.float() for k, v in tensors.items() if not any(k.startswith(f"{n}.") for n in names)}
    for name, shape in names.items():
        state[name] = _dequantized(name, tensors).view(shape)
    return state
