"""Several SAEs per run: every further SAE seed (`sae.seeds`) trained from the run's harvest and
measured as the run's own SAE is, on everything that depends on the SAE.

Per seed, under `seeds/seed_<S>/`: train (`train/`), the causal choice with its controls and its
random twin, and cause / isolate of the best 1, 2 and 5 latents beside the twin's (`evaluate/`),
concept coverage beside the twin's (`features/`), and concept steering's SAE methods beside their
twins (`steer/steering.json`, `concept_steering` alone). What reads the model without the SAE
(activation patching, transfer, the references, the random-weight floor, DiffMean and the residual
methods) is the run's, measured once. The split steering runs on the first seed only. Then
seeds/seeds.json: the seeds, whether the dictionary comes back (`sae.stability`, beside the random
twins' floor), whether the latents that carry each attribute come back, and each finding's count.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import open_dict

from causalgear.io import write_json
from causalgear.report.seeds import across_seeds, seed_dir
from causalgear.results import to_json
from causalgear.sae.stability import decoder_directions, recurrence, stability
from causalgear.workbench import Workbench

# the split steering's SAE methods (grains, additive, clamp, trained latents and their gated twins)
# run on the first seed only: per seed they would take most of the run's time
SPLIT_STEERING = "first seed only"


def measure_seed(bench: Workbench, seed: int, out_dir: Path) -> tuple[Workbench, dict]:
    """Train SAE seed `seed` into `out_dir`/train and measure it: its workbench and its causal.json."""
    from causalgear.features.stage import coverage_on
    from causalgear.interventions.evaluate import evaluate_on
    from causalgear.sae.train import train
    from causalgear.steering.concepts.steer import concept_steering

    cfg = bench.cfg.copy()
    with open_dict(cfg):
        cfg.sae.seed, cfg.sae.path = seed, None
    print(f"== SAE seed {seed}")
    train(cfg, out_dir / "train")
    other = bench.with_sae(str(out_dir / "train"), seed)
    causal = evaluate_on(other, out_dir / "evaluate", sae_only=True)
    if bench.store.manifest.get("concepts_known"):
        (out_dir / "features").mkdir(parents=True, exist_ok=True)
        coverage_on(other, out_dir / "features")
    if bench.cfg.steering.concepts.targets:  # a data set without a validation split: each target says so
        (out_dir / "steer").mkdir(parents=True, exist_ok=True)
        write_json(out_dir / "steer" / "steering.json",
                   {"concept_steering": to_json(concept_steering(other, bench.cfg.seed, sae_only=True))})
    return other, causal


def best_latents(causal: dict, attribute: str, swap: list[str], k: int) -> list[int]:
    """The `k` latents cause / isolate chose first for one swap of an attribute (none where its
    selection pairs never had the swap)."""
    selection = ((causal.get("cause_isolate") or {}).get(attribute) or {}).get("selection", [])
    return next(([row["latent"] for row in s["latents"][:k]] for s in selection if s["swap"] == swap), [])


def carriers(causal_by_seed: dict[int, dict], directions: dict[int, object], k: int = 2) -> dict:
    """Per attribute and swap: the first seed's best `k` latents, and in each further seed the
    decoder cosine of each with its partner among that seed's best `k` (`sae.stability.recurrence`).
    And the causal choice's coordinate in each seed, with its cosine to the first seed's."""
    first, *rest = causal_by_seed
    out: dict = {"k": k, "attributes": {}}
    for attribute, r in (causal_by_seed[first].get("cause_isolate") or {}).items():
        swaps = {}
        for sel in r.get("selection", []):
            latents = {s: best_latents(causal_by_seed[s], attribute, sel["swap"], k) for s in causal_by_seed}
            swaps["->".join(sel["swap"])] = {"latents": {str(s): v for s, v in latents.items()},
                                             **recurrence(directions, first, latents[first],
                                                          {s: latents[s] for s in rest})}
        out["attributes"][attribute] = swaps
    chosen = {s: c["chosen"] for s, c in causal_by_seed.items()}
    out["chosen"] = {"coordinates": {str(s): j for s, j in chosen.items()},
                     **recurrence(directions, first, [chosen[first]], {s: [chosen[s]] for s in rest})}
    return out


def reseed_on(bench: Workbench, seeds: list[int], first_causal: dict, out_dir: Path) -> dict:
    """Seeds `seeds[1:]` (the first is `bench`'s SAE, already measured: `first_causal`), then
    seeds.json beside their dirs (`out_dir` is the run's `seeds/`)."""
    benches, causal = {seeds[0]: bench}, {seeds[0]: first_causal}
    for s in seeds[1:]:
        benches[s], causal[s] = measure_seed(bench, s, seed_dir(out_dir.parent, s))
    directions = {s: decoder_directions(b.sae) for s, b in benches.items()}
    result = {"seeds": seeds, "split_steering": SPLIT_STEERING,
              "stability": stability([b.sae for b in benches.values()], [b.twin for b in benches.values()]),
              "carriers": carriers(causal, directions)}
    result["findings"] = {key: a.as_dict() for key, a in across_seeds(out_dir.parent, seeds).items()}
    write_json(out_dir / "seeds.json", result)
    from causalgear.report.plots import seeds_plot

    seeds_plot(result["findings"], out_dir / "seeds.png")
    return result
