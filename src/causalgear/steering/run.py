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

from causalgear.data.components import COMPONENTS
from causalgear.errors import CausalgearError
from causalgear.interventions.factory import Interventions
from causalgear.interventions.profile import correctness
from causalgear.interventions.statistics import flips, paired_bootstrap
from causalgear.io import write_json
from causalgear.logs import bar as progress_bar
from causalgear.models.site import Site
from causalgear.steering.baselines import diffmean_direction, mean_prompt_activation, random_direction
from causalgear.steering.feature import FeatureReadout, readout_mask
from causalgear.steering.grains import chosen_tokens, perturbation
from causalgear.steering.integrated_gradients import integrated_gradients
from causalgear.workbench import Workbench


def resolve_feature(s: DictConfig, d_sae: int, chosen: int | None = None) -> tuple[int, str]:
    """The coordinate to steer and where it came from: `steering.feature`, else evaluate's choice
    (`chosen`, handed over in memory by the pipeline, or the causal.json in `steering.causal_path`)."""
    if s.feature is not None:
        j, source = int(s.feature), "steering.feature"
    elif chosen is not None:
        j, source = chosen, "evaluate"
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
    """The grid point with the best selection accuracy; ties go to the smaller scale."""
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
    held = bench.splits(s.split)
    select, test = held.select, held.test
    sel_run, test_run = bench.runner(select), bench.runner(test)
    base_sel, preds_sel = sel_run.correct()
    base_test, preds_test = test_run.correct()

    steerer = Steerer(s, bench.tokenizer, sae, bench.site, feature)

    def attribute(examples, preds, name):
        return [steerer.attribute(e.prompt, p) for e, p in
                progress_bar(list(zip(examples, preds, strict=True)), desc=f"attribute ({name})", unit="prompt")]

    att_sel, att_test = attribute(select, preds_sel, "selection"), attribute(test, preds_test, "test")
    def arm(runner, attributed):
        """A prompt list's runner with its interventions (grains perturbs the list's own attributions)."""
        return runner, Interventions(bench.site, sae, bench.stats, perturber=steerer.perturber(attributed))

    sel, tst = arm(sel_run, att_sel), arm(test_run, att_test)
    # steering chosen on another split is also measured where the model already works
    in_dist = None
    if s.split is not None and s.split != cfg.data.eval_split:
        in_test = bench.splits().test
        in_run = bench.runner(in_test)
        in_base, in_preds = in_run.correct()
        in_dist = (in_test, arm(in_run, attribute(in_test, in_preds, "in-distribution test")), in_base, in_preds)

    direction = sel[1].direction(feature)
    alphas = list(s.alphas) or [s.alpha]

    def by(mode: str, sign: float = 1.0, along: torch.Tensor | None = None):
        """Run a prompt list (an `arm`) under `mode` at strength sign * v."""
        return lambda on, v: on[0].correct(on[1].make(mode, feature, sign * v, direction=along))

    methods = {"grains": (list(s.scales) or [s.scale], by("grains")),
               "additive": (alphas, by("additive", steerer.sign))}
    skipped: dict[str, str] = {}
    if "clamp" in s.extra_methods:  # the SAE code itself set to a multiple of its mean active value
        methods["clamp"] = (list(s.clamps), by("inject"))
    # the baselines the feature's methods must beat, at the additive direction's norm and alphas
    norm = float(direction.norm())
    if "diffmean" in s.extra_methods:
        acts = mean_prompt_activation(bench.tokenizer, [e.prompt for e in select], bench.site)
        diffmean = diffmean_direction(acts, base_sel, norm)
        if diffmean is None:
            skipped["diffmean"] = "the selection split has no right (or no wrong) answer to take a difference of"
        else:
            # towards the right answers
            methods["diffmean"] = (alphas, by("direction", along=diffmean.to(direction.device)))
    if "random_direction" in s.extra_methods:
        methods["random_direction"] = (alphas, by("direction", along=random_direction(len(direction), norm, cfg.seed)
                                                  .to(direction.device)))
    results: dict[str, dict] = {}
    for name, (grid, run) in methods.items():
        curve = [{"scale": 0.0, "accuracy": float(base_sel.mean())}]
        for v in progress_bar(grid, desc=f"{name} scales (selection)", unit="scale"):
            correct, _ = run(sel, v)
            curve.append({"scale": float(v), "accuracy": float(correct.mean())})
        best = _choose(curve[1:])
        treated, preds = run(tst, best["scale"])
        # a steered result is reported whichever scale wins; this says when none beat no steering
        results[name] = {"scale": best["scale"], "selection_curve": curve,
                         "unsteered_best_on_selection": curve[0]["accuracy"] > best["accuracy"],
                         "test": _summary(test, base_test, treated, preds_test, preds, cfg.causal.n_boot, cfg.seed),
                         "test_predictions": preds, "test_correct": treated}
        if in_dist is not None:
            in_test, in_arm, in_base, in_preds = in_dist
            in_treated, in_steered = run(in_arm, best["scale"])
            results[name]["in_distribution"] = _summary(in_test, in_base, in_treated, in_preds, in_steered,
                                                        cfg.causal.n_boot, cfg.seed)
    errors = [a.completeness_error for a in att_test if a.completeness_error is not None]
    results["grains"]["mean_completeness_error"] = float(np.mean(errors)) if errors else None
    for name in results.keys() - {"grains"}:
        results[name]["mean_completeness_error"] = None  # no attributions

    result = {
        "feature": feature, "feature_source": source, "layer": bench.site.layer, "site": bench.site.kind,
        "sae": bench.sae_path,
        "direction": s.direction, "position": s.position, "baseline_embedding": s.baseline, "n_steps": s.n_steps,
        "ig_method": s.ig_method, "top_tokens": s.top_tokens, "grad_steps": s.grad_steps,
        "mean_active_value": mean_active, "n_select": len(select), "n_test": len(test),
        "data_split": held.split,
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
                      bench.tokenizer, generations)
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
