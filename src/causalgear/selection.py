"""`causalgear select`: one candidate SAE (architecture, k, block) trained and scored by what it
carries, on validation data only -> selection.json. `causalgear compare` ranks the candidates of a
sweep by `report.selection.RULE`, written before any sweep ran (the preset: `experiment=sae_selection`).

What a candidate is scored on (no test split is read):
- health: train's figures on the store's validation rows, against the health gate (`report.health`);
- carry: per attribute of a counterfactual pair (ORDER BY direction, the aggregate function), the
  best single latent of each swap, chosen (`cause_isolate.choose_latents`) on the pairs of every
  other validation example and measured on the pairs of the rest, so that the figure is not the
  maximum of the candidates it was chosen from; beside it the same for the SAE's random twin
  (`sae.random_twin`) and the full residual (what any interchange at the site can do);
- coverage: concept coverage (best latent per concept, mean F1) on the store's validation rows,
  minus its random twin's, with a paired interval over concepts;
- absorption: feature absorption on the same rows (`features.absorption`), the SAE's and the twin's
  (reported, not ranked on).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig, open_dict

from causalgear.io import write_json
from causalgear.report.health import health
from causalgear.report.selection import SCORED
from causalgear.report.tables import number

if TYPE_CHECKING:
    from causalgear.workbench import Workbench


def carry(bench: Workbench, twin, attribute: str, examples: list) -> dict:
    """The best single latent's cause and isolate per swap on held-apart validation pairs, for the SAE
    and its twin, beside the full residual's."""
    from causalgear.data.pairs import make_pairs
    from causalgear.interventions.cause_isolate import PairSet, choose_latents, per_pair_latents
    from causalgear.interventions.statistics import proportion
    from causalgear.interventions.types import full_residual

    c, seed = bench.cfg.causal, bench.cfg.seed
    choose = PairSet(bench, make_pairs(bench.tokenizer, examples[0::2], attribute, c.pairs, seed, every_swap=True))
    score = PairSet(bench, make_pairs(bench.tokenizer, examples[1::2], attribute, c.pairs, seed))
    out: dict = {"choose_pairs": len(choose.pairs), "score_pairs": len(score.pairs)}
    if not choose.pairs or not score.pairs:
        return {**out, "skipped": "no pair the unedited model answers right on both prompts"}
    for name, sae in (("sae", bench.sae), ("random_sae", twin)):
        chosen = choose_latents(sae, choose, c.pair_candidates)
        cause, isolate = score.run(per_pair_latents(sae, score, chosen, 1))
        # a swap names two values: one latent for each is what a two-latent goal allows
        cause_2, isolate_2 = score.run(per_pair_latents(sae, score, chosen, 2))
        out[name] = {"latents": {"->".join(s): [r["latent"] for r in rows[:2]] for s, rows in chosen.items()},
                     "cause": proportion(cause), "isolate": proportion(isolate),
                     "two_latents": {"cause": proportion(cause_2), "isolate": proportion(isolate_2)}}
    cause, isolate = score.run(full_residual)
    out["full_residual"] = {"cause": proportion(cause), "isolate": proportion(isolate)}
    return out


def dictionary(bench: Workbench, twin, fit_rows: int = 60_000) -> dict:
    """Concept coverage on the store's validation rows (fitting rows: its training rows) against the
    twin's, and feature absorption (`features.absorption`) of the SAE and of the twin."""
    from causalgear.features.absorption import absorption, probes
    from causalgear.features.against_random import against
    from causalgear.features.dictionary import concept_matrix, encode_rows, labelled_rows, score_dictionary
    from causalgear.features.stage import scorable
    from causalgear.sae.module import is_train, is_validation

    store, seed = bench.store, bench.cfg.seed
    x_fit, m_fit, _ = labelled_rows(store, is_train, fit_rows, seed)
    x_held, m_held, _ = labelled_rows(store, is_validation, fit_rows, seed)
    concepts, _ = scorable(store.manifest.get("concepts_known", []), m_fit, m_held)
    if not concepts:
        skipped = {"skipped": "no concept has enough labelled rows on both sides"}
        return {"coverage": skipped, "absorption": skipped}
    lab_fit, lab_held = concept_matrix(m_fit, concepts), concept_matrix(m_held, concepts)
    fitted = probes(x_fit.numpy(), lab_fit.numpy(), concepts, seed)
    f1, absorbed = {}, {}
    for name, sae in (("sae", bench.sae), ("random_sae", twin)):
        z_fit, z_held = encode_rows(sae, x_fit, x_held)
        scored = score_dictionary(z_fit, lab_fit, z_held, lab_held, concepts)
        f1[name] = [scored["per_concept"][c]["f1"] for c in concepts]
        absorbed[name] = absorption(sae, fitted, lab_fit.numpy(), x_held.numpy(), lab_held.numpy(), z_fit.numpy(),
                                    z_held.numpy(), concepts, seed)
    return {"coverage": {"concepts": len(concepts), **against(f1["sae"], f1["random_sae"], seed)},
            "absorption": absorbed}


def score(bench: Workbench, metrics: dict, out_dir: Path, origin: dict | None = None) -> dict:
    """selection.json: the candidate's health, carry and coverage (see the module's docstring);
    `origin`: the command, model and commit that ran (`causalgear.provenance`)."""
    from causalgear.data.loading import load_split

    start = time.monotonic()
    twin = bench.twin
    validation = load_split(bench.cfg, "validation")
    failed = health(metrics)
    result = {"arch": bench.sae.arch, "d_sae": bench.sae.d_sae, "k": metrics.get("k"), "layer": bench.site.layer,
              "site": bench.site.kind, "sae": bench.sae_path,
              "health": {k: metrics.get(k) for k in ("explained_variance", "l0", "density", "dead_fraction")},
              "passes_gate": not failed, "gate_failures": failed,
              "carry": {a: carry(bench, twin, a, validation) for a in SCORED}, **dictionary(bench, twin)}
    result["carry_score"] = carry_score(result)
    result["provenance"] = origin
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "selection.json", result)
    cov = result["coverage"]
    print(f"select: {result['arch']} k {result['k']} block {result['layer']}: gate "
          f"{'passed' if not failed else 'failed (' + '; '.join(failed) + ')'}; carry {result['carry_score']:.2f} ("
          + "; ".join(f"{a} {carried(r['sae'])['cause']['rate']:.2f} (one latent {r['sae']['cause']['rate']:.2f}), "
                      f"twin {carried(r['random_sae'])['cause']['rate']:.2f}, "
                      f"full residual {r['full_residual']['cause']['rate']:.2f}"
                      for a, r in result["carry"].items() if "sae" in r)
          + f"); coverage {cov.get('trained', float('nan')):.3f} minus twin {cov.get('delta', float('nan')):+.3f}; "
          f"absorption {number(result['absorption']['sae'].get('absorption_fraction'))} (twin "
          f"{number(result['absorption']['random_sae'].get('absorption_fraction'))}); {result['seconds']}s")
    return result


def carry_score(result: dict) -> float:
    """RULE's carry: the mean over SCORED of the cause of the best two latents per swap, one per value
    (0 where no pair was kept; a selection.json from before they were measured: its single latent's)."""
    return float(np.mean([carried(r["sae"])["cause"]["rate"] if "sae" in r else 0.0
                          for r in result["carry"].values()]))


def carried(figures: dict) -> dict:
    """The figures RULE ranks on: the best two latents per swap, where measured."""
    return figures.get("two_latents", figures)


def select(cfg: DictConfig, out_dir: Path) -> dict:
    """Train the configured SAE into out_dir/train, then score it (harvest shared per site by the
    cache); with `sae.path`, score that SAE instead (e.g. `hydra.run.dir=` its sweep job, to rescore)."""
    from causalgear.provenance import provenance
    from causalgear.sae.train import train
    from causalgear.workbench import Workbench

    origin = provenance("select", cfg.model.name)
    if cfg.sae.path is None:
        metrics = train(cfg, out_dir / "train")
        with open_dict(cfg):
            cfg.sae.path = str(out_dir / "train")
    else:  # an SAE already trained (a sweep's job, rescored): its own metrics.json
        from causalgear.io import read_json
        from causalgear.sae.paths import sae_dir

        metrics = read_json(sae_dir(cfg.sae.path).parent / "metrics.json", "point sae.path at a `causalgear train` "
                            "run dir, whose metrics.json gives the health gate's figures")
    return score(Workbench.load(cfg, "select"), metrics, out_dir, origin)
