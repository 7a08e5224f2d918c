"""What a steering run leaves: steering.json, attributions.json and .html, the two plots, and the
summary it prints. Apart from the orchestration (`steering.run`), so that a new method or output
changes one of them."""

from __future__ import annotations

from pathlib import Path

from causalgear.io import write_json
from causalgear.results import SplitMethod, SplitSteering
from causalgear.steering.arms import IN_DISTRIBUTION, SELECTION, TEST
from causalgear.steering.measure import Measured
from causalgear.steering.methods.grains import GRAD_STEPS

# the detector's verdicts in steering.json, by arm
_FIRES_NAMES = {SELECTION: "selection", TEST: "test", IN_DISTRIBUTION: "in_distribution_test"}


def steering_result(ctx, source: str, split_choice: dict, fires: dict | None, methods: dict[str, SplitMethod],
                    skipped: dict, concept: dict | None, timings: dict) -> SplitSteering:
    """steering.json of one split (the run adds its seconds and, with `handles`, the other splits)."""
    bench, s, arms = ctx.bench, ctx.s, ctx.arms
    return SplitSteering(
        feature=ctx.feature, feature_source=source, layer=bench.site.layer, site=bench.site.kind,
        sae=bench.sae_path, sae_verified=bench.sae_verified,
        direction=s.target.direction, readout=s.grains.readout, positions=s.methods.positions,
        baseline_embedding=s.grains.baseline, n_steps=s.grains.n_steps,
        ig_method=s.grains.ig_method, perturbed_tokens=s.grains.perturbed_tokens, grad_steps=GRAD_STEPS,
        mean_active_value=float(bench.stats["mean_active"][ctx.feature]), n_select=len(arms[SELECTION].examples),
        n_test=len(arms[TEST].examples), candidate_latents=ctx.latents,
        data_split=ctx.split, split_choice=split_choice,
        in_distribution_split=bench.cfg.data.eval_split if IN_DISTRIBUTION in arms else None,
        detector=None if fires is None else {
            "kind": "misread probe (logistic regression on the question's activations at the site; selection only)",
            "fires": {_FIRES_NAMES[key]: float(f.mean()) for key, f in fires.items()}},
        methods=methods, skipped_methods=skipped, concept_steering=concept, seconds_by_part=timings)


def generations(results: dict[str, Measured]) -> dict[str, tuple[list[str], list]]:
    """Each method's (and twin's) test outputs at its chosen scale, by the label the page shows."""
    from causalgear.report.twins import with_twins

    return {f"{label} (scale {m.result.scale:g})": (m.test_predictions, m.test_correct)
            for label, m in with_twins(results)}


def write_outputs(out_dir: Path, bench, arms: dict, results: dict, result: dict) -> None:
    """Every file of a run; `results`: each method's measurement with its test predictions."""
    from causalgear.report.attributions import attributions_page
    from causalgear.report.plots import flips_plot, steering_plot

    s, tst = bench.cfg.steering, arms[TEST]
    write_attributions(out_dir, bench.tokenizer, [arms[SELECTION], tst], result)
    attributions_page(out_dir / "attributions.html", result, list(tst.examples[:s.html_examples]),
                      list(tst.attributed[:s.html_examples]), bench.tokenizer,
                      {"unsteered": (list(tst.preds), tst.base)} | generations(results))
    steering_plot(result, out_dir / "steering.png")
    flips_plot(result, out_dir / "steering_flips.png")


def print_summary(result: dict, out_dir: Path) -> None:
    """One table row per method (and per concept-steering target and method), then what was skipped."""
    from causalgear.report.tables import concept_steering_table, print_table, steering_table

    print_table(steering_table(result))
    unbeaten = [name for name, r in result["methods"].items() if r["unsteered_best_on_selection"]]
    if unbeaten:
        print(f"no scale beat no steering on selection for: {', '.join(unbeaten)}")
    for name, why in result["skipped_methods"].items():
        print(f"{name}: skipped ({why})")
    concepts = concept_steering_table(result.get("concept_steering") or {})
    if concepts:
        print_table(concepts)
    print(f"mean completeness error (test, n_steps={result['n_steps']}): "
          f"{result['methods']['grains']['mean_completeness_error']}")
    print(f"wrote {out_dir / 'steering.json'} and {out_dir / 'attributions.html'}")


def write_attributions(out_dir: Path, tokenizer, arms: list, result: dict) -> None:
    """attributions.json: every attributed prompt's tokens, attributions and perturbed positions."""
    tok = tokenizer
    rows = []
    for arm in arms:
        for e, a in zip(arm.examples, arm.attributed, strict=True):
            ids = a.prompt_ids + a.response_ids
            rows.append({
                "id": e.id, "split": arm.key, "group": e.group, "token_ids": ids,
                "tokens": [tok.decode([i]) for i in ids], "prompt_length": len(a.prompt_ids),
                "attributions": [round(float(v), 6) for v in a.attributions],
                "perturbed_positions": a.tokens.tolist(), "baseline": result["baseline_embedding"],
                "n_steps": result["n_steps"], "ig_method": result["ig_method"], "layer": result["layer"],
                "site": result["site"], "coordinate": result["feature"], "readout": result["readout"],
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
