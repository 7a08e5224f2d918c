"""report.html: one page for a pipeline run, built from the files its stages wrote.

Sections appear for the stages that ran: configuration, SAE training (curves, density
histogram, reconstruction metrics), the top tokens per coordinate, the causal table and plot,
the steering table and plot with a link to the attributions page. Plots are embedded, so the
page is one file that can be mailed or archived; the attributions page is linked beside it.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from causalgear.io import write_text
from causalgear.report.html_parts import png_img, table

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #3b6ea5;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:14px;margin:.6em 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#eef}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f6f6f6;padding:1em;font-size:12px;max-height:28em;overflow:auto}
.verdict{font-size:16px;padding:.6em 1em;border-left:4px solid #c0392b;background:#fdf2f0}
.ok{border-left-color:#1e8449;background:#eefaf1}.meta{color:#555}
"""


def _img(path: Path, alt: str) -> str:
    return png_img(path.read_bytes(), alt) if path.is_file() else ""


def _read(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _interval(r: dict) -> str:
    return f"{r['delta']:+.3f} [{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"


def _rate(r: dict, digits: int) -> str:
    """A share with its interval (`interventions.statistics.proportion`'s dict)."""
    return f"{r['rate']:.{digits}f} [{r['ci_low']:.{digits}f}, {r['ci_high']:.{digits}f}]"


def _sae_section(train: Path) -> list[str]:
    m = _read(train / "metrics.json")
    if m is None:
        return []
    keys = ["arch", "d_in", "d_sae", "k", "l1_coeff", "explained_variance", "fvu", "mse", "l0", "density",
            "dead_fraction", "ce_loss_clean", "ce_loss_spliced", "ce_loss_zero", "ce_loss_recovered",
            "train_seconds", "rows_seen"]
    rows = [{"metric": k, "value": m.get(k)} for k in keys if k in m]
    return ["<h2>Sparse autoencoder</h2><p class='meta'>Validation rows (examples held out of training).</p>",
            table(rows, ["metric", "value"]), _img(train / "loss_curves.png", "training loss curves"),
            _img(train / "feature_density.png", "feature density histogram")]


def _features_section(path: Path) -> list[str]:
    f = _read(path)
    if not f:
        return []
    rows = [{"coordinate": r["coordinate"], "firing rate": r["firing_rate"],
             "top tokens (value)": ", ".join(f"{t['token']!r} ({t['value']:.2f}, {t['clause']})" for t in r["top"])}
            for r in f["coordinates"]]
    return [f"<h2>Top-activating tokens</h2><p class='meta'>The {f['tokens_per_coordinate']} harvested tokens on "
            f"which each coordinate fires most ({len(rows)} most frequent coordinates).</p>",
            table(rows, ["coordinate", "firing rate", "top tokens (value)"])]


def _concepts_section(features: Path, base: Path) -> list[str]:
    c = _read(features / "concepts.json")
    if c is None:
        return []
    if c.get("skipped"):
        return ["<h2>Features against known concepts</h2>", f"<p class='meta'>Skipped: {html.escape(c['skipped'])}</p>"]
    floor = c["random_model_floor"]
    rows = [{"detector": "best SAE latent per concept", "coverage (mean F1)": c["coverage"]},
            {"detector": "linear probe on the residual (ceiling)", "coverage (mean F1)": c["linear_probe_coverage"]},
            {"detector": "DiffMean direction", "coverage (mean F1)": c["diffmean_coverage"]},
            {"detector": "5-sparse probe on latents", "coverage (mean F1)": c["k_sparse_coverage"]["5"]},
            {"detector": "same SAE recipe, random-weight model (floor)", "coverage (mean F1)": floor["coverage"]}]
    page = features / "features.html"
    return ["<h2>Features against known concepts</h2>",
            f"<p class='meta'>{len(c['per_concept'])} TinySQL concepts, chosen on {c['fit_rows']} fitting rows and "
            f"scored on {c['held_out_rows']} held-out rows; dead latents {c['dead_fraction']:.1%}, dense "
            f"{c['dense_fraction']:.1%}.</p>", table(rows, list(rows[0])),
            f"<p><a href='{page.relative_to(base)}'>Every latent: concept match, histogram, contexts, logit lens "
            f"(features.html)</a></p>" if page.is_file() else ""]


def _causal_section(evaluate: Path) -> list[str]:
    c = _read(evaluate / "causal.json")
    if c is None:
        return []
    rows = [{"intervention": f"coordinate {c['chosen']} ({c['mode']})",
             "Δ accuracy [95% CI]": _interval(c["chosen_test"])},
            {"intervention": f"random coordinate {c['controls']['random_coordinate']['coordinate']}",
             "Δ accuracy [95% CI]": _interval(c["controls"]["random_coordinate"])},
            {"intervention": "random direction, same norm",
             "Δ accuracy [95% CI]": _interval(c["controls"]["random_direction"])}]
    cls = "verdict ok" if c["beats_controls"] else "verdict"
    return ["<h2>Causal evaluation</h2>",
            f"<p class='meta'>Chosen on {c['n_select']} selection prompts ({c['method']}), reported on {c['n_test']} "
            f"disjoint test prompts; baseline test accuracy {c['baseline']['test_accuracy']:.3f}; KL at prompt "
            f"positions {c['kl_prompt_positions']:.4f}.</p>",
            f"<p class='{cls}'>{html.escape(c['verdict'])}</p>",
            table(rows, ["intervention", "Δ accuracy [95% CI]"]), _img(evaluate / "causal.png", "causal plot"),
            *_precision(c), _img(evaluate / "profile.png", "latent by SQL component heatmap"),
            *_cause_isolate(c), *_transfer(c, evaluate),
            _img(evaluate / "patching.png", "activation patching heatmap")]


def _cause_isolate(c: dict) -> list[str]:
    """Cause / isolate per attribute, the methods side by side on the same test pairs."""
    ci = c.get("cause_isolate")
    if not ci:
        return []
    rows, methods = [], []
    for attribute, r in ci.items():
        row = {"attribute": attribute, "test pairs (kept of made)": f"{r['test_pairs']} of {r['test_pairs_made']}"}
        for name, m in r["methods"].items():
            methods += [name] if name not in methods else []
            cause, isolate = m["cause"], m["isolate"]["rate"]
            row[name] = f"{_rate(cause, 2)} / {isolate:.2f}"
        rows.append(row if r["methods"] else {**row, "attribute": f"{attribute}: {r['skipped']}"})
    return ["<h3>Cause and isolate on counterfactual pairs</h3>",
            "<p class='meta'>Each cell: cause [95% CI] / isolate. At the attribute's tokens the base prompt's "
            "stream takes part of the source prompt's (which differs in that attribute only): the best 1, 2 or 5 "
            "SAE latents of the pair's swap and the swap's DiffMean direction, chosen on validation pairs, or the "
            "whole residual (the ceiling at this site). Cause: the SQL executes as the counterfactual gold; "
            "isolate: every other component is what the unedited model wrote. Pairs the unedited model gets "
            "right on both prompts.</p>",
            table(rows, ["attribute", "test pairs (kept of made)", *methods])]


def _precision(c: dict) -> list[str]:
    """The chosen coordinate's effect on each SQL component, on the test split."""
    p = c.get("chosen_test_profile")
    if not p or p["target_component"] is None:
        return []
    rows = [{"component": name, "prompts with it": r["n"], "Δ correctness [95% CI]": _interval(r)
             if r["delta"] is not None else "n/a", "Δ where the gold lacks it": r["absent_delta"]}
            for name, r in p["profile"].items()]
    return [f"<p>Causal precision on the test split (chosen by {html.escape(str(c.get('select_by')))}): target "
            f"<b>{p['target_component']}</b>, precision {p['precision']:.3f} [{p['precision_ci_low']:.3f}, "
            f"{p['precision_ci_high']:.3f}], selectivity {p['selectivity']:.3f}.</p>", table(rows, list(rows[0]))]


def _transfer(c: dict, evaluate: Path) -> list[str]:
    if not c.get("transfer"):
        return []
    rows = [{"data": f"{c['source_data']} (chosen here)", "baseline": c["baseline"]["test_accuracy"],
             "coordinate": _interval(c["chosen_test"]),
             "random coordinate": _interval(c["controls"]["random_coordinate"]),
             "random direction": _interval(c["controls"]["random_direction"])}]
    for name, t in c["transfer"].items():
        if "skipped" in t:
            rows.append({"data": f"{name}: {t['data']}", "baseline": "skipped: " + t["skipped"]})
        else:
            rows.append({"data": f"{name}: {t['data']}", "baseline": t["baseline_accuracy"],
                         "coordinate": _interval(t["chosen"]), "random coordinate": _interval(t["random_coordinate"]),
                         "random direction": _interval(t["random_direction"])})
    return ["<h3>Transfer</h3>", table(rows, ["data", "baseline", "coordinate", "random coordinate",
                                                "random direction"]), _img(evaluate / "transfer.png", "transfer plot")]


def _steering_section(steer: Path, base: Path) -> list[str]:
    s = _read(steer / "steering.json")
    if s is None:
        return []
    rows = []
    for name, m in s["methods"].items():
        t = m["test"]
        row = {"method": name, "latent": m.get("latent"), "scale (chosen on selection)": m["scale"],
               "baseline": t["baseline_accuracy"], "steered": t["steered_accuracy"], "Δ [95% CI]": _interval(t),
               "fixed / broken": f"{t['fixed']} / {t['broken']}" if "fixed" in t else "",
               "McNemar p": t.get("mcnemar_p")}
        if s.get("in_distribution_split"):  # steered on another split: the regression check beside it
            row[f"Δ on {s['in_distribution_split']} [95% CI]"] = _interval(m["in_distribution"])
        moved = [f"{c} {f['fixed']}/{f['broken']}" for c, f in t.get("component_flips", {}).items()
                 if f["fixed"] or f["broken"]]
        rows.append({**row, "outputs changed": t["changed_share"], "components fixed / broken": ", ".join(moved),
                     "mean completeness error": m["mean_completeness_error"]})
    link = (steer / "attributions.html").relative_to(base) if (steer / "attributions.html").is_file() else None
    # steering.json of an older run has no such field: say nothing rather than guess
    unbeaten = [name for name, m in s["methods"].items() if m.get("unsteered_best_on_selection")]
    note = (f"<p class='meta'>On the selection split no scale tried beat no steering for: {', '.join(unbeaten)}; "
            f"the table reports the best scale all the same.</p>") if unbeaten else ""
    choice = s.get("split_choice") or {}
    why = html.escape(choice.get("rule", ""))
    if "validation_accuracy" in choice:
        why += " (validation accuracy: " + ", ".join(f"{e} {v:.3f}" for e, v in choice["validation_accuracy"].items())
        why += f"; {html.escape(choice.get('source', ''))})"
    detector = s.get("detector")
    gate = ("<p class='meta'>gated_*: steered only where a misread detector, fitted on selection prompts, fires; "
            "it fires on " + ", ".join(f"{k.replace('_', ' ')} {v:.0%}" for k, v in detector["fires"].items())
            + ".</p>") if detector else ""
    return ["<h2>Steering</h2>",
            f"<p class='meta'>Feature {s['feature']} ({html.escape(s['feature_source'])}), {s['direction']}d; "
            f"{s['n_test']} test prompts of {html.escape(str(s.get('data_split')))}"
            + (f", chosen by {why}" if why else "") + ".</p>",
            table(rows, list(rows[0])), note, gate, _img(steer / "steering.png", "steering plot"),
            _img(steer / "steering_flips.png", "fixed and broken answers per method"),
            *_concept_steering(s.get("concept_steering") or {}),
            f"<p><a href='{link}'>Token attributions and steered SQL (attributions.html)</a></p>" if link else ""]


def _concept_steering(c: dict) -> list[str]:
    """AxBench-form concept steering: per target and method, the three judges and the score."""
    rows = []
    for target, r in c.items():
        if "skipped" in r:
            rows.append({"target": target, "method": "skipped: " + r["skipped"]})
            continue
        for name, m in r["methods"].items():
            t = m["test"]
            rows.append({"target": target, "method": name, "latent": m["latent"], "scale": m["scale"],
                         "concept": t["concept"], "instruction": t["instruction"], "fluency": t["fluency"],
                         "score [95% CI]": _rate(t["score"], 3), "test prompts": r["n_test"]})
    if not rows:
        return []
    return ["<h3>Concept steering</h3>",
            "<p class='meta'>Force a value on prompts whose gold SQL has another; judges per output: concept (the "
            "component took it), instruction (every other component as in the gold), fluency (it executes); score: "
            "their harmonic mean (0 if any is 0), averaged. Latent and scale chosen on the validation split.</p>",
            table(rows, ["target", "method", "latent", "scale", "concept", "instruction", "fluency",
                         "score [95% CI]", "test prompts"])]


def write_report(run_dir: Path, cfg: DictConfig, summary: dict | None = None) -> Path:
    """report.html in `run_dir`, from its train/, evaluate/, steer/ subdirs and features.json."""
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>causalgear report</title>",
             f"<style>{_STYLE}</style></head><body><h1>causalgear report</h1>",
             f"<p class='meta'>{html.escape(str(run_dir))} · model {html.escape(cfg.model.name)} · data "
             f"{html.escape(cfg.data.name)} · SAE {html.escape(cfg.sae.arch)}, layer {cfg.model.layer}</p>"]
    if summary and "model_test_accuracy" in summary:
        parts.append(f"<p>Model execution accuracy on the test split: {summary['model_test_accuracy']:.3f}</p>")
    parts += _sae_section(run_dir / "train")
    parts += _features_section(run_dir / "features.json")
    parts += _concepts_section(run_dir / "features", run_dir)
    parts += _causal_section(run_dir / "evaluate")
    parts += _steering_section(run_dir / "steer", run_dir)
    if summary and "seconds" in summary:
        parts += ["<h2>Stage timings</h2>",
                  table([{"stage": k, "seconds": v} for k, v in summary["seconds"].items()], ["stage", "seconds"])]
    parts += ["<h2>Configuration</h2>", f"<pre>{html.escape(OmegaConf.to_yaml(cfg, resolve=True))}</pre>",
              "</body></html>"]
    path = run_dir / "report.html"
    write_text(path, "\n".join(p for p in parts if p))
    return path
