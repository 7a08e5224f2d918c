"""`causalgear compare DIR [DIR ...]`: the runs of a multirun (or any run dirs) side by side.

Writes `comparison.csv` (one row per run: λ, d_sae, k, arch, every metric, the causal figures
when present, concept coverage and dense/dead latent shares where `features` ran, the steering
figures of a pipeline run), `comparison.html` (a sortable table with the plots) and `pareto.png`
(L0 against explained variance coloured by λ and sized by d_sae; the causal delta against λ;
coverage against L0).
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from causalgear.errors import CausalgearError
from causalgear.io import dir_write_problem, read_json, write_text
from causalgear.report.html_parts import png_img, table
from causalgear.report.seeds import is_further_seed
from causalgear.report.twins import cause_isolate_methods, concept_target, split_methods

REMEDY = "rerun the stage that wrote it, or leave this run out of the comparison"


def find_runs(roots: list[Path]) -> list[Path]:
    runs = []
    for root in roots:
        for metrics in sorted(root.rglob("metrics.json")):
            if is_further_seed(metrics.parent):  # its figures are the run's seeds.json's, not a row
                continue
            if metrics.parent.name == "train" or (metrics.parent / "sae").is_dir():
                runs.append(metrics.parent)
    return sorted(set(runs))


def collect(run: Path, base: Path) -> dict:
    row: dict = {"run": str(run.relative_to(base)) if run.is_relative_to(base) else str(run)}
    metrics = read_json(run / "metrics.json", REMEDY)
    row.update({k: v for k, v in metrics.items() if isinstance(v, int | float | str) and k != "store"})
    overrides = run / ".hydra" / "overrides.yaml"
    if overrides.is_file():
        row["overrides"] = " ".join(line.strip("- \n") for line in overrides.read_text().splitlines()
                                    if line.strip() and not line.strip("- ").startswith(("stage=", "hydra.")))
    causal_file = next((p for p in (run / "causal.json", run / "evaluate" / "causal.json",
                                    run.parent / "evaluate" / "causal.json") if p.is_file()), None)
    if causal_file is not None:
        causal = read_json(causal_file, REMEDY)
        test = causal["chosen_test"]
        row.update({"causal_chosen": causal["chosen"], "causal_delta": test["delta"],
                    "causal_ci_low": test["ci_low"], "causal_ci_high": test["ci_high"],
                    "causal_kl": causal["kl_prompt_positions"], "causal_beats_controls": causal["beats_controls"]})
        precise = causal.get("chosen_test_profile") or {}
        if precise.get("target_component") is not None:
            row.update({"causal_target": precise["target_component"], "causal_precision": precise["precision"],
                        "causal_precision_ci_low": precise["precision_ci_low"],
                        "causal_precision_ci_high": precise["precision_ci_high"],
                        "causal_selectivity": precise["selectivity"]})
            twin = causal.get("random_sae_chosen")
            if twin:
                row.update({"causal_precision_random_sae": twin["precision"],
                            "causal_precision_beats_random_sae": causal["precision_beats_random_sae"]})
        for attribute, r in (causal.get("cause_isolate") or {}).items():
            methods = cause_isolate_methods(r)
            for name in ("top_1_latents", "diffmean", "full_residual"):
                for label, m in ((name, methods.get(name)), (f"{name}_twin", getattr(methods.get(name), "twin", None))):
                    if m is not None:
                        row.update({f"{attribute}_{label}_cause": m.cause.rate,
                                    f"{attribute}_{label}_isolate": m.isolate.rate})
    concepts_file = next((p for p in (run / "features" / "concepts.json", run.parent / "features" / "concepts.json")
                          if p.is_file()), None)
    if concepts_file is not None:
        c = read_json(concepts_file, REMEDY)
        if c.get("coverage") is not None:
            row.update({"coverage": c["coverage"], "coverage_linear_probe": c["linear_probe_coverage"],
                        "coverage_random_floor": c["random_model_floor"]["coverage"],
                        "latents_dead": c["dead_fraction"], "latents_dense": c["dense_fraction"]})
            twin = (c.get("random_sae") or {}).get("coverage")
            if twin:  # the control a coverage figure must clear
                row.update({"coverage_random_sae": twin["random"], "coverage_minus_random_sae": twin["delta"],
                            "coverage_beats_random_sae": twin["finding"]})
    selection_file = run.parent / "selection.json"
    if selection_file.is_file():  # `causalgear select`: validation figures only, ranked by report.selection.RULE
        from causalgear.report.selection import flat

        row.update(flat(read_json(selection_file, REMEDY)))
    steering_file = run.parent / "steer" / "steering.json"
    if steering_file.is_file():
        steering = read_json(steering_file, REMEDY)
        for name, method in split_methods(steering).items():
            for label, m in ((name, method), (f"{name}_twin", method.twin)):
                if m is None:
                    continue
                t = m.test
                row.update({f"steer_{label}_scale": m.scale, f"steer_{label}_delta": t.delta,
                            f"steer_{label}_ci_low": t.ci_low, f"steer_{label}_ci_high": t.ci_high,
                            f"steer_{label}_changed": t.changed_share})
                if m.in_distribution is not None:
                    row[f"steer_{label}_in_distribution_delta"] = m.in_distribution.delta
        for target, c in (steering.get("concept_steering") or {}).items():
            if "methods" not in c:
                continue
            for name, method in concept_target(c).methods.items():
                for label, m in ((name, method), (f"{name}_twin", getattr(method, "twin", None))):
                    if m is not None:
                        row[f"concept_{target.replace(':', '_')}_{label}_score"] = m.test.score.rate
    return row


def pareto_png(rows: list[dict], path: Path) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    has_causal = any("causal_delta" in r for r in rows)
    has_coverage = any("coverage" in r for r in rows)
    has_precision = any("causal_precision" in r for r in rows)
    panels = 1 + has_causal + has_coverage + has_precision
    fig, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4), squeeze=False)
    ax = axes[0, 0]
    lam = np.array([max(r.get("l1_coeff", 0) or 0, 1e-12) for r in rows])
    ks = np.array([r.get("d_sae") or r.get("k") or 1 for r in rows], dtype=float)
    sc = ax.scatter([r.get("l0", np.nan) for r in rows], [r.get("explained_variance", np.nan) for r in rows],
                    c=np.log10(lam), s=30 + 200 * ks / ks.max(), cmap="viridis", edgecolors="black")
    fig.colorbar(sc, ax=ax, label="log10 λ")
    ax.set_xlabel("L0 (active codes per token)")
    ax.set_ylabel("explained variance")
    ax.set_title("sparsity vs reconstruction (size: d_sae)")
    if has_causal:
        ax2 = axes[0, 1]
        pts = [r for r in rows if "causal_delta" in r]
        x = [max(r.get("l1_coeff", 0) or 0, 1e-12) for r in pts]
        y = [r["causal_delta"] for r in pts]
        err = [[r["causal_delta"] - r["causal_ci_low"] for r in pts],
               [r["causal_ci_high"] - r["causal_delta"] for r in pts]]
        ax2.errorbar(x, y, yerr=err, fmt="o", capsize=3)
        ax2.set_xscale("log")
        ax2.axhline(0, color="black", lw=0.8)
        ax2.set_xlabel("λ")
        ax2.set_ylabel("Δ execution accuracy (test split)")
        ax2.set_title("causal effect of the chosen coordinate")
    if has_precision:
        ax4 = axes[0, panels - 1 - has_coverage]
        pts = [r for r in rows if "causal_precision" in r]
        ax4.errorbar([r["causal_kl"] for r in pts], [r["causal_precision"] for r in pts],
                     yerr=[[r["causal_precision"] - r["causal_precision_ci_low"] for r in pts],
                           [r["causal_precision_ci_high"] - r["causal_precision"] for r in pts]], fmt="o", capsize=3)
        for r in pts:
            ax4.annotate(f"λ={r.get('l1_coeff', 0):g}", (r["causal_kl"], r["causal_precision"]), fontsize=7)
        ax4.set_xlabel("KL at prompt positions (the shift the edit causes)")
        ax4.set_ylabel("causal precision of the chosen latent (test)")
        ax4.set_title("precision against distribution shift")
    if has_coverage:
        ax3 = axes[0, panels - 1]
        pts = [r for r in rows if "coverage" in r]
        sc3 = ax3.scatter([r.get("l0", np.nan) for r in pts], [r["coverage"] for r in pts],
                          c=np.log10([max(r.get("l1_coeff", 0) or 0, 1e-12) for r in pts]), cmap="viridis",
                          edgecolors="black")
        fig.colorbar(sc3, ax=ax3, label="log10 λ")
        ax3.set_xlabel("L0 (active codes per token)")
        ax3.set_ylabel("coverage of TinySQL concepts (mean F1)")
        ax3.set_title("concept coverage vs sparsity")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


_SORT_JS = """
document.querySelectorAll('th').forEach((th, i) => th.addEventListener('click', () => {
  const body = th.closest('table').tBodies[0], rows = Array.from(body.rows);
  const asc = th.dataset.asc = th.dataset.asc === '1' ? '0' : '1';
  const key = r => { const t = r.cells[i].textContent; const n = parseFloat(t); return isNaN(n) ? t : n; };
  rows.sort((a, b) => (key(a) > key(b) ? 1 : key(a) < key(b) ? -1 : 0) * (asc === '1' ? 1 : -1));
  rows.forEach(r => body.appendChild(r));
}));
"""


def comparison_html(rows: list[dict], columns: list[str], png: bytes) -> str:
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>causalgear comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
th,td{{border:1px solid #ccc;padding:4px 8px}}th{{background:#eef;cursor:pointer}}</style></head><body>
<h1>causalgear: {len(rows)} runs</h1><p>Click a column header to sort.</p>
{table(rows, columns)}
<h2>Pareto</h2>{png_img(png, "pareto plot")}
<script>{_SORT_JS}</script></body></html>
"""


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="causalgear compare", description=__doc__.splitlines()[0])
    p.add_argument("dirs", nargs="*", type=Path, help="a multirun dir, or run dirs (default: the newest multirun)")
    p.add_argument("--out", type=Path, help="where to write (default: the first DIR)")
    args = p.parse_args(argv)
    if not args.dirs:
        sweeps = sorted(Path("multirun").glob("*/*"))
        if not sweeps:
            print("causalgear compare: no DIR given and no multirun/DATE/TIME here to default to", file=sys.stderr)
            return 2
        args.dirs = [sweeps[-1]]
        print(f"comparing the newest multirun: {sweeps[-1]}")
    missing = [d for d in args.dirs if not d.is_dir()]
    if missing:
        print(f"causalgear compare: no such directory: {missing[0]}", file=sys.stderr)
        return 2
    if args.out is not None and (why := dir_write_problem(args.out)) is not None:
        print(f"causalgear compare: --out {args.out}: {why}", file=sys.stderr)
        return 2
    runs = find_runs(args.dirs)
    if not runs:
        print(f"causalgear compare: no train runs (metrics.json beside sae/) under {', '.join(map(str, args.dirs))}",
              file=sys.stderr)
        return 2
    base = args.dirs[0]
    rows = []
    for run in runs:  # every file is read before anything is written
        try:
            rows.append(collect(run, base))
        except CausalgearError as err:
            print(f"causalgear compare: {err}", file=sys.stderr)
            return 2
        except (KeyError, TypeError, AttributeError) as err:
            print(f"causalgear compare: {run}: a JSON file there lacks a field it should have ({err!r}); {REMEDY}",
                  file=sys.stderr)
            return 2
    if any("select_carry" in r for r in rows):
        from causalgear.report.selection import rank, write_table

        rows = rank(rows)
        write_table(rows, args.out or base)
    first = ["run", "select_rank", "overrides", "arch", "l1_coeff", "k", "d_sae", "explained_variance", "l0", "density",
             "dead_fraction", "ce_loss_recovered", "coverage", "latents_dense", "latents_dead"]
    columns = [c for c in first if any(c in r for r in rows)]
    columns += sorted({k for r in rows for k in r} - set(columns))
    out = args.out or base
    out.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "comparison.csv", buf.getvalue())
    png = pareto_png(rows, out / "pareto.png")
    write_text(out / "comparison.html", comparison_html(rows, columns, png))
    print(f"{len(rows)} runs compared")
    print(f"outputs: {out}")
    return 0
