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

import numpy as np
import torch
from omegaconf import DictConfig

from causalgear.data.loading import load_split
from causalgear.data.sqlexec import ExecBudget
from causalgear.errors import CausalgearError
from causalgear.harvest.hooks import position_ids
from causalgear.harvest.run import ensure_store, harvest_layer
from causalgear.harvest.store import CLAUSES, ROLES, ShuffledBatches
from causalgear.interventions.attribution import attribution_scores, spearman
from causalgear.interventions.edit import edit_site
from causalgear.interventions.sae_patch import patch_coordinate
from causalgear.interventions.statistics import Interval, paired_bootstrap
from causalgear.io import write_json
from causalgear.logs import bar as progress_bar
from causalgear.models.accuracy import score_predictions
from causalgear.models.generate import generate_sql
from causalgear.models.loading import load_model
from causalgear.sae.io import load_sae
from causalgear.sae.paths import sae_dir


class PerExample:
    """An edit that depends on which examples are in the batch (interchange)."""

    def __init__(self, make):
        self.make = make


def counterfactual_codes(model, tokenizer, sae, examples, pool, layer, site, seed) -> torch.Tensor:
    """For each example, a counterfactual prompt (same command set or difficulty, another schema,
    seeded) and that prompt's mean code over its tokens: [n_examples, d_sae]. Prompts differ in
    length, so positions cannot be aligned; the mean sets z_j at every position."""
    from causalgear.harvest.hooks import run_to_layer

    rng = random.Random(seed + 2)
    by_group: dict[str, list] = {}
    for e in pool:
        by_group.setdefault(e.group, []).append(e)
    partners = []
    for e in examples:
        options = [o for o in by_group.get(e.group, pool) if o.db_id != e.db_id] or pool
        partners.append(rng.choice(options))
    out = []
    device = next(model.parameters()).device
    with torch.no_grad():
        for start in range(0, len(partners), 32):
            enc = tokenizer([p.prompt for p in partners[start:start + 32]], return_tensors="pt", padding=True,
                            padding_side="right").to(device)
            z = sae.encode(run_to_layer(model, enc["input_ids"], enc["attention_mask"], layer, site).float())
            m = enc["attention_mask"].unsqueeze(-1).float()
            out.append(((z * m).sum(1) / m.sum(1)).cpu())
    return torch.cat(out)


class Runner:
    """Generation + scoring of one prompt set under an optional residual edit or input embeddings."""

    def __init__(self, cfg, model, tokenizer, examples, layer, site):
        self.cfg, self.model, self.tokenizer, self.examples = cfg, model, tokenizer, examples
        self.layer, self.site = layer, site
        self.budget = ExecBudget.from_config(cfg.exec)

    def correct(self, fn=None, embeds=None) -> tuple[np.ndarray, list[str]]:
        """`fn`: a residual edit, or `PerExample(make)` whose make(example_index) builds one per batch;
        `embeds(batch)`: the input embeddings to generate from (see `generate_sql`)."""

        def edit(batch):
            f = fn.make(batch["example_index"]) if isinstance(fn, PerExample) else fn
            return edit_site(self.model, self.layer, f, self.site)

        preds = generate_sql(self.model, self.tokenizer, [e.prompt for e in self.examples],
                             max_new_tokens=self.cfg.generation.max_new_tokens,
                             batch_size=self.cfg.generation.batch_size, edit=edit if fn is not None else None,
                             embeds=embeds)
        verdicts = score_predictions(self.examples, preds, self.budget)
        return np.array([v.correct for v in verdicts], dtype=np.float64), preds


def held_out_splits(cfg: DictConfig, split: str | None = None) -> tuple[list, list, list]:
    """(selection, test, all held-out examples) of `split` (default: data.eval_split): the seeded split
    every causal stage shares, so a feature chosen on the selection split is always reported on
    prompts it was not chosen on."""
    split = split or cfg.data.eval_split
    held_out = load_split(cfg, split)
    order = list(range(len(held_out)))
    random.Random(cfg.seed).shuffle(order)
    n_select, n_test = cfg.causal.n_select, cfg.causal.n_test
    select = [held_out[i] for i in order[:n_select]]
    test = [held_out[i] for i in order[n_select:n_select + n_test]]
    if not test:
        raise CausalgearError(f"split {split!r} has {len(held_out)} examples: too few for "
                              f"causal.n_select={n_select} plus a test split")
    return select, test, held_out


def sae_site(cfg: DictConfig, sae_cfg: dict) -> tuple[int, str]:
    """The (layer, site) an SAE was trained on, from its cfg.json; the config's where it does not say."""
    ours = sae_cfg.get("causalgear", {})
    return ours.get("layer", harvest_layer(cfg)), ours.get("site", cfg.harvest.site)


def require_sae_path(cfg: DictConfig, stage: str) -> None:
    if cfg.sae.path is None:
        raise CausalgearError(f"sae.path is not set: point it at a `causalgear train` run dir, e.g. "
                              f"causalgear {stage} sae.path=outputs/train/DATE/TIME")


def coordinate_stats(sae, store, max_rows: int = 100_000) -> dict[str, torch.Tensor]:
    """Firing rate, mean, and mean active value of every code over (a sample of) the harvest."""
    sums = torch.zeros(sae.d_sae, dtype=torch.float64)
    active_sums = torch.zeros(sae.d_sae, dtype=torch.float64)
    fired = torch.zeros(sae.d_sae, dtype=torch.float64)
    n = 0
    with torch.no_grad():
        for x in ShuffledBatches(store, 4096, normalize=False, shuffle=False):
            z = sae.encode(x).double()
            sums += z.sum(0)
            fired += (z > 0).sum(0)
            active_sums += z.clamp_min(0).sum(0)
            n += len(x)
            if n >= max_rows:
                break
    return {"firing_rate": fired / n, "mean": sums / n, "mean_active": active_sums / fired.clamp_min(1)}


def top_activating_tokens(sae, store, j: int, tokenizer, k: int) -> list[dict]:
    return top_tokens_per_coordinate(sae, store, [j], tokenizer, k)[j]


def top_tokens_per_coordinate(sae, store, coordinates: list[int], tokenizer, k: int) -> dict[int, list[dict]]:
    """The k harvested tokens on which each coordinate fires most, one pass over the store."""
    best: dict[int, list[tuple]] = {j: [] for j in coordinates}
    cols = torch.tensor(coordinates, dtype=torch.long)
    with torch.no_grad():
        for i in range(store.n_shards):
            shard = store.shard(i)
            z = sae.encode(shard["acts"].float().to(next(sae.parameters()).device))[:, cols].cpu()
            top = torch.topk(z, min(k, len(z)), dim=0)
            for c, j in enumerate(coordinates):
                for v, r in zip(top.values[:, c].tolist(), top.indices[:, c].tolist(), strict=True):
                    best[j].append((v, int(shard["example"][r]), int(shard["position"][r]),
                                    ROLES[int(shard["role"][r])], CLAUSES[int(shard["clause"][r])],
                                    int(shard["token_id"][r])))
    out = {}
    for j, rows in best.items():
        rows.sort(key=lambda t: -t[0])
        out[j] = [{"value": v, "token": tokenizer.decode([tok]), "example": ex, "position": pos, "role": role,
                   "clause": clause} for v, ex, pos, role, clause, tok in rows[:k]]
    return out


def prompt_kl(model, tokenizer, examples, layer, site, fn) -> float:
    """Mean KL(clean || edited) of next-token distributions at prompt (non-SQL) positions."""
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), 32):
            enc = tokenizer([e.prompt for e in examples[start:start + 32]], return_tensors="pt", padding=True,
                            padding_side="right").to(next(model.parameters()).device)
            kwargs = dict(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                          position_ids=position_ids(enc["attention_mask"]))
            clean = torch.log_softmax(model(**kwargs).logits.float(), -1)
            f = fn.make(torch.arange(start, start + len(enc["input_ids"]))) if isinstance(fn, PerExample) else fn
            with edit_site(model, layer, f, site):
                edited = torch.log_softmax(model(**kwargs).logits.float(), -1)
            kl = (clean.exp() * (clean - edited)).sum(-1)
            keep = enc["attention_mask"].bool()
            total += float(kl[keep].sum())
            count += int(keep.sum())
    return total / max(count, 1)


def patch_value(mode: str, j: int, stats, scale: float):
    """The value z_j is set to, for the modes where it is one number (interchange: per example)."""
    if mode == "zero":
        return None
    if mode == "mean":
        return float(stats["mean"][j])
    if mode == "inject":
        return scale * float(stats["mean_active"][j])
    return float(stats["cf_mean"][j])  # interchange, where one number is needed (attribution)


def _patch(sae, j: int, mode: str, stats, scale: float, cf: torch.Tensor | None):
    if mode == "interchange":
        return PerExample(lambda idx: patch_coordinate(sae, j, "interchange", cf[idx.cpu(), j].unsqueeze(-1)
                                                       .to(next(sae.parameters()).device)))
    return patch_coordinate(sae, j, mode, patch_value(mode, j, stats, scale))


def random_direction_like(patch, d_in: int, seed: int):
    """An edit of the same per-token norm as the patch's decoder contribution, in a fixed random
    direction: does *any* push of that size change accuracy?"""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(d_in, generator=gen)
    direction = direction / direction.norm()

    def like(p):
        def edit(h):
            size = (p(h) - h).float().norm(dim=-1, keepdim=True)
            return h + (size * direction.to(h.device)).to(h.dtype)

        return edit

    return PerExample(lambda idx: like(patch.make(idx))) if isinstance(patch, PerExample) else like(patch)


def with_controls(runner: Runner, base: np.ndarray, patch, control, d_in: int, n_boot: int, seed: int
                  ) -> tuple[Interval, Interval, Interval]:
    """Intervals of the accuracy change on `runner`'s prompts for the patch, the control coordinate's
    patch, and a random direction of the patch's per-token norm (in that order)."""
    intervals = []
    for fn in (patch, control, random_direction_like(patch, d_in, seed)):
        treated, _ = runner.correct(fn)
        intervals.append(paired_bootstrap(base, treated, n_boot, seed))
    return tuple(intervals)


def judge(chosen: int, chosen_iv, ctrl_iv, dir_iv) -> tuple[dict, bool, str]:
    """A coordinate counts only if its test-split interval excludes zero and separates from
    both controls' intervals with a larger effect. The verdict names every check it fails."""

    def separates(iv) -> bool:
        return abs(chosen_iv.delta) > abs(iv.delta) and (iv.high < chosen_iv.low or chosen_iv.high < iv.low)

    checks = {"excludes_zero": chosen_iv.excludes_zero(), "beats_random_coordinate": separates(ctrl_iv),
              "beats_random_direction": separates(dir_iv)}
    why = {"excludes_zero": "its interval includes zero",
           "beats_random_coordinate": "it does not separate from the random coordinate",
           "beats_random_direction": "it does not separate from the random direction"}
    beats = all(checks.values())
    failed = [why[k] for k, ok in checks.items() if not ok]
    verdict = (f"coordinate {chosen} beats both controls on the test split" if beats else
               f"no coordinate beats its controls: on the test split, coordinate {chosen}: {'; '.join(failed)}")
    return checks, beats, verdict


def evaluate(cfg: DictConfig, out_dir: Path) -> dict:
    require_sae_path(cfg, "evaluate")
    sae, sae_cfg = load_sae(sae_dir(cfg.sae.path))
    layer, site = sae_site(cfg, sae_cfg)
    c = cfg.causal
    start = time.monotonic()
    model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
    sae = sae.to(next(model.parameters()).device)
    store, _ = ensure_store(cfg)
    stats = coordinate_stats(sae, store)

    select, test, held_out = held_out_splits(cfg)
    cf_sel = cf_test = None
    if c.mode == "interchange":
        cf_sel = counterfactual_codes(model, tokenizer, sae, select, held_out, layer, site, cfg.seed)
        cf_test = counterfactual_codes(model, tokenizer, sae, test, held_out, layer, site, cfg.seed)
        stats["cf_mean"] = cf_sel.mean(0)
    sel_run = Runner(cfg, model, tokenizer, select, layer, site)
    test_run = Runner(cfg, model, tokenizer, test, layer, site)
    base_sel, _ = sel_run.correct()
    base_test, _ = test_run.correct()

    per_coord = [{"coordinate": j, "delta": None, "ci_low": None, "ci_high": None, "n": None,
                  "firing_rate": float(stats["firing_rate"][j]), "mean_activation": float(stats["mean"][j]),
                  "mean_active_value": float(stats["mean_active"][j])} for j in range(sae.d_sae)]
    method, rank_corr = "exhaustive", None
    to_patch = list(range(sae.d_sae))
    if sae.d_sae > c.exhaustive_max:
        # rank every coordinate by attribution patching, confirm the top ones by real generation
        method = "attribution"
        values = None if c.mode == "zero" else torch.tensor(
            [patch_value(c.mode, j, stats, c.scale) for j in range(sae.d_sae)], dtype=torch.float32)
        scores = attribution_scores(model, tokenizer, sae, select, layer, site, c.mode, values)
        for j in range(sae.d_sae):
            per_coord[j]["attribution"] = float(scores[j])
        to_patch = scores.abs().argsort(descending=True)[:c.confirm_top].tolist()
    for j in progress_bar(to_patch, desc=f"patch ({c.mode})", unit="coord"):
        if stats["firing_rate"][j] == 0 and c.mode == "zero":
            # a code that never fires: ablating it is the identity, nothing to measure
            iv = paired_bootstrap(base_sel, base_sel, c.n_boot, cfg.seed)
        else:
            treated, _ = sel_run.correct(_patch(sae, j, c.mode, stats, c.scale, cf_sel))
            iv = paired_bootstrap(base_sel, treated, c.n_boot, cfg.seed)
        per_coord[j].update(iv.as_dict())
    measured = [r for r in per_coord if r["delta"] is not None]
    if method == "attribution":
        rank_corr = spearman([r["attribution"] for r in measured], [r["delta"] for r in measured])
    chosen = max(measured, key=lambda r: (abs(r["delta"]), -r["coordinate"]))["coordinate"]
    fn = _patch(sae, chosen, c.mode, stats, c.scale, cf_test)
    rng = random.Random(cfg.seed + 1)
    alive = [j for j in range(sae.d_sae) if j != chosen and stats["firing_rate"][j] > 0] or \
        [j for j in range(sae.d_sae) if j != chosen]
    control_j = rng.choice(alive)
    chosen_iv, ctrl_iv, dir_iv = with_controls(test_run, base_test, fn,
                                               _patch(sae, control_j, c.mode, stats, c.scale, cf_test),
                                               sae.d_in, c.n_boot, cfg.seed)
    kl = prompt_kl(model, tokenizer, test[:c.kl_examples], layer, site, fn)
    checks, beats, verdict = judge(chosen, chosen_iv, ctrl_iv, dir_iv)
    result = {
        "method": method, "confirmed": len(measured), "spearman_attribution_vs_patching": rank_corr,
        "mode": c.mode, "scale": c.scale if c.mode == "inject" else None,
        "layer": layer, "site": site, "sae": str(sae_dir(cfg.sae.path)), "d_sae": sae.d_sae,
        "n_select": len(select), "n_test": len(test), "data_split": cfg.data.eval_split,
        "baseline": {"selection_accuracy": float(base_sel.mean()), "test_accuracy": float(base_test.mean()),
                     "selection_correct": int(base_sel.sum()), "test_correct": int(base_test.sum())},
        "coordinates": per_coord, "chosen": chosen,
        "chosen_test": chosen_iv.as_dict(),
        "controls": {"random_coordinate": {"coordinate": control_j, **ctrl_iv.as_dict()},
                     "random_direction": dir_iv.as_dict()},
        "kl_prompt_positions": kl, "checks": checks, "beats_controls": beats, "verdict": verdict,
        "top_tokens": top_activating_tokens(sae, store, chosen, tokenizer, c.top_tokens),
    }
    if cfg.get("transfer"):
        from causalgear.interventions.transfer import describe, transfer_effects

        result["source_data"] = describe(cfg.data)
        result["transfer"] = transfer_effects(
            cfg, model, tokenizer, sae, layer, site, chosen, control_j,
            lambda j, cf: _patch(sae, j, c.mode, stats, c.scale, cf), c.n_test)
    from causalgear.report.plots import causal_plot, patching_heatmap, transfer_plot

    if cfg.data.name == "tinysql" and c.patching_pairs > 0:
        from causalgear.interventions.activation_patching import run_patching

        patching = run_patching(model, tokenizer, held_out, c.patching_pairs, cfg.seed)
        write_json(out_dir / "patching.json", patching)
        patching_heatmap(patching, out_dir / "patching.png")
        result["activation_patching"] = patching["summary"]
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "causal.json", result)
    causal_plot(result, out_dir / "causal.png")
    transfer_plot(result, out_dir / "transfer.png")
    print(f"baseline {result['baseline']['test_accuracy']:.3f}; chosen coordinate {chosen}: "
          f"delta {chosen_iv.delta:+.3f} [{chosen_iv.low:+.3f}, {chosen_iv.high:+.3f}]; random coordinate "
          f"{ctrl_iv.delta:+.3f}, random direction {dir_iv.delta:+.3f}; KL {kl:.4f}. {verdict}")
    return result
