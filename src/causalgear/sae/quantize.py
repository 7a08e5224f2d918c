"""A 4-bit SAE weight format of the project's own, dequantized on load.

Format `int4-absmax-g32`: every weight matrix is cut into groups of 32 consecutive values
(row-major, the last group zero-padded); each group stores one float16 scale = absmax / 7
and 32 signed 4-bit codes q = round(w / scale) in [-7, 7], two per byte (low nibble first,
q + 8 as unsigned). Biases and other 1-d tensors stay float16. Files: `cfg.json` (the SAE's,
with `causalgear.quantization` = {format, group_size, shapes}) and `sae_weights.q4.safetensors`
holding `NAME.q4` (uint8 [groups, 16]), `NAME.scale` (float16 [groups]) and `NAME` for kept tensors.
`load_sae` reads such a dir like any other.

Format `bnb-nf4` (`serve.sae_quantization=nf4`): bitsandbytes' 4-bit NormalFloat, quantized and
dequantized by bitsandbytes itself (which runs on a CPU too): per matrix `NAME.nf4` (the packed
codes) and the quantization state as bitsandbytes serialises it (`NAME.absmax`, `NAME.quant_map`,
`NAME.quant_state.bitsandbytes__nf4`). Either is dequantized once on load: the SAE is small.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from causalgear.sae.io import write_weights
from causalgear.sae.paths import Q4_WEIGHTS

FORMAT, GROUP = "int4-absmax-g32", 32
NF4_BLOCK = 64
# serve.sae_quantization -> the format name written into cfg.json
FORMATS = {"int4": FORMAT, "nf4": "bnb-nf4"}


def quantize_tensor(w: torch.Tensor, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor]:
    flat = w.detach().float().flatten()
    flat = torch.cat([flat, flat.new_zeros(-len(flat) % group)]).view(-1, group)
    scale = (flat.abs().amax(1) / 7).clamp_min(1e-12).half()
    q = (flat / scale.float()[:, None]).round().clamp(-7, 7).to(torch.int16) + 8
    packed = (q[:, 0::2] | (q[:, 1::2] << 4)).to(torch.uint8)
    return packed, scale


def dequantize_tensor(packed: torch.Tensor, scale: torch.Tensor, shape: list[int]) -> torch.Tensor:
    low, high = (packed & 0x0F).to(torch.int16) - 8, (packed >> 4).to(torch.int16) - 8
    q = torch.stack([low, high], dim=-1).flatten(1).float()
    n = int(torch.tensor(shape).prod()) if shape else 1
    return (q * scale.float()[:, None]).flatten()[:n].view(shape)


def _nf4(name: str, t: torch.Tensor) -> dict[str, torch.Tensor]:
    """bitsandbytes' nf4 (4-bit NormalFloat, one float32 absmax per block of 64): the packed codes
    and the quantization state in the names bitsandbytes serialises it with."""
    from bitsandbytes.functional import quantize_4bit

    packed, state = quantize_4bit(t.detach().float().contiguous(), quant_type="nf4", blocksize=NF4_BLOCK)
    return {f"{name}.nf4": packed, **{f"{name}.{k}": v for k, v in state.as_dict(packed=True).items()}}


def _nf4_dequantized(name: str, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
    from bitsandbytes.functional import QuantState, dequantize_4bit

    prefix = f"{name}."
    state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix) and not k.endswith(".nf4")}
    return dequantize_4bit(tensors[f"{name}.nf4"], QuantState.from_dict(state, device=torch.device("cpu")))


def save_quantized(sae, sae_cfg: dict, path: str | Path, fmt: str = "int4") -> Path:
    """Write `sae` (loaded from a dir whose cfg.json is `sae_cfg`) with 4-bit weight matrices to
    `path`: `fmt` "int4" (the project's int4-absmax-g32) or "nf4" (bitsandbytes' nf4)."""
    if fmt not in FORMATS:
        raise ValueError(f"SAE quantization {fmt!r}: one of {', '.join(FORMATS)}")
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors, shapes = {}, {}
    for name, t in sae.weights().items():
        if t.dim() < 2:
            tensors[name] = t.detach().half().contiguous()
            continue
        shapes[name] = list(t.shape)
        if fmt == "nf4":
            tensors.update(_nf4(name, t))
        else:
            tensors[f"{name}.q4"], tensors[f"{name}.scale"] = quantize_tensor(t)
    cfg = json.loads(json.dumps(sae_cfg))
    cfg["dtype"] = "float32"  # what it dequantizes to
    quant = {"format": FORMATS[fmt], "shapes": shapes}
    quant.update({"group_size": GROUP} if fmt == "int4" else {"blocksize": NF4_BLOCK})
    cfg.setdefault("causalgear", {})["quantization"] = quant
    write_weights(tensors, path, Q4_WEIGHTS, cfg)
    return path


def dequantized_state(tensors: dict[str, torch.Tensor], quant: dict) -> dict[str, torch.Tensor]:
    fmt = quant.get("format")
    if fmt not in FORMATS.values():
        raise ValueError(f"unknown SAE quantization format {fmt!r}: one of {', '.join(FORMATS.values())}")
    names = quant["shapes"]
    state = {k: v.float() for k, v in tensors.items() if not any(k.startswith(f"{n}.") for n in names)}
    for name, shape in names.items():
        if fmt == FORMATS["nf4"]:
            state[name] = _nf4_dequantized(name, tensors).view(shape)
        else:
            state[name] = dequantize_tensor(tensors[f"{name}.q4"], tensors[f"{name}.scale"], shape)
    return state
