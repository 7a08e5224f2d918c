"""`causalgear steer`: GrAInS-style and additive steering of one SAE coordinate, measured by
execution accuracy.

The scale of each method is chosen on the selection split (the held-out split `evaluate`
chose the coordinate on) and reported on the disjoint test split, with a paired bootstrap
interval against the unsteered model, per command set, and the share of outputs changed.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from causalgear.errors import CausalgearError
from causalgear.harvest.run import ensure_store
from causalgear.interventions.causal import Runner, coordinate_stats, held_out_splits, require_sae_path, sae_site
from causalgear.interventions.sae_patch import add_direction, patch_coordinate
from causalgear.interventions.statistics import flips, paired_bootstrap
from causalgear.io import write_json
from causalgear.logs import bar as progress_bar
from causalgear.models.loading import load_model
from causalgear.sae.io import load_sae
from causalgear.sae.paths import sae_dir
from causalgear.steering.baselines import diffmean_direction, mean_prompt_activation, random_direction
from causalgear.steering.feature import FeatureReadout, readout_mask
from causalgear.steering.grains import additive_direction, chosen_tokens, perturbation
from causalgear.steering.integrated_gradients import integrated_gradients


def resolve_feature(cfg: DictConfig, d_sae: int) -> tuple[int, str]:
    """The coordinate to steer and where it came from: `steering.feature`, else evaluate's choice."""
    s = cfg.steering
    if s.feature is not None:
        j, source = int(s.feature), "steering.feature"
    elif s.causal_path is not None:
        path = Path(s.causal_path)
        path = path / "causal.json" if path.is_dir() else path
        if not path.is_file():
            raise CausalgearError(f"steering.causal_path={s.causal_path!r}: no causal.json there "
                                  f"(run `causalgear evaluate` first, or set steering.feature)")
        j, source = chosen_coordinate(path), str(path)
    else:
        raise CausalgearError("no feature to steer: set steering.feature=J, or steering.causal_path to an "
                              "evaluate run dir whose causal.json names the chosen coordinate")
    if not 0 <= j < d_sae:
        raise CausalgearError(f"steering.feature={j} is out of range: the SAE has {d_sae} coordinates (0..{d_sae - 1})")
    return j, source


def chosen_coordinate(path: Path) -> int:
    """The coordinate an evaluate run chose, from its causal.json; one line when the file is not one."""
    try:
        chosen = json.loads(path.read_text(encoding="utf-8")).get("chosen")
    except (ValueError, UnicodeDecodeError, AttributeError) as err:
        raise CausalgearError(f"steering.causal_path: {path} is not a whole causal.json ({err}); rerun "
                              f"`causalgear evaluate`, or set steering.feature") from None
    if isinstance(chosen, bool) or not isinstance(chosen, int):
        raise CausalgearError(f"steering.causal_path: {path} names no chosen coordinate (chosen={chosen!r}); rerun "
                              f"`causalgear evaluate`, or set steering.feature")
    return chosen


def baseline_embedding(kind: str, embedding: torch.nn.Embedding, pad_id: int | None) -> torch.Tensor:
    """The IG baseline x' for one token: zero, the pad token's embedding, or the mean embedding."""
    w = embedding.weight.detach()
    if kind == "zero":
        return torch.zeros(w.shape[1], dtype=w.dtype, device=w.device)
    if kind == "pad":
        if pad_id is None:
            raise CausalgearError("steering.baseline=pad: the tokenizer has no pad token; use zero or mean")
        return w[pad_id].clone()
    return w.mean(0)


@dataclass
class Attributed:
    """One example's attribution and its unit GrAInS perturbation (scale 1)."""

    prompt_ids: list[int]
    response_ids: list[int]
    attributions: torch.Tensor
    f_input: float
    f_baseline: float
    completeness_error: float | None
    tokens: torch.Tensor  # the perturbed prompt positions
    unit_delta: torch.Tensor | None  # [prompt_len, d]; None when grad_steps > 1 (recomputed per scale)


class Steerer:
    """Attributes each example once, then builds the perturbed embeddings for any scale."""

    def __init__(self, cfg: DictConfig, model, tokenizer, sae, layer: int, site: str, coordinate: int):
        self.cfg, self.s = cfg, cfg.steering
        self.model, self.tokenizer = model, tokenizer
        self.embedding = model.get_input_embeddings()
        self.readout = FeatureReadout(model, sae, layer, site, coordinate)
        self.baseline = baseline_embedding(self.s.baseline, self.embedding, tokenizer.pad_token_id)
        self.sign = 1.0 if self.s.direction == "raise" else -1.0

    def _embeds(self, ids: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return self.embedding(torch.tensor(ids, device=self.embedding.weight.device))

    def _input_and_f(self, prompt_ids: list[int], response_ids: list[int]):
        """The sequence's embeddings x [T, d] and F as a function of them."""
        x = self._embeds(prompt_ids + response_ids)
        return x, self.readout.function(readout_mask(len(prompt_ids), len(x), self.s.position))

    def attribute(self, prompt: str, response: str) -> Attributed:
        prompt_ids = self.tokenizer(prompt).input_ids
        response_ids = self.tokenizer(response, add_special_tokens=False).input_ids \
            if self.s.position == "response" and response else []
        x, f = self._input_and_f(prompt_ids, response_ids)
        att = integrated_gradients(f, x, self.baseline, self.s.n_steps, self.s.internal_batch_size,
                                   self.s.ig_method)
        tokens = chosen_tokens(att.per_token, len(prompt_ids), self.s.top_tokens)
        unit = None
        if self.s.grad_steps == 1:  # one step: the perturbation is linear in the scale
            unit = perturbation(f, x, tokens, 1.0, 1, self.sign)[:len(prompt_ids)]
        return Attributed(prompt_ids, response_ids, att.per_token, att.f_input, att.f_baseline,
                          att.completeness_error, tokens, unit)

    def delta(self, a: Attributed, scale: float) -> torch.Tensor:
        if a.unit_delta is not None:
            return scale * a.unit_delta
        x, f = self._input_and_f(a.prompt_ids, a.response_ids)
        return perturbation(f, x, a.tokens, scale, self.s.grad_steps, self.sign)[:len(a.prompt_ids)]

    def embeds_fn(self, attributed: list[Attributed], scale: float):
        """`embeds(batch)` for generate_sql: the batch's embeddings (a copy), each prompt's perturbation
        added at its real (left-padded) positions."""

        def embeds(batch) -> torch.Tensor:
            with torch.no_grad():
                e = self.embedding(batch["input_ids"]).clone()
                for row, i in enumerate(batch["example_index"].tolist()):
                    a = attributed[i]
                    n = int(batch["attention_mask"][row].sum())
                    if batch["input_ids"][row, -n:].tolist() != a.prompt_ids:
                        raise RuntimeError("the batch's prompt tokens differ from the attributed ones")
                    e[row, -n:] += self.delta(a, scale).to(e.dtype)
            return e

        return embeds


def _summary(examples, base: np.ndarray, treated: np.ndarray, base_preds, preds, n_boot: int, seed: int) -> dict:
    iv = paired_bootstrap(base, treated, n_boot, seed)
    groups: dict[str, dict] = {}
    for g in sorted({e.group for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.group == g]
        groups[g] = {"n": len(idx), "baseline_accuracy": float(base[idx].mean()),
                     "steered_accuracy": float(treated[idx].mean())}
    return {"baseline_accuracy": float(base.mean()), "steered_accuracy": float(treated.mean()), **iv.as_dict(),
            **flips(base, treated), "per_group": groups,
            "changed_share": float(np.mean([a != b for a, b in zip(base_preds, preds, strict=True)]))}


def _choose(curve: list[dict]) -> dict:
    """The grid point with the best selection accuracy; ties go to the smaller scale."""
    return max(curve, key=lambda r: (r["accuracy"], -r["scale"]))


def steer(cfg: DictConfig, out_dir: Path) -> dict:
    require_sae_path(cfg, "steer")
    s = cfg.steering
    sae, sae_cfg = load_sae(sae_dir(cfg.sae.path))
    layer, site = sae_site(cfg, sae_cfg)
    feature, source = resolve_feature(cfg, sae.d_sae)
    start = time.monotonic()
    model, tokenizer = load_model(cfg.model, cfg.paths.cache_dir)
    sae = sae.to(next(model.parameters()).device).requires_grad_(False)  # gradients flow to embeddings only
    store, _ = ensure_store(cfg)
    mean_active = float(coordinate_stats(sae, store)["mean_active"][feature])
    select, test, _ = held_out_splits(cfg, s.split)
    sel_run = Runner(cfg, model, tokenizer, select, layer, site)
    test_run = Runner(cfg, model, tokenizer, test, layer, site)
    base_sel, preds_sel = sel_run.correct()
    base_test, preds_test = test_run.correct()

    steerer = Steerer(cfg, model, tokenizer, sae, layer, site, feature)

    def attribute(examples, preds, name):
        return [steerer.attribute(e.prompt, p) for e, p in
                progress_bar(list(zip(examples, preds, strict=True)), desc=f"attribute ({name})", unit="prompt")]

    att_sel, att_test = attribute(select, preds_sel, "selection"), attribute(test, preds_test, "test")
    # steering chosen on another split is also measured where the model already works
    in_dist = None
    if s.split is not None and s.split != cfg.data.eval_split:
        in_test = held_out_splits(cfg)[1]
        in_run = Runner(cfg, model, tokenizer, in_test, layer, site)
        in_base, in_preds = in_run.correct()
        in_dist = (in_test, in_run, in_base, in_preds, attribute(in_test, in_preds, "in-distribution test"))

    direction = additive_direction(sae, feature, mean_active)
    alphas = list(s.alphas) or [s.alpha]

    def along(d: torch.Tensor, sign: float):
        return lambda runner, _att, v: runner.correct(add_direction(d.to(direction.device), sign * v))

    methods = {
        "grains": (list(s.scales) or [s.scale],
                   lambda runner, att, v: runner.correct(embeds=steerer.embeds_fn(att, v))),
        "additive": (alphas, along(direction, steerer.sign)),
    }
    skipped: dict[str, str] = {}
    if "clamp" in s.extra_methods:  # the SAE code itself set to a multiple of its mean active value
        methods["clamp"] = (list(s.clamps), lambda runner, _att, v: runner.correct(
            patch_coordinate(sae, feature, "inject", v * mean_active)))
    # the baselines the feature's methods must beat, at the additive direction's norm and alphas
    norm = float(direction.norm())
    if "diffmean" in s.extra_methods:
        acts = mean_prompt_activation(model, tokenizer, [e.prompt for e in select], layer, site)
        diffmean = diffmean_direction(acts, base_sel, norm)
        if diffmean is None:
            skipped["diffmean"] = "the selection split has no right (or no wrong) answer to take a difference of"
        else:
            methods["diffmean"] = (alphas, along(diffmean, 1.0))  # towards the right answers
    if "random_direction" in s.extra_methods:
        methods["random_direction"] = (alphas, along(random_direction(len(direction), norm, cfg.seed), 1.0))
    results: dict[str, dict] = {}
    for name, (grid, run) in methods.items():
        curve = [{"scale": 0.0, "accuracy": float(base_sel.mean())}]
        for v in progress_bar(grid, desc=f"{name} scales (selection)", unit="scale"):
            correct, _ = run(sel_run, att_sel, v)
            curve.append({"scale": float(v), "accuracy": float(correct.mean())})
        best = _choose(curve[1:])
        treated, preds = run(test_run, att_test, best["scale"])
        # a steered result is reported whichever scale wins; this says when none beat no steering
        results[name] = {"scale": best["scale"], "selection_curve": curve,
                         "unsteered_best_on_selection": curve[0]["accuracy"] > best["accuracy"],
                         "test": _summary(test, base_test, treated, preds_test, preds, cfg.causal.n_boot, cfg.seed),
                         "test_predictions": preds, "test_correct": treated}
        if in_dist is not None:
            in_test, in_run, in_base, in_preds, in_att = in_dist
            in_treated, in_steered = run(in_run, in_att, best["scale"])
            results[name]["in_distribution"] = _summary(in_test, in_base, in_treated, in_preds, in_steered,
                                                        cfg.causal.n_boot, cfg.seed)
    errors = [a.completeness_error for a in att_test if a.completeness_error is not None]
    results["grains"]["mean_completeness_error"] = float(np.mean(errors)) if errors else None
    for name in results.keys() - {"grains"}:
        results[name]["mean_completeness_error"] = None  # no attributions

    result = {
        "feature": feature, "feature_source": source, "layer": layer, "site": site, "sae": str(sae_dir(cfg.sae.path)),
        "direction": s.direction, "position": s.position, "baseline_embedding": s.baseline, "n_steps": s.n_steps,
        "ig_method": s.ig_method, "top_tokens": s.top_tokens, "grad_steps": s.grad_steps,
        "mean_active_value": mean_active, "n_select": len(select), "n_test": len(test),
        "data_split": s.split or cfg.data.eval_split,
        "in_distribution_split": cfg.data.eval_split if in_dist is not None else None,
        "methods": {name: {"method": name, "feature": feature, **{k: v for k, v in r.items()
                                                                   if not k.startswith("test_")}}
                    for name, r in results.items()},
        "skipped_methods": skipped,
    }
    _write_attributions(out_dir, steerer, select, att_sel, test, att_test, result)
    from causalgear.report.attributions import attributions_page
    from causalgear.report.plots import steering_plot

    generations = {"unsteered": (preds_test, base_test)} | {
        f"{name} (scale {r['scale']:g})": (r["test_predictions"], r["test_correct"]) for name, r in results.items()}
    attributions_page(out_dir / "attributions.html", result, test[:s.html_examples], att_test[:s.html_examples],
                      tokenizer, generations)
    steering_plot(result, out_dir / "steering.png")
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "steering.json", result)
    for name, r in result["methods"].items():
        t = r["test"]
        print(f"{name}: scale {r['scale']:g} (chosen on selection); test accuracy {t['baseline_accuracy']:.3f} -> "
              f"{t['steered_accuracy']:.3f}, delta {t['delta']:+.3f} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}], "
              f"{t['changed_share']:.0%} of outputs changed; fixed {t['fixed']}, broke {t['broken']} "
              f"(McNemar p {t['mcnemar_p']:.3g})")
        if "in_distribution" in r:
            d = r["in_distribution"]
            print(f"  {name} on {result['in_distribution_split']} (same scale): {d['baseline_accuracy']:.3f} -> "
                  f"{d['steered_accuracy']:.3f}, delta {d['delta']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]")
        if r["unsteered_best_on_selection"]:
            print(f"  {name}: no steering scored higher on selection ({r['selection_curve'][0]['accuracy']:.3f}) "
                  f"than any scale tried")
    print(f"mean completeness error (test, n_steps={s.n_steps}): {results['grains']['mean_completeness_error']}")
    print(f"wrote {out_dir / 'steering.json'} and {out_dir / 'attributions.html'}")
    return result


def _write_attributions(out_dir: Path, steerer: Steerer, select, att_sel, test, att_test, result: dict) -> None:
    tok = steerer.tokenizer
    rows = []
    for split, examples, atts in (("selection", select, att_sel), ("test", test, att_test)):
        for e, a in zip(examples, atts, strict=True):
            ids = a.prompt_ids + a.response_ids
            rows.append({
                "id": e.id, "split": split, "group": e.group, "token_ids": ids,
                "tokens": [tok.decode([i]) for i in ids], "prompt_length": len(a.prompt_ids),
                "attributions": [round(float(v), 6) for v in a.attributions],
                "perturbed_positions": a.tokens.tolist(), "baseline": result["baseline_embedding"],
                "n_steps": result["n_steps"], "ig_method": result["ig_method"], "layer": result["layer"],
                "site": result["site"], "coordinate": result["feature"], "position": result["position"],
                "F_input": a.f_input, "F_baseline": a.f_baseline, "completeness_error": a.completeness_error,
            })
    write_json(out_dir / "attributions.json", {
        "feature_definition": (
            "F(E) = sum over readout positions of the SAE pre-activation encode_pre(h)[coordinate], h = the "
            "output of `site` of block `layer` for input embeddings E of `token_ids` (one unpadded sequence, "
            "positions 0..T-1). Readout positions: `response` = prompt_length-1 .. T-2 (the positions that "
            "write the unsteered response's tokens); `last_prompt` = prompt_length-1. Attributions: integrated "
            "gradients of F over all T input embeddings against the baseline embedding at every position, "
            "summed over the hidden dimension."),
        "examples": rows})
