"""report.html: one page for a pipeline run, built from the files its stages wrote.

Sections appear for the stages that ran: configuration, SAE training (curves, density
histogram, reconstruction metrics), the top tokens per coordinate, the causal table and plot,
the steering table and plot with a link to the attributions page. Plots are embedded, so the
page is one file that can be mailed or archived; the attributions page is linked beside it.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from causalgear.io import write_text
from causalgear.report.findings import Finding, findings, interval, rate
from causalgear.report.html_parts import Markup, escape, join, png_img, table
from causalgear.report.plots import patching_empty, patching_flat, profile_empty
from causalgear.report.reading import read
from causalgear.report.scoreboard import scoreboard
from causalgear.report.tables import edge, latent_cell, steering_table
from causalgear.report.twins import cause_isolate_methods, concept_target, split_methods, with_twins
from causalgear.results import Skipped

# Every fragment below is `Markup(template).format(...)`: each value is escaped on the way in
# (`report.html_parts`), so no string read from a run's JSON reaches the page as markup.

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1150px;color:#222;padding:0 1em}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #3b6ea5;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;font-size:14px;margin:.6em 0}
th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#eef}img{max-width:100%;border:1px solid #eee;margin:.5em 0}
pre{background:#f6f6f6;padding:1em;font-size:12px;max-height:28em;overflow:auto}
.verdict{font-size:16px;padding:.6em 1em;border-left:4px solid #c0392b;background:#fdf2f0}
.ok{border-left-color:#1e8449;background:#eefaf1}.meta{color:#555}
p.finding{margin:.5em 0;padding:.3em .6em;border-left:4px solid #999}p.finding.ok{border-left-color:#1e8449}
p.finding.no{border-left-color:#c0392b}.empty{color:#555;font-style:italic}.scroll{overflow-x:auto;max-width:100%}
table.scoreboard td{vertical-align:top}table.scoreboard td.answer{font-weight:600}
tr.answer-yes td.answer{color:#1e8449}tr.answer-partly td.answer{color:#b9770e}tr.answer-no td.answer{color:#c0392b}
tr.answer-not-measured td.answer{color:#777}
"""


def _img(path: Path, alt: str) -> Markup:
    return png_img(path.read_bytes(), alt) if path.is_file() else Markup("")


def _scoreboard_section(run_dir: Path) -> list[str]:
    """The run's answers, one row per question, before any sentence, table or plot; each row
    links to its section."""
    rows = scoreboard(run_dir)
    if not rows:
        return []

    def question(r) -> Markup:  # a question not measured has no section to go to
        return Markup("<a href='#{}'>{}</a>").format(r.section, r.question) if r.answer != "not measured" \
            else escape(r.question)

    body = join([Markup("<tr class='answer-{}'><td>{}</td><td class='answer'>{}</td><td>{}</td><td>{}</td></tr>")
                 .format(r.answer.replace(" ", "-"), question(r), r.answer, r.figure, r.control) for r in rows], "")
    return [Markup("<h2 id='scoreboard'>Scoreboard</h2><div class='scroll'><table class='scoreboard'><thead><tr>"
                   "<th>question</th><th>answer</th><th>deciding figure [95% CI]</th><th>held against</th></tr>"
                   "</thead><tbody>{}</tbody></table></div>").format(body)]


def _said(found: list[Finding], stage: str) -> list[str]:
    """A section's own finding sentences, its verdict marked."""
    return [Markup("<p class='finding {}'>{}</p>").format(
        "ok" if f.verdict.startswith(("a finding", "healthy")) else "no" if f.verdict.startswith(("not a finding",
                                                                                                "unhealthy"))
        else "", f.sentence) for f in found if f.stage == stage]


def _plot_or_why(path: Path, alt: str, why: str | None) -> Markup:
    """The plot, or the sentence that says why there is nothing to plot (a blank heatmap looks
    like a broken one)."""
    if why:
        return Markup("<p class='empty'>{}</p>").format(why)
    return _img(path, alt)


def _sae_section(train: Path, found: list[Finding]) -> list[str]:
    m = read(train / "metrics.json")
    if m is None:
        return []
    keys = ["arch", "d_in", "d_sae", "k", "l1_coeff", "explained_variance", "fvu", "mse", "l0", "density",
            "dead_fraction", "ce_loss_clean", "ce_loss_spliced", "ce_loss_zero", "ce_loss_recovered",
            "train_seconds", "rows_seen"]
    rows = [{"metric": k, "value": m.get(k)} for k in keys if k in m]
    return [Markup("<h2 id='sae'>Sparse autoencoder</h2>"), *_said(found, "sae"),
            Markup("<p class='meta'>Validation rows (examples held out of training).</p>"),
            table(rows, ["metric", "value"]), _img(train / "loss_curves.png", "training loss curves"),
            _img(train / "feature_density.png", "feature density histogram")]


def _features_section(path: Path) -> list[str]:
    f = read(path)
    if not f:
        return []
    column = "top tokens (activation; where the token sits: prompt part or SQL clause)"
    rows = [{"coordinate": r["coordinate"], "firing rate": r["firing_rate"],
             column: ", ".join(f"{t['token']!r} ({t['value']:.2f}; {_where(t)})" for t in r["top"])}
            for r in f["coordinates"]]
    return [Markup("<h2>Top-activating tokens</h2><p class='meta'>The {} harvested tokens on which each coordinate "
                   "fires most ({} most frequent coordinates).</p>").format(f["tokens_per_coordinate"], len(rows)),
            table(rows, ["coordinate", "firing rate", column])]


def _where(token: dict) -> str:
    """A top token's place: the SQL clause it is in, or (outside the SQL) the prompt's part."""
    clause = token.get("clause")
    return f"SQL {clause.replace('_', ' ').upper()}" if clause and clause != "none" else str(token.get("role", "?"))


def _concepts_section(features: Path, base: Path, found: list[Finding]) -> list[str]:
    c = read(features / "concepts.json")
    if c is None:
        return []
    if c.get("skipped"):
        return [Markup("<h2 id='features'>Features against known concepts</h2><p class='meta'>Skipped: {}</p>")
                .format(c["skipped"])]
    floor = c["random_model_floor"]
    rows = [{"detector": "best SAE latent per concept", "coverage (mean F1)": c["coverage"]},
            {"detector": "linear probe on the residual (ceiling)", "coverage (mean F1)": c["linear_probe_coverage"]},
            {"detector": "DiffMean direction", "coverage (mean F1)": c["diffmean_coverage"]},
            {"detector": "5-sparse probe on latents", "coverage (mean F1)": c["k_sparse_coverage"]["5"]},
            {"detector": "same SAE recipe, random-weight model (floor)", "coverage (mean F1)": floor["coverage"]}]
    twin = c.get("random_sae")
    if twin:  # the control every SAE figure must clear
        for name, f in (("best latent per concept", twin["coverage"]),
                        ("5-sparse probe on latents", twin["k_sparse_coverage"]["5"])):
            verdict = "a finding" if f["finding"] else "not a finding"
            rows.append({"detector": f"{name}: random-SAE twin (trained minus twin [95% CI]: {f['delta']:+.3f} "
                                     f"[{f['ci_low']:+.3f}, {f['ci_high']:+.3f}], {verdict})",
                         "coverage (mean F1)": f["random"]})
    page = features / "features.html"
    return [Markup("<h2 id='features'>Features against known concepts</h2>"), *_said(found, "features"),
            Markup("<p class='meta'>{} TinySQL concepts, chosen on {} fitting rows and scored on {} held-out rows; "
                   "dead latents {:.1%}, dense {:.1%}.</p>").format(len(c["per_concept"]), c["fit_rows"],
                                                                   c["held_out_rows"], c["dead_fraction"],
                                                                   c["dense_fraction"]),
            table(rows, list(rows[0])),
            Markup("<p><a href='{}'>Every latent: concept match, histogram, contexts, logit lens (features.html)</a>"
                   "</p>").format(page.relative_to(base)) if page.is_file() else ""]


def _causal_section(evaluate: Path, found: list[Finding]) -> list[str]:
    c = read(evaluate / "causal.json")
    if c is None:
        return []
    rows = [{"intervention": f"coordinate {c['chosen']} ({c['mode']})",
             "Δ accuracy [95% CI]": interval(c["chosen_test"])},
            {"intervention": f"random coordinate {c['controls']['random_coordinate']['coordinate']}",
             "Δ accuracy [95% CI]": interval(c["controls"]["random_coordinate"])},
            {"intervention": "random direction, same norm",
             "Δ accuracy [95% CI]": interval(c["controls"]["random_direction"])}]
    cls = "verdict ok" if c["beats_controls"] else "verdict"
    return [Markup("<h2 id='causal'>Causal evaluation</h2>"), *_said(found, "causal"),
            Markup("<p class='meta'>Chosen on {} selection prompts ({}), reported on {} disjoint test prompts; "
                   "baseline test accuracy {:.3f}; KL at prompt positions {:.4f}.</p>").format(
                c["n_select"], c["method"], c["n_test"], c["baseline"]["test_accuracy"], c["kl_prompt_positions"]),
            Markup("<p class='{}'>{}</p>").format(cls, c["verdict"]),
            table(rows, ["intervention", "Δ accuracy [95% CI]"]), _img(evaluate / "causal.png", "causal plot"),
            *_precision(c), _plot_or_why(evaluate / "profile.png", "latent by SQL component heatmap", profile_empty(c)),
            *_cause_isolate(c, found), *_transfer(c, evaluate, found),
            *_patching(evaluate, c)]


def _patching(evaluate: Path, c: dict) -> list[str]:
    if not c.get("activation_patching"):
        return []
    patching = read(evaluate / "patching.json")
    flat = patching_flat(patching)
    return [_plot_or_why(evaluate / "patching.png", "activation patching heatmap", patching_empty(patching)),
            Markup("<p class='empty'>{}</p>").format(flat) if flat else ""]


def _cause_isolate(c: dict, found: list[Finding]) -> list[str]:
    """Cause / isolate per attribute, the methods side by side on the same test pairs."""
    ci = c.get("cause_isolate")
    if not ci:
        return []
    rows, methods = [], []
    for attribute, r in ci.items():
        row = {"attribute": attribute, "test pairs (kept of made)": f"{r['test_pairs']} of {r['test_pairs_made']}"}
        for name, m in with_twins(cause_isolate_methods(r)):
            methods += [name] if name not in methods else []
            row[name] = f"{rate(m.cause, 2)} / {m.isolate.rate:.2f}"
        rows.append(row if r["methods"] else {**row, "attribute": f"{attribute}: {r['skipped']}"})
    return [Markup("<h3 id='cause-isolate'>Cause and isolate on counterfactual pairs</h3>"),
            *_said(found, "cause_isolate"),
            Markup("<p class='meta'>Each cell: cause [95% CI] / isolate. At the attribute's tokens the base prompt's "
            "stream takes part of the source prompt's (which differs in that attribute only): the best 1, 2 or 5 "
            "SAE latents of the pair's swap and the swap's DiffMean direction, chosen on validation pairs, or the "
            "whole residual (the ceiling at this site). Cause: the SQL executes as the counterfactual gold; "
            "isolate: every other component is what the unedited model wrote. Pairs the unedited model gets "
            "right on both prompts.</p>"),
            table(rows, ["attribute", "test pairs (kept of made)", *methods])]


def _precision(c: dict) -> list[str]:
    """The chosen coordinate's effect on each SQL component, on the test split."""
    p = c.get("chosen_test_profile")
    if not p or p["target_component"] is None:
        return []
    rows = [{"component": name, "prompts with it": r["n"], "Δ correctness [95% CI]": interval(r)
             if r["delta"] is not None else "n/a", "Δ where the gold lacks it": r["absent_delta"]}
            for name, r in p["profile"].items()]
    return [Markup("<p>Causal precision on the test split (chosen by {}): target <b>{}</b>, precision {:.3f} "
                   "[{:.3f}, {:.3f}], selectivity {:.3f}.</p>").format(
                c.get("select_by"), p["target_component"], p["precision"], p["precision_ci_low"],
                p["precision_ci_high"], p["selectivity"]), table(rows, list(rows[0]))]


def _transfer(c: dict, evaluate: Path, found: list[Finding]) -> list[str]:
    if not c.get("transfer"):
        return []
    rows = [{"data": f"{c['source_data']} (chosen here)", "baseline": c["baseline"]["test_accuracy"],
             "coordinate": interval(c["chosen_test"]),
             "random coordinate": interval(c["controls"]["random_coordinate"]),
             "random direction": interval(c["controls"]["random_direction"])}]
    for name, t in c["transfer"].items():
        if "skipped" in t:
            rows.append({"data": f"{name}: {t['data']}", "baseline": "skipped: " + t["skipped"]})
        else:
            rows.append({"data": f"{name}: {t['data']}", "baseline": t["baseline_accuracy"],
                         "coordinate": interval(t["chosen"]), "random coordinate": interval(t["random_coordinate"]),
                         "random direction": interval(t["random_direction"])})
    return [Markup("<h3 id='transfer'>Transfer</h3>"), *_said(found, "transfer"),
            table(rows, ["data", "baseline", "coordinate", "random coordinate",
                                                "random direction"]), _img(evaluate / "transfer.png", "transfer plot")]


def _steering_section(steer: Path, base: Path, found: list[Finding]) -> list[str]:
    s = read(steer / "steering.json")
    if s is None:
        return []
    rows, methods = [], with_twins(split_methods(s))
    for name, m in methods:
        t = m.test
        flag = edge(m, " (its grid's {})")
        row = {"method": name, "latent": latent_cell(m), "scale (chosen on selection)": f"{m.scale:g}{flag}",
               "baseline": t.baseline_accuracy, "steered": t.steered_accuracy, "Δ [95% CI]": interval(t),
               "fixed / broken": f"{t.fixed} / {t.broken}", "McNemar p": t.mcnemar_p}
        if s.get("in_distribution_split"):  # steered on another split: the regression check beside it
            row[f"Δ on {s['in_distribution_split']} [95% CI]"] = interval(m.in_distribution)
        moved = [f"{c} {f['fixed']}/{f['broken']}" for c, f in t.component_flips.items() if f["fixed"] or f["broken"]]
        rows.append({**row, "outputs changed": t.changed_share, "components fixed / broken": ", ".join(moved),
                     "mean completeness error": m.mean_completeness_error})
    link = (steer / "attributions.html").relative_to(base) if (steer / "attributions.html").is_file() else None
    unbeaten = [name for name, m in methods if m.unsteered_best_on_selection]
    note = Markup("<p class='meta'>On the selection split no scale tried beat no steering for: {}; the table "
                  "reports the best scale all the same.</p>").format(", ".join(unbeaten)) if unbeaten else ""
    choice = s.get("split_choice") or {}
    why = str(choice.get("rule", ""))
    if "validation_accuracy" in choice:
        why += " (validation accuracy: " + ", ".join(f"{e} {v:.3f}" for e, v in choice["validation_accuracy"].items())
        why += f"; {choice.get('source', '')})"
    if choice.get("validation_full_residual_cause"):
        handles = choice["validation_full_residual_cause"]
        why += "; full-residual cause on validation pairs: " + ", ".join(
            f"{e} {'unknown' if v is None else f'{v:.2f}'}" for e, v in handles.items())
    detector = s.get("detector")
    gate = Markup("<p class='meta'>gated_*: steered only where a misread detector, fitted on selection prompts, "
                  "fires; it fires on {}.</p>").format(
        ", ".join(f"{str(k).replace('_', ' ')} {v:.0%}" for k, v in detector["fires"].items())) if detector else ""
    return [Markup("<h2 id='steering'>Steering</h2>"), *_said(found, "steering"),
            Markup("<p class='meta'>Feature {} ({}), {}d; {} test prompts of {}{}.</p>").format(
                s["feature"], s["feature_source"], s["direction"], s["n_test"], s.get("data_split"),
                f", chosen by {why}" if why else ""),
            table(rows, list(rows[0])), note, gate, _img(steer / "steering.png", "steering plot"),
            _img(steer / "steering_flips.png", "fixed and broken answers per method"),
            *_other_splits(s.get("other_splits") or {}, base, steer),
            *_concept_steering(s.get("concept_steering") or {}, found),
            Markup("<p><a href='{}'>Token attributions and steered SQL (attributions.html)</a></p>").format(link)
            if link else ""]


def _other_splits(others: dict, base: Path, steer: Path) -> list[str]:
    """`steering.target.split=handles`: each further split's table (and its plots) after the first's."""
    parts = []
    for split, s in others.items():
        t = steering_table(s)
        parts += [Markup("<h3>{}</h3>").format(t.title),
                  table([dict(zip(t.columns, row, strict=True)) for row in t.rows], t.columns),
                  _img(steer / split / "steering.png", f"steering plot, {split}")]
    return parts


def _concept_steering(c: dict, found: list[Finding]) -> list[str]:
    """AxBench-form concept steering: per target and method, the three judges and the score."""
    rows = []
    for target, r in ((t, concept_target(r)) for t, r in c.items()):
        if isinstance(r, Skipped):
            rows.append({"target": target, "method": "skipped: " + r.skipped})
            continue
        for name, m in with_twins(r.methods):
            t = m.test
            rows.append({"target": target, "method": "none (unsteered)" if name == "none" else name,
                         "latent": m.latent, "scale": m.scale,
                         "concept": t.concept, "instruction": t.instruction, "fluency": t.fluency,
                         "score [95% CI]": rate(t.score, 3), "test prompts": r.n_test})
    if not rows:
        return []
    return [Markup("<h3 id='concept-steering'>Concept steering</h3>"), *_said(found, "concept_steering"),
            Markup("<p class='meta'>Force a value on prompts whose gold SQL has another; judges per output: concept "
                   "(the component took it), instruction (every other component as in the gold), fluency (it "
                   "executes); score: their harmonic mean (0 if any is 0), averaged. Latent and scale chosen on the "
                   "validation split.</p>"),
            table(rows, ["target", "method", "latent", "scale", "concept", "instruction", "fluency",
                         "score [95% CI]", "test prompts"])]


def _seeds_section(run_dir: Path) -> list[str]:
    """Every SAE finding on every seed, whether the dictionary comes back, and whether the latents
    that carry each attribute do, beside the random twins' floor."""
    from causalgear.report.tables import seed_tables

    found = seed_tables(run_dir)
    if not found:
        return []
    parts = [Markup("<h2 id='sae-seeds'>Across SAE seeds</h2><p>Each SAE figure measured on every SAE seed of the "
                    "run, trained from the same harvest; the figures that read the model alone are measured once.</p>")]
    if (run_dir / "seeds" / "seeds.png").is_file():
        parts.append(_img(run_dir / "seeds" / "seeds.png", "each SAE finding's figure on every seed"))
    for t in found:
        parts += [Markup("<h3>{}</h3>").format(t.title),
                  table([dict(zip(t.columns, row, strict=True)) for row in t.rows], t.columns)]
    return parts


def write_report(run_dir: Path, cfg: DictConfig, summary: dict | None = None) -> Path:
    """report.html in `run_dir`, from its train/, evaluate/, steer/ subdirs and features.json."""
    parts = [Markup("<!doctype html><html><head><meta charset='utf-8'><title>causalgear report</title>"
                    "<style>{}</style></head><body><h1>causalgear report</h1>").format(Markup(_STYLE)),
             Markup("<p class='meta'>{} · model {} · data {} · SAE {}, layer {}</p>").format(
                 run_dir, cfg.model.name, cfg.data.name, cfg.sae.arch, cfg.model.layer)]
    found = findings(run_dir)
    parts += _scoreboard_section(run_dir)
    parts += [Markup("<p class='finding no'>{}</p>").format(f.sentence) for f in found if f.verdict == "unreadable"]
    if any(f.stage == "model" for f in found):
        parts += [Markup("<h2 id='model'>Model</h2>"), *_said(found, "model")]
    parts += _sae_section(run_dir / "train", found)
    parts += _features_section(run_dir / "features.json")
    parts += _concepts_section(run_dir / "features", run_dir, found)
    parts += _causal_section(run_dir / "evaluate", found)
    parts += _steering_section(run_dir / "steer", run_dir, found)
    parts += _seeds_section(run_dir)
    if summary and "seconds" in summary:
        parts += [Markup("<h2>Stage timings</h2>"),
                  table([{"stage": k, "seconds": v} for k, v in summary["seconds"].items()], ["stage", "seconds"])]
    parts += [Markup("<h2>Configuration</h2><pre>{}</pre></body></html>").format(OmegaConf.to_yaml(cfg, resolve=True))]
    path = run_dir / "report.html"
    write_text(path, join(parts, "\n"))
    return path
