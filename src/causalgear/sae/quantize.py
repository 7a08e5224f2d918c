"""A 4-bit SAE weight format of the project's own, dequantized on load.

Format `int4-absmax-g32`: every weight matrix is cut into groups of 32 consecutive values
(row-major, the last group zero-padded); each group stores one float16 scale = absmax / 7
and 32 signed 4-bit codes q = round(w / scale) in [-7, 7], two per byte (low nibble first,
q + 8 as unsigned). Biases and other 1-d tensors stay float16. Files: `cfg.json` (the SAE's,
with `causalgear.quantization` = {format, group_size, shapes}) and `sae_weights.q4.safetensors`
holding `NAME.q4` (uint8 [groups, 16]), `NAME.scale` (float16 [groups]) and `NAME` for kept tensors.
`load_sae` reads such a dir like any other. bitsandbytes' 4-bit kernels need a GPU; this format
runs anywhere and the SAE is small enough that dequantizing once on load costs milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from causalgear.sae.io import write_weights
from causalgear.sae.paths import Q4_WEIGHTS

FORMAT, GROUP = "int4-absmax-g32", 32


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


def save_quantized(sae, sae_cfg: dict, path: str | Path) -> Path:
    """Write `sae` (loaded from a dir whose cfg.json is `sae_cfg`) in the 4-bit format to `path`."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tensors, shapes = {}, {}
    for name, t in sae.weights().items():
        if t.dim() >= 2:
            tensors[f"{name}.q4"], tensors[f"{name}.scale"] = quantize_tensor(t)
            shapes[name] = list(t.shape)
        else:
            tensors[name] = t.detach().half().contiguous()
    cfg = json.loads(json.dumps(sae_cfg))
    cfg["dtype"] = "float32"  # what it dequantizes to
    cfg.setdefault("causalgear", {})["quantization"] = {"format": FORMAT, "group_size": GROUP, "shapes": shapes}
    write_weights(tensors, path, Q4_WEIGHTS, cfg)
    return path


def dequantized_state(tensors: dict[str, torch.Tensor], quant: dict) -> dict[str, torch.Tensor]:
    if quant.get("format") != FORMAT:
        raise ValueError(f"unknown SAE quantization format {quant.get('format')!r}: expected {FORMAT}")
    state = {k: v.float() for k, v in tensors.items() if not k.endswith((".q4", ".scale"))}
    for name, shape in quant["shapes"].items():
        state[name] = dequantize_tensor(tensors[f"{name}.q4"], tensors[f"{name}.scale"], shape)
    return state
