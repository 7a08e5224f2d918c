"""`causalgear steer`: GrAInS-style and additive steering of one SAE coordinate, measured by
execution accuracy.

The scale of each method is chosen on the selection split (the held-out split `evaluate`
chose the coordinate on) and reported on the disjoint test split, with a paired bootstrap
interval against the unsteered model, per command set, and the share of outputs changed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig

from causalgear.data.components import COMPONENTS
from causalgear.errors import CausalgearError
from causalgear.interventions.factory import Interventions
from causalgear.interventions.profile import correctness
from causalgear.interventions.statistics import flips, paired_bootstrap
from causalgear.interventions.types import AddPerExample, AtTokens
from causalgear.io import write_json
from causalgear.logs import bar as progress_bar
from causalgear.models.site import Site
from causalgear.steering.baselines import diffmean_direction, mean_prompt_activation, random_direction
from causalgear.steering.candidates import contrastive_latents
from causalgear.steering.concept import concept_steering
from causalgear.steering.concept_probe import probe_guided
from causalgear.steering.conditional import Arm, MisreadDetector, fit_detector, gated
from causalgear.steering.feature import FeatureReadout, readout_mask
from causalgear.steering.grains import chosen_tokens, perturbation
from causalgear.steering.integrated_gradients import integrated_gradients
from causalgear.steering.target import choose_split, resolve_feature
from causalgear.workbench import Workbench


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
    """Attributes each example once, then gives its GrAInS perturbation at any scale.
    `s`: the `steering` config group."""

    def __init__(self, s: DictConfig, tokenizer, sae, site: Site, coordinate: int):
        self.s, self.tokenizer = s, tokenizer
        self.embedding = site.model.get_input_embeddings()
        self.readout = FeatureReadout(site, sae, coordinate)
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

    def perturber(self, attributed: list[Attributed]) -> AttributedPrompts:
        """What the factory's `grains` mode perturbs: these prompts, as attributed."""
        return AttributedPrompts(self, attributed)


class AttributedPrompts:
    """A prompt list's attributions: each prompt's ids and its perturbation at a scale."""

    def __init__(self, steerer: Steerer, attributed: list[Attributed]):
        self.steerer, self.attributed = steerer, attributed
        self.embedding = steerer.embedding
        self.prompt_ids = [a.prompt_ids for a in attributed]

    def delta(self, i: int, scale: float) -> torch.Tensor:
        return self.steerer.delta(self.attributed[i], scale)


def _summary(examples, base: np.ndarray, treated: np.ndarray, base_preds, preds, n_boot: int, seed: int) -> dict:
    iv = paired_bootstrap(base, treated, n_boot, seed)
    groups: dict[str, dict] = {}
    for g in sorted({e.group for e in examples}):
        idx = [i for i, e in enumerate(examples) if e.group == g]
        groups[g] = {"n": len(idx), "baseline_accuracy": float(base[idx].mean()),
                     "steered_accuracy": float(treated[idx].mean())}
    before, after = correctness(examples, base_preds), correctness(examples, preds)
    components = {c: {"fixed": int(((before[:, i] == 0) & (after[:, i] == 1)).sum()),
                      "broken": int(((before[:, i] == 1) & (after[:, i] == 0)).sum())}
                  for i, c in enumerate(COMPONENTS)}
    return {"baseline_accuracy": float(base.mean()), "steered_accuracy": float(treated.mean()), **iv.as_dict(),
            **flips(base, treated), "per_group": groups, "component_flips": components,
            "changed_share": float(np.mean([a != b for a, b in zip(base_preds, preds, strict=True)]))}


def _choose(curve: list[dict]) -> dict:
    """The grid point with the best selection accuracy; ties go to the smaller scale, then to the
    latent tried first (the feature)."""
    return max(curve, key=lambda r: (r["accuracy"], -r["scale"]))


def steer(cfg: DictConfig, out_dir: Path) -> dict:
    from causalgear.sae.paths import saved_width
    from causalgear.workbench import require_sae_path

    require_sae_path(cfg, "steer")
    resolve_feature(cfg.steering, saved_width(cfg.sae.path))  # a bad feature is named before the model loads
    return steer_on(Workbench.load(cfg, "steer"), out_dir)


def steer_on(bench: Workbench, out_dir: Path, chosen: int | None = None) -> dict:
    """Steering of `steering.feature`, else of `chosen` (evaluate's choice, from the pipeline), else
    of the coordinate named by the causal.json in `steering.causal_path`."""
    cfg, s, sae = bench.cfg, bench.cfg.steering, bench.sae
    feature, source = resolve_feature(s, sae.d_sae, chosen)
    start = time.monotonic()
    mean_active = float(bench.stats["mean_active"][feature])
    split, split_choice = choose_split(bench)
    held = bench.splits(split)
    select, test = held.select, held.test
    steerer = Steerer(s, bench.tokenizer, sae, bench.site, feature)

    def arm(examples, name: str | None, base=None, preds=None, attributed=None) -> Arm:
        """A prompt list's arm; `name`: attribute it (grains perturbs the list's own attributions)."""
        runner = bench.runner(examples)
        if base is None:
            base, preds = runner.correct()
        if name is not None:
            attributed = [steerer.attribute(e.prompt, p) for e, p in progress_bar(
                list(zip(examples, preds, strict=True)), desc=f"attribute ({name})", unit="prompt")]
        perturber = steerer.perturber(attributed) if attributed is not None else None
        return Arm(examples, runner, Interventions(bench.site, sae, bench.stats, perturber=perturber), base, preds,
                   attributed=attributed)

    def subset(on: Arm, idx: np.ndarray) -> Arm:
        part = arm([on.examples[i] for i in idx], None, on.base[idx], [on.preds[i] for i in idx],
                   [on.attributed[i] for i in idx])
        part.vectors = None if on.vectors is None else on.vectors[torch.as_tensor(idx)]
        return part

    sel, tst = arm(select, "selection"), arm(test, "test")
    att_sel, att_test = sel.attributed, tst.attributed
    base_sel, base_test, preds_test = sel.base, tst.base, tst.preds
    # steering chosen on another split is also measured where the model already works
    in_dist = in_sel = None
    if held.split != cfg.data.eval_split:
        in_dist = arm(bench.splits().test, "in-distribution test")
        in_sel = arm(bench.splits().select, None)

    direction = sel.interventions.direction(feature)
    alphas = list(s.alphas) or [s.alpha]

    def placed(edit, on: Arm):
        """A residual edit at `steering.positions`: all, the prompt's, or the attributed tokens."""
        if s.positions == "prompt":
            edit.positions = "prompt"
        elif s.positions == "decision":
            return AtTokens(edit, [a.tokens for a in on.attributed])
        return edit

    def by(mode: str, sign: float = 1.0, along: torch.Tensor | None = None):
        """Run an arm under `mode` on latent j (None: the feature) at strength sign * v."""
        def run(on: Arm, jv: tuple):
            made = on.interventions.make(mode, feature if jv[0] is None else jv[0], sign * jv[1], direction=along)
            return on.runner.correct(made if mode == "grains" else placed(made, on))
        return run

    # the SAE methods also try the latents GrAInS' contrastive objective ranks first on selection
    latents = [feature] + [j for j in contrastive_latents(bench, select, sel.preds, base_sel, s.candidates,
                                                          steerer.sign) if j != feature][:s.candidates]
    methods = {"grains": ([(feature, v) for v in list(s.scales) or [s.scale]], by("grains")),
               "additive": ([(j, v) for j in latents for v in alphas], by("additive", steerer.sign))}
    skipped: dict[str, str] = {}
    if "clamp" in s.extra_methods:  # the SAE code itself set to a multiple of its mean active value
        methods["clamp"] = ([(j, v) for j in latents for v in s.clamps], by("inject"))
    # the baselines the feature's methods must beat, at the additive direction's norm and alphas
    norm = float(direction.norm())
    if "diffmean" in s.extra_methods:
        acts = mean_prompt_activation(bench.tokenizer, [e.prompt for e in select], bench.site)
        diffmean = diffmean_direction(acts, base_sel, norm)
        if diffmean is None:
            skipped["diffmean"] = "the selection split has no right (or no wrong) answer to take a difference of"
        else:
            # towards the right answers
            methods["diffmean"] = ([(None, v) for v in alphas], by("direction", along=diffmean.to(direction.device)))
    if "random_direction" in s.extra_methods:
        methods["random_direction"] = ([(None, v) for v in alphas], by(
            "direction", along=random_direction(len(direction), norm, cfg.seed).to(direction.device)))
    if "concept_probe" in s.extra_methods:
        reason = probe_guided(bench, held.split, [a for a in (sel, in_sel) if a is not None],
                              [a for a in (sel, tst, in_dist) if a is not None], cfg.seed)
        if reason:
            skipped["concept_probe"] = reason
        else:
            methods["concept_probe"] = ([(None, v) for v in alphas], lambda on, jv: on.runner.correct(
                placed(AddPerExample(bench.site, on.vectors, jv[1]), on)))
    detector = None
    if s.conditional:
        detector = fit_detector(bench, [a for a in (sel, in_sel) if a is not None], cfg.seed)
        if isinstance(detector, str):
            skipped["gated"] = detector
        else:
            for on in (a for a in (sel, tst, in_dist) if a is not None):
                on.fires = detector.fires(on.activations(bench))
            methods |= {f"gated_{name}": (grid, gated(run, subset)) for name, (grid, run) in methods.items()}
    results: dict[str, dict] = {}
    timings = {"attribute and unsteered": round(time.monotonic() - start, 1)}
    for name, (grid, run) in methods.items():
        began = time.monotonic()
        curve = [{"latent": None, "scale": 0.0, "accuracy": float(base_sel.mean())}]
        for j, v in progress_bar(grid, desc=f"{name} scales (selection)", unit="scale"):
            correct, _ = run(sel, (j, v))
            curve.append({"latent": j, "scale": float(v), "accuracy": float(correct.mean())})
        best = _choose(curve[1:])
        chosen = (best["latent"], best["scale"])
        treated, preds = run(tst, chosen)
        # a steered result is reported whichever scale wins; this says when none beat no steering
        results[name] = {"latent": best["latent"], "scale": best["scale"], "selection_curve": curve,
                         "unsteered_best_on_selection": curve[0]["accuracy"] > best["accuracy"],
                         "test": _summary(test, base_test, treated, preds_test, preds, cfg.causal.n_boot, cfg.seed),
                         "test_predictions": preds, "test_correct": treated}
        if in_dist is not None:
            in_treated, in_steered = run(in_dist, chosen)
            results[name]["in_distribution"] = _summary(in_dist.examples, in_dist.base, in_treated, in_dist.preds,
                                                        in_steered, cfg.causal.n_boot, cfg.seed)
        timings[name] = round(time.monotonic() - began, 1)
    errors = [a.completeness_error for a in att_test if a.completeness_error is not None]
    results["grains"]["mean_completeness_error"] = float(np.mean(errors)) if errors else None
    for name in results.keys() - {"grains"}:
        results[name]["mean_completeness_error"] = results["grains"]["mean_completeness_error"] \
            if name == "gated_grains" else None  # no attributions

    result = {
        "feature": feature, "feature_source": source, "layer": bench.site.layer, "site": bench.site.kind,
        "sae": bench.sae_path,
        "sae_verified": bench.sae_verified,
        "direction": s.direction, "position": s.position, "positions": s.positions,
        "baseline_embedding": s.baseline, "n_steps": s.n_steps,
        "ig_method": s.ig_method, "top_tokens": s.top_tokens, "grad_steps": s.grad_steps,
        "mean_active_value": mean_active, "n_select": len(select), "n_test": len(test),
        "candidate_latents": latents,
        "data_split": held.split, "split_choice": split_choice,
        "in_distribution_split": cfg.data.eval_split if in_dist is not None else None,
        "detector": None if not isinstance(detector, MisreadDetector) else {
            "kind": "misread probe (logistic regression on the question's activations at the site; selection only)",
            "fires": {name: float(on.fires.mean()) for name, on in
                      (("selection", sel), ("test", tst), ("in_distribution_test", in_dist)) if on is not None}},
        "methods": {name: {"method": name, "feature": feature, **{k: v for k, v in r.items()
                                                                   if not k.startswith("test_")}}
                    for name, r in results.items()},
        "skipped_methods": skipped,
    }
    if s.concepts:
        began = time.monotonic()
        result["concept_steering"] = concept_steering(bench, cfg.seed)
        timings["concept steering"] = round(time.monotonic() - began, 1)
    result["seconds_by_part"] = timings
    _write_attributions(out_dir, steerer, select, att_sel, test, att_test, result)
    from causalgear.report.attributions import attributions_page
    from causalgear.report.plots import flips_plot, steering_plot

    generations = {"unsteered": (preds_test, base_test)} | {
        f"{name} (scale {r['scale']:g})": (r["test_predictions"], r["test_correct"]) for name, r in results.items()}
    attributions_page(out_dir / "attributions.html", result, test[:s.html_examples], att_test[:s.html_examples],
                      bench.tokenizer, generations)
    steering_plot(result, out_dir / "steering.png")
    flips_plot(result, out_dir / "steering_flips.png")
    result["seconds"] = round(time.monotonic() - start, 1)
    write_json(out_dir / "steering.json", result)
    for name, r in result["methods"].items():
        t = r["test"]
        latent = "" if r["latent"] is None else f"latent {r['latent']}, "
        print(f"{name}: {latent}scale {r['scale']:g} (chosen on selection); test accuracy "
              f"{t['baseline_accuracy']:.3f} -> "
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
    for name, why in result["skipped_methods"].items():
        print(f"{name}: skipped ({why})")
    for target, c in result.get("concept_steering", {}).items():
        if "skipped" in c:
            print(f"concept steering {target}: skipped ({c['skipped']})")
            continue
        print(f"concept steering {target} ({c['n_test']} test prompts), score [95% CI] (concept / instruction / "
              "fluency): " + "; ".join(f"{name} {_concept_line(m['test'])}" for name, m in c["methods"].items()))
    print(f"mean completeness error (test, n_steps={s.n_steps}): {results['grains']['mean_completeness_error']}")
    print(f"wrote {out_dir / 'steering.json'} and {out_dir / 'attributions.html'}")
    return result


def _concept_line(t: dict) -> str:
    score = t["score"]
    return (f"{score['rate']:.2f} [{score['ci_low']:.2f}, {score['ci_high']:.2f}] "
            f"({t['concept']:.2f} / {t['instruction']:.2f} / {t['fluency']:.2f})")


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
