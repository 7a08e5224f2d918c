"""What evaluate's component profile costs beside the generations it reads, side by side.

For the first N coordinates evaluate would patch, on its selection prompts: the time to generate
and score SQL under each coordinate's ablation (what evaluate does anyway), and the time to turn
those predictions into the component profile (sqlglot reading, per-component intervals). Prints
both, their ratio, and one JSON line. The profile is "free" when the ratio is small: it reuses
the generations.

  python bench/profile_cost.py sae.path=outputs/train/DATE/TIME [--coords 8]
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--coords", type=int, default=8)
    args, overrides = p.parse_known_args()

    from causalgear.data.components import components
    from causalgear.interventions.factory import Interventions
    from causalgear.interventions.profile import correctness, gold_has, profile
    from causalgear.interventions.specs import ZeroLatent
    from causalgear.preflight import compose
    from causalgear.workbench import Workbench

    bench = Workbench.load(compose(overrides), "bench")
    c, seed = bench.cfg.causal, bench.cfg.seed
    select = bench.splits().select
    made = Interventions(bench.site, bench.sae, bench.stats)
    run = bench.runner(select)
    alive = [j for j in range(bench.sae.d_sae) if bench.stats["firing_rate"][j] > 0][:args.coords]
    generate_s = profile_s = 0.0
    _, base_preds = run.correct()
    base, has = correctness(select, base_preds), gold_has(select)
    for j in alive:
        t = time.perf_counter()
        _, preds = run.correct(made.make(ZeroLatent(j)))
        generate_s += time.perf_counter() - t
        components.cache_clear()  # each coordinate's predictions are read afresh, as evaluate's would be
        t = time.perf_counter()
        profile(base, correctness(select, preds), has, c.n_boot, seed)
        profile_s += time.perf_counter() - t
    ratio = profile_s / generate_s
    print(f"{len(alive)} coordinates × {len(select)} prompts: generate and score {generate_s:.1f} s, "
          f"profile {profile_s:.2f} s, ratio {ratio:.3f} (evaluate's time × {1 + ratio:.3f} with the profile)")
    print(json.dumps({"coordinates": len(alive), "prompts": len(select), "generate_s": generate_s,
                      "profile_s": profile_s, "ratio": ratio}))


if __name__ == "__main__":
    main()
