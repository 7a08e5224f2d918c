"""The 4-bit SAE (bitsandbytes' nf4) against full precision: file size, reconstruction, and steered accuracy.

    python bench/sae_quant.py sae.path=outputs/pipeline/DATE/TIME/train [--feature J] [--prompts 300]
        [--mode clamp --scale 2.0] [other overrides]

Writes the SAE with nf4 weights (`bnb-nf4`, see causalgear.sae.quantize) to a temporary dir, then
measures both SAEs on the same data: explained variance on the
validation rows of the activation store, and execution accuracy of the model on the first
`--prompts` prompts of the held-out test split with the feature patched through each SAE. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--feature", type=int, default=None, help="default: steering.target.feature or evaluate's choice")
    p.add_argument("--prompts", type=int, default=300)
    p.add_argument("--mode", default="clamp", choices=["clamp", "zero", "mean"])
    p.add_argument("--scale", type=float, default=2.0, help="clamp: multiples of the mean active value")
    args, overrides = p.parse_known_args()

    from causalgear.interventions.factory import Interventions
    from causalgear.interventions.specs import code_spec
    from causalgear.preflight import compose
    from causalgear.sae.code_stats import coordinate_stats
    from causalgear.sae.io import load_sae
    from causalgear.sae.paths import Q4_WEIGHTS, WEIGHTS
    from causalgear.sae.quantize import save_quantized
    from causalgear.sae.train import validation_stats
    from causalgear.workbench import Workbench

    cfg = compose(overrides)
    bench = Workbench.load(cfg, "bench")
    full_dir = Path(bench.sae_path)
    feature = args.feature
    if feature is None:
        run = Path(cfg.sae.path)
        causal = run.parent / "evaluate" / "causal.json"
        feature = cfg.steering.target.feature
        if feature is None:
            feature = json.loads(causal.read_text())["chosen"]
    q_dir = save_quantized(bench.sae.cpu(), bench.sae_cfg, Path(tempfile.mkdtemp()) / "nf4")
    device = next(bench.model.parameters()).device
    saes = [("full", bench.sae.to(device), full_dir / WEIGHTS),
            ("nf4", load_sae(q_dir)[0].to(device), q_dir / Q4_WEIGHTS)]
    examples = bench.splits().test[:args.prompts]  # the test split every causal stage reports on
    runner = bench.runner(examples)
    base, _ = runner.correct()
    out = {"feature": feature, "mode": args.mode, "scale": args.scale, "prompts": len(examples),
           "unsteered_accuracy": float(base.mean())}
    for name, sae, path in saes:
        made = Interventions(bench.site, sae, coordinate_stats(sae, bench.store))
        steered, _ = runner.correct(made.make(code_spec(args.mode, feature, args.scale)))
        ev = validation_stats(sae, bench.store, normalize=False).compute()["explained_variance"]
        out[name] = {"bytes": path.stat().st_size, "explained_variance": round(ev, 5),
                     "steered_accuracy": float(steered.mean())}
    out["size_ratio"] = round(out["nf4"]["bytes"] / out["full"]["bytes"], 4)
    out["ev_change"] = round(out["nf4"]["explained_variance"] - out["full"]["explained_variance"], 5)
    out["steered_accuracy_change"] = out["nf4"]["steered_accuracy"] - out["full"]["steered_accuracy"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
