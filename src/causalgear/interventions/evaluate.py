"""`causalgear evaluate`: which SAE coordinate, when intervened on, changes execution accuracy
beyond its controls, on prompts it was not chosen on.

Held-out prompts are split into a selection split (every coordinate is patched there; the
coordinate with the largest accuracy change is chosen) and a disjoint test split (the chosen
coordinate is re-measured with a paired bootstrap interval, against a random coordinate and
a random direction of the same per-token norm as its decoder contribution).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from omegaconf import DictConfig

from causalgear.data.components import COMPONENTS
from causalgear.interventions.attribution import attribution_scores, spearman
from causalgear.interventions.controls import judge, with_controls
from causalgear.interventions.factory import Interventions
from causalgear.interventions.measures import counterfactual_codes, prompt_kl
from causalgear.interventions.profile import correctness, gold_has, precision_interval, profile
from causalgear.interventions.specs import code_spec
from causalgear.interventions.statistics import paired_bootstrap
from causalgear.io import write_json
from causalgear.logs import bar as progress_bar
from causalgear.sae.code_stats import top_activating_tokens
from causalgear.seeds import seed_for
from causalgear.workbench import Workbench


def evaluate(cfg: DictConfig, out_dir: Path) -> dict:
    return evaluate_on(Workbench.load(cfg, "evaluate"), out_dir)


def _ranked(bench: Workbench, sae, made: Interventions, select, per_coord: list[dict]) -> tuple[str, list[int]]:
    """Which coordinates to patch: all of a small dictionary; for a large one, the top
    `causal.confirm_top` by attribution patching (recorded in `per_coord`)."""
    c = bench.cfg.causal
    if sae.d_sae <= c.exhaustive_max:
        return "exhaustive", list(range(sae.d_sae))
    scores = attribution_scores(bench.tokenizer, sae, select, bench.site, made.code_delta(c.mode, c.scale))
    for j in range(sae.d_sae):
        per_coord[j]["attribution"] = float(scores[j])
    return "attribution", scores.abs().argsort(descending=True)[:c.confirm_top].tolist()


def choose_coordinate(bench: Workbench, sae, stats: dict, made: Interventions, select, sel_run,
                      unedited: tuple, desc: str) -> tuple[str, list[dict], int]:
    """Patch the coordinates `_ranked` names on the selection split and choose one by
    `causal.select_by`: (how they were ranked, every coordinate's row, the chosen coordinate).
    `unedited`: the selection split's (correct, correctness per component, gold has component)."""
    c, seed = bench.cfg.causal, bench.cfg.seed
    base_sel, base_parts, has = unedited
    per_coord = [{"coordinate": j, "delta": None, "ci_low": None, "ci_high": None, "n": None,
                  "firing_rate": float(stats["firing_rate"][j]), "mean_activation": float(stats["mean"][j]),
                  "mean_active_value": float(stats["mean_active"][j])} for j in range(sae.d_sae)]
    method, to_patch = _ranked(bench, sae, made, select, per_coord)
    for j in progress_bar(to_patch, desc=desc, unit="coord"):
        if stats["firing_rate"][j] == 0 and c.mode == "zero":
            # a code that never fires: ablating it is the identity, nothing to measure
            treated, parts = base_sel, base_parts
        else:
            treated, preds = sel_run.correct(made.make(code_spec(c.mode, j, c.scale)))
            parts = correctness(select, preds)
        per_coord[j].update(paired_bootstrap(base_sel, treated, c.n_boot, seed).as_dict())
        per_coord[j].update(profile(base_parts, parts, has, c.n_boot, seed))
    measured = [r for r in per_coord if r["delta"] is not None]
    if c.select_by == "precision":
        chosen = max(measured, key=lambda r: (r["precision"], abs(r["delta"]), -r["coordinate"]))["coordinate"]
    else:
        chosen = max(measured, key=lambda r: (abs(r["delta"]), -r["coordinate"]))["coordinate"]
    return method, per_coord, chosen


def twin_coordinate(bench: Workbench, held, sel_run, test_run, unedited: tuple, unedited_test: tuple) -> dict:
    """The random twin's coordinate, chosen on the selection split as the SAE's is, and its accuracy
    change and causal precision on the test split: the control the chosen coordinate's must clear."""
    cfg, c = bench.cfg, bench.cfg.causal
    twin, stats = bench.twin, bench.twin_stats
    cf_sel = cf_test = None
    if c.mode == "interchange":
        cf_sel = counterfactual_codes(bench.tokenizer, twin, bench.site, held.select, held.pool, cfg.seed)
        cf_test = counterfactual_codes(bench.tokenizer, twin, bench.site, held.test, held.pool, cfg.seed)
    _, _, chosen = choose_coordinate(bench, twin, stats, Interventions(bench.site, twin, stats, cf_sel), held.select,
                                     sel_run, unedited, f"random SAE: patch ({c.mode})")
    base_test, base_parts, has = unedited_test
    treated, preds = test_run.correct(Interventions(bench.site, twin, stats, cf_test).make(
        code_spec(c.mode, chosen, c.scale)))
    parts = correctness(held.test, preds)
    p = profile(base_parts, parts, has, c.n_boot, cfg.seed)
    low, high = precision_interval(base_parts, parts, has, c.n_boot, cfg.seed)
    return {"coordinate": chosen, **paired_bootstrap(base_test, treated, c.n_boot, cfg.seed).as_dict(),
            "target_component": p["target_component"], "precision": p["precision"], "precision_ci_low": low,
            "precision_ci_high": high}


def evaluate_on(bench: Workbench, out_dir: Path, sae_only: bool = False) -> dict:
    """`sae_only`: what depends on the SAE alone (another SAE seed's measure), without activation
    patching and transfer, which read the model and are the same for every SAE."""
    cfg, c, sae, stats = bench.cfg, bench.cfg.causal, bench.sae, bench.stats
    start = time.monotonic()
    held = bench.splits()
    select, test = held.select, held.test
    cf_sel = cf_test = None
    if c.mode == "interchange":
        cf_sel = counterfactual_codes(bench.tokenizer, sae, bench.site, select, held.pool, cfg.seed)
        cf_test = counterfactual_codes(bench.tokenizer, sae, bench.site, test, held.pool, cfg.seed)
    on_select = Interventions(bench.site, sae, stats, cf_sel)
    sel_run, test_run = bench.runner(select), bench.runner(test)
    base_sel, base_preds = sel_run.correct()
    base_parts, has = correctness(select, base_preds), gold_has(select)
    base_test, base_test_preds = test_run.correct()

    unedited = (base_sel, base_parts, has)
    method, per_coord, chosen = choose_coordinate(bench, sae, stats, on_select, select, sel_run, unedited,
                                                  f"patch ({c.mode})")
    measured = [r for r in per_coord if r["delta"] is not None]
    rank_corr = spearman([r["attribution"] for r in measured], [r["delta"] for r in measured]) \
        if method == "attribution" else None
    on_test = Interventions(bench.site, sae, stats, cf_test)
    result = {
        "method": method, "confirmed": len(measured), "spearman_attribution_vs_patching": rank_corr,
        "mode": c.mode, "scale": c.scale if c.mode == "clamp" else None,
        "layer": bench.site.layer, "site": bench.site.kind, "sae": bench.sae_path, "sae_verified": bench.sae_verified,
        "d_sae": sae.d_sae,
        "n_select": len(select), "n_test": len(test), "data_split": held.split,
        "baseline": {"selection_accuracy": float(base_sel.mean()), "test_accuracy": float(base_test.mean()),
                     "selection_correct": int(base_sel.sum()), "test_correct": int(base_test.sum())},
        "coordinates": per_coord, "chosen": chosen, "components": list(COMPONENTS),
        "select_by": c.select_by,
        **on_the_test_split(bench, held, chosen, on_test, (sel_run, test_run), unedited, (base_test, base_test_preds)),
    }
    result.update(beyond_the_choice(bench, held, out_dir, chosen, result["controls"]["random_coordinate"]["coordinate"],
                                    sae_only))
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "causal.json", result)
    _plot_and_print(result, out_dir)
    return result


def on_the_test_split(bench: Workbench, held, chosen: int, on_test: Interventions, runs: tuple, unedited: tuple,
                      base_test: tuple) -> dict:
    """The chosen coordinate on the test split beside its controls (a random live coordinate, a random
    direction), its causal precision, the random-weight twin's choice, the prompt KL and the verdict."""
    cfg, c, sae, stats = bench.cfg, bench.cfg.causal, bench.sae, bench.stats
    (sel_run, test_run), test = runs, held.test
    (base_test, base_test_preds) = base_test
    rng = random.Random(seed_for(cfg.seed, "random control coordinate"))
    alive = [j for j in range(sae.d_sae) if j != chosen and stats["firing_rate"][j] > 0] or \
        [j for j in range(sae.d_sae) if j != chosen]
    control_j = rng.choice(alive)
    patch, control = (on_test.make(code_spec(c.mode, j, c.scale)) for j in (chosen, control_j))
    test_preds: list = []
    chosen_iv, ctrl_iv, dir_iv = with_controls(test_run, base_test, patch, control, c.n_boot, cfg.seed, test_preds)
    base_test_parts, test_has = correctness(test, base_test_preds), gold_has(test)
    chosen_parts = correctness(test, test_preds)
    chosen_test_profile = profile(base_test_parts, chosen_parts, test_has, c.n_boot, cfg.seed)
    chosen_test_profile["precision_ci_low"], chosen_test_profile["precision_ci_high"] = precision_interval(
        base_test_parts, chosen_parts, test_has, c.n_boot, cfg.seed)
    twin_chosen = None
    if c.random_sae:  # the same choice and measure with the frozen random twin (sae.random_twin)
        twin_chosen = twin_coordinate(bench, held, sel_run, test_run, unedited,
                                      (base_test, base_test_parts, test_has))
    kl = prompt_kl(bench.tokenizer, test[:c.kl_examples], patch, bench.model)
    checks, beats, verdict = judge(chosen, chosen_iv, ctrl_iv, dir_iv)
    return {
        "chosen_test_profile": chosen_test_profile, "random_sae_chosen": twin_chosen,
        "precision_beats_random_sae": None if twin_chosen is None else
        chosen_test_profile["precision_ci_low"] > twin_chosen["precision_ci_high"],
        "chosen_test": chosen_iv.as_dict(),
        "controls": {"random_coordinate": {"coordinate": control_j, **ctrl_iv.as_dict()},
                     "random_direction": dir_iv.as_dict()},
        "kl_prompt_positions": kl, "checks": checks, "beats_controls": beats, "verdict": verdict,
        "top_tokens": top_activating_tokens(sae, bench.store, chosen, bench.tokenizer, c.top_tokens),
    }


def beyond_the_choice(bench: Workbench, held, out_dir: Path, chosen: int, control_j: int, sae_only: bool) -> dict:
    """Cause / isolate on counterfactual pairs; unless `sae_only`, the transfer of the choice to other
    data and activation patching (written to patching.json)."""
    cfg, c, result = bench.cfg, bench.cfg.causal, {}
    pairs = "counterfactual_pairs" in bench.source.supports
    if pairs and c.pairs > 0:
        from causalgear.data.loading import load_split
        from causalgear.interventions.cause_isolate import cause_isolate

        result["cause_isolate"] = cause_isolate(bench, load_split(cfg, "validation"), held.pool)
    if cfg.get("transfer") and not sae_only:
        from causalgear.interventions.transfer import transfer_effects

        result["source_data"] = bench.source.describe()
        result["transfer"] = transfer_effects(bench, chosen, control_j)
    if pairs and c.patching_pairs > 0 and not sae_only:
        from causalgear.interventions.activation_patching import run_patching
        from causalgear.report.plots import patching_heatmap

        patching = run_patching(bench.model, bench.tokenizer, held.pool, c.patching_pairs, cfg.seed)
        write_json(out_dir / "patching.json", patching)
        patching_heatmap(patching, out_dir / "patching.png")
        result["activation_patching"] = patching["summary"]
    return result


def _plot_and_print(result: dict, out_dir: Path) -> None:
    from causalgear.report.plots import causal_plot, profile_heatmap, transfer_plot

    causal_plot(result, out_dir / "causal.png")
    profile_heatmap(result, out_dir / "profile.png")
    transfer_plot(result, out_dir / "transfer.png")
    chosen, test, ctrl = result["chosen"], result["chosen_test"], result["controls"]
    print(f"baseline {result['baseline']['test_accuracy']:.3f}; chosen coordinate {chosen}: "
          f"delta {test['delta']:+.3f} [{test['ci_low']:+.3f}, {test['ci_high']:+.3f}]; random coordinate "
          f"{ctrl['random_coordinate']['delta']:+.3f}, random direction {ctrl['random_direction']['delta']:+.3f}; "
          f"KL {result['kl_prompt_positions']:.4f}. {result['verdict']}")
    p, twin = result["chosen_test_profile"], result["random_sae_chosen"]
    if p["target_component"] is not None:
        print(f"causal precision of coordinate {chosen} on the test split (chosen by {result['select_by']}): target "
              f"{p['target_component']}, Δ {p['profile'][p['target_component']]['delta']:+.3f}; precision "
              f"{p['precision']:.3f} [{p['precision_ci_low']:.3f}, {p['precision_ci_high']:.3f}], selectivity "
              f"{p['selectivity']:.3f}" + ("" if twin is None else
                                           f"; random SAE's coordinate {twin['coordinate']}: precision "
                                           f"{twin['precision']:.3f} [{twin['precision_ci_low']:.3f}, "
                                           f"{twin['precision_ci_high']:.3f}]"))
    for attribute, r in result.get("cause_isolate", {}).items():
        print(f"cause/isolate, {attribute} ({r['test_pairs']} test pairs): " + "; ".join(
            f"{name} {m['cause']['rate']:.2f}/{m['isolate']['rate']:.2f}"
            + (f" (random SAE {m['twin']['cause']['rate']:.2f}/{m['twin']['isolate']['rate']:.2f})"
               if "twin" in m else "") for name, m in r["methods"].items()))
