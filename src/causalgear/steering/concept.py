"""Concept steering in AxBench's form, judged deterministically by execution and the component parser.

A target is `component:VALUE`: force the ORDER BY direction (`order_direction:ASC`), or turn
every aggregate into one function (`aggregate:MAX`). The prompts are those whose gold SQL has
the component with another value. Per output, three 0/1 judges: concept (the component took the
wanted value), instruction (every other component equals the gold's) and fluency (the SQL
executes); its score is their harmonic mean, 0 when any judge is 0, averaged over outputs.

Everything is chosen on the validation split and reported on data.eval_split (at most
`steering.concepts.prompts` prompts each): the SAE latents (the `steering.concepts.latents` whose
mean code differs most between validation examples with and without the value), each method's
latent and scale. Methods: clamp and additive on those latents; DiffMean of the residual over
the same examples (as AxBench computes it: mean over each example's tokens, then positives minus
negatives), at multiples of itself; an equal-norm random direction at the same multiples. These act
at every position (`steering.concepts.positions` has `all`); with `span`, DiffMean and the SAE
methods also act only at the words that say the value, where an interchange acts, and the SAE's
codes there move toward their mean where the value holds (`steering.concept_spans`). With
`steering.concepts.trained`, a vector and the SAE's latents trained on the selection prompts' gold
SQL with the value forced in (`steering.concept_trained`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from causalgear.data.components import COMPONENTS, components, wanted_value
from causalgear.data.loading import load_split
from causalgear.data.sqlexec import execute
from causalgear.estimators import diffmean
from causalgear.interventions.factory import Interventions
from causalgear.interventions.specs import AddLatent, AddVector, Clamp
from causalgear.interventions.statistics import proportion
from causalgear.interventions.types import AtTokens
from causalgear.models.teacher_forcing import prompt_sql_batch
from causalgear.steering.arms import predict_each
from causalgear.steering.baselines import random_direction
from causalgear.steering.search import select_then_report


def parse_target(target: str) -> tuple[str, str]:
    component, value = target.split(":", 1)
    return component, value


def has_value(gold: dict | None, component: str, value: str) -> bool | None:
    """Whether the gold query has the target value (None: it has no such component)."""
    if gold is None or gold[component] is None:
        return None
    if component == "aggregate":
        return any(fn == value.lower() for fn, _ in gold["aggregate"])
    return gold[component] == value


def judges(example, prediction: str, component: str, value: str, budget) -> tuple[int, int, int]:
    """(concept, instruction, fluency) of one output, each 0 or 1."""
    gold, pred = components(example.sql), components(prediction)
    fluency = int(execute(example.db_paths[0], prediction, budget).ok)
    if pred is None:
        return 0, 0, fluency
    concept = int(pred[component] == wanted_value(gold, component, value))
    instruction = int(all(pred[c] == gold[c] for c in COMPONENTS if c != component))
    return concept, instruction, fluency


def harmonic(concept: np.ndarray, instruction: np.ndarray, fluency: np.ndarray) -> np.ndarray:
    """Per output: the harmonic mean of the three judges (0 if any is 0)."""
    j = np.stack([concept, instruction, fluency]).astype(float)
    with np.errstate(divide="ignore"):
        return np.where((j > 0).all(0), 3 / (1 / np.where(j > 0, j, 1)).sum(0), 0.0)


def token_means(bench, examples, batch_size: int = 32, saes: tuple = ()) -> tuple[torch.Tensor, ...]:
    """Each example's residual and SAE code at the site (and each of `saes`' codes), averaged over its
    prompt and gold SQL tokens."""
    device = next(bench.model.parameters()).device
    saes = (bench.sae, *saes)
    resid, codes = [], [[] for _ in saes]
    with torch.no_grad():
        for i in range(0, len(examples), batch_size):
            ids, mask, _ = prompt_sql_batch(bench.tokenizer, examples[i:i + batch_size], device)
            h = bench.site.run(ids, mask).float()
            m = mask.unsqueeze(-1).float()
            resid.append(((h * m).sum(1) / m.sum(1)).cpu())
            for out, sae in zip(codes, saes, strict=True):
                out.append(((sae.encode(h) * m).sum(1) / m.sum(1)).cpu())
    return torch.cat(resid), *(torch.cat(c) for c in codes)


def random_sae_tools(bench) -> tuple | None:
    """The random-weight twin of the SAE (`causal.random_sae`) and its interventions, its code
    statistics measured over the harvest as the trained SAE's are; None when the control is off."""
    if not bench.cfg.causal.random_sae:
        return None
    return bench.twin, Interventions(bench.site, bench.twin, bench.twin_stats)


# the methods that act on the residual without the SAE: measured once, not per SAE seed
RESIDUAL_METHODS = ("diffmean", "random_direction", "diffmean_at_span", "trained_vector")


def concept_steering(bench, seed: int, sae_only: bool = False) -> dict:
    """Every target of `steering.concepts.targets`: each method's judges and score on the eval split
    (`sae_only`: the unsteered score and the methods that act through the SAE, with their twins)."""
    s, cfg = bench.cfg.steering, bench.cfg
    if "validation_split" not in bench.source.supports:
        why = f"data={cfg.data.name} has no validation split to choose on"
        return {t: {"skipped": why} for t in s.concepts.targets}
    validation, evaluation = load_split(cfg, "validation"), load_split(cfg, cfg.data.eval_split)
    twin = random_sae_tools(bench)
    return {target: _one_target(bench, target, validation, evaluation, s, seed, twin, sae_only)
            for target in s.concepts.targets}


def _one_target(bench, target: str, validation, evaluation, s, seed: int, twin: tuple | None = None,
                sae_only: bool = False) -> dict:
    component, value = parse_target(target)
    flags = [has_value(components(e.sql), component, value) for e in validation]
    pos = [e for e, f in zip(validation, flags, strict=True) if f]
    neg = [e for e, f in zip(validation, flags, strict=True) if f is False]
    prompts = {"selection": neg[:s.concepts.prompts],
               "test": [e for e in evaluation if has_value(components(e.sql), component, value) is False]
               [:s.concepts.prompts]}
    if not pos or not prompts["selection"] or not prompts["test"]:
        return {"skipped": f"validation or {bench.cfg.data.eval_split} has no example to steer towards {target} "
                           f"(validation examples with it: {len(pos)}; without: {len(neg)})"}
    extra = (twin[0],) if twin else ()
    (r_pos, z_pos, *t_pos), (r_neg, z_neg, *t_neg) = token_means(bench, pos, saes=extra), \
        token_means(bench, neg, saes=extra)
    resid_diffmean = diffmean(r_pos, r_neg)
    latents = torch.argsort(diffmean(z_pos, z_neg), descending=True)[:s.concepts.latents].tolist()
    tools = Interventions(bench.site, bench.sae, bench.stats)
    device = next(bench.model.parameters()).device
    along = {"diffmean": resid_diffmean.to(device), "random_direction": random_direction(
        len(resid_diffmean), float(resid_diffmean.norm()), seed).to(device)}
    alphas = list(s.methods.alphas)
    # method -> (its grid of (latent or None, scale), the intervention at any point)
    grids: dict[str, tuple[list, Callable]] = {}
    notes: dict[str, dict] = {}  # what a method's entry says beside its point
    if "all" in s.concepts.positions:
        grids["clamp"] = ([(j, c) for j in latents for c in s.methods.clamps], lambda p: tools.make(Clamp(*p)))
        grids["additive"] = ([(j, a) for j in latents for a in alphas], lambda p: tools.make(AddLatent(*p)))
        grids.update({name: ([(None, a) for a in alphas], lambda p, d=d: tools.make(AddVector(d, p[1])))
                      for name, d in along.items()})
        if twin:  # the same choice with the random-weight twin's latents: the control the SAE must clear
            twin_tools = twin[1]
            twin_latents = torch.argsort(diffmean(t_pos[0], t_neg[0]), descending=True)[:s.concepts.latents].tolist()
            grids["random_sae_clamp"] = ([(j, c) for j in twin_latents for c in s.methods.clamps],
                                         lambda p: twin_tools.make(Clamp(*p)))
            grids["random_sae_additive"] = ([(j, a) for j in twin_latents for a in alphas],
                                            lambda p: twin_tools.make(AddLatent(*p)))
    if "span" in s.concepts.positions:
        from causalgear.steering.concept_spans import span_grids

        saes = {"sae": (bench.sae, tools), **({"random_sae": twin} if twin else {})}
        at_span, notes = span_grids(bench, component, pos, neg, prompts, saes, s)
        grids.update(at_span)
    if s.concepts.trained:
        from causalgear.steering.concept_trained import trained_grids

        trained, trained_notes = trained_grids(bench, target, component, value, prompts["selection"], tools, twin,
                                               seed)
        grids.update(trained)
        notes = {**notes, **trained_notes}
    if sae_only:
        grids = {name: grid for name, grid in grids.items() if name not in RESIDUAL_METHODS}
    budget = bench.budget

    def rows(split: str, interventions: list, idx=None) -> list[np.ndarray]:
        """[n, 3] per intervention: the three judges per output, the interventions' outputs generated
        together where they stack. An at-span intervention is one per split (a dict), its positions
        one per prompt of the split: a subset `idx` takes theirs."""
        examples = prompts[split] if idx is None else [prompts[split][i] for i in idx]
        resolved = []
        for intervention in interventions:
            if isinstance(intervention, dict):
                intervention = intervention[split]
                if idx is not None:
                    intervention = AtTokens(intervention.inner, [intervention.tokens[i] for i in idx])
            resolved.append(intervention)
        per = predict_each(bench.runner, [(examples, intervention) for intervention in resolved])
        return [np.array([judges(e, p, component, value, budget) for e, p in zip(examples, preds, strict=True)])
                for preds in per]

    def scored(split: str, intervention=None) -> dict:
        (j,) = rows(split, [intervention])
        return {"concept": float(j[:, 0].mean()), "instruction": float(j[:, 1].mean()),
                "fluency": float(j[:, 2].mean()), "score": proportion(harmonic(*j.T))}

    out = {"n_select": len(prompts["selection"]), "n_test": len(prompts["test"]), "candidate_latents": latents,
           "methods": {"none": {"latent": None, "scale": 0.0, "test": scored("test")}}}
    for name, (grid, make) in grids.items():
        choice = select_then_report(grid, lambda p, m=make: scored("selection", m(p))["score"]["rate"],
                                    lambda p, m=make: scored("test", m(p)), desc=f"{target} {name} (selection)",
                                    unit="setting", max_extensions=s.grid_extensions,
                                    per_prompt=(lambda points, idx, m=make: [harmonic(*j.T) for j in rows(
                                        "selection", [m(p) for p in points], idx)])
                                    if s.methods.halving else None, n_prompts=len(prompts["selection"]))
        out["methods"][name] = {"latent": choice.latent, "scale": choice.scale, "scale_at_grid_edge": choice.edge,
                                "selection_score": choice.score, "test": choice.report,
                                "selection_curve": choice.curve, **notes.get(name, {})}
    return out

