"""Plots people look at: feature density, training curves. matplotlib, headless."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from causalgear.results import twin_label  # noqa: E402


def density_histogram(density: torch.Tensor, path: Path, title: str = "") -> Path:
    """Histogram of log10 feature firing frequency; dead features counted apart."""
    dead = int((density == 0).sum())
    alive = density[density > 0].double().log10().numpy()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(alive, bins=40, color="#3b6ea5")
    ax.set_xlabel("log10 firing frequency (share of validation tokens)")
    ax.set_ylabel("features")
    ax.set_title(f"{title}  ({dead} dead of {len(density)})".strip())
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def loss_curves(metrics_csv: Path, path: Path) -> Path | None:
    """Training loss terms against step, from Lightning's CSV log."""
    if not metrics_csv.is_file():
        return None
    series: dict[str, list[tuple[int, float]]] = {}
    with open(metrics_csv) as fh:
        for row in csv.DictReader(fh):
            # train/step is the optimizer step (the CSV's own step counts logged chunks)
            step = int(float(row.get("train/step") or row["step"]))
            for key, value in row.items():
                if key.startswith("train/") and key != "train/step" and value not in ("", None):
                    series.setdefault(key, []).append((step, float(value)))
    if not series:
        return None
    keys = [k for k in ("train/loss", "train/mse", "train/l1", "train/l0", "train/aux") if k in series]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3))
    for ax, key in zip(axes if len(keys) > 1 else [axes], keys, strict=True):
        steps, values = zip(*series[key], strict=True)
        ax.plot(steps, values, lw=1)
        ax.set_title(key.removeprefix("train/"))
        ax.set_xlabel("step")
        if key != "train/l0" and min(values) > 0:
            ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def causal_plot(result: dict, path: Path) -> Path:
    """Accuracy change per coordinate on the selection split, and the chosen one on the test
    split beside its controls, each with its 95% interval."""
    coords = [r for r in result["coordinates"] if r["delta"] is not None]  # measured by real patching
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 1]})
    xs = [r["coordinate"] for r in coords]
    deltas = [r["delta"] for r in coords]
    err = [[r["delta"] - r["ci_low"] for r in coords], [r["ci_high"] - r["delta"] for r in coords]]
    colors = ["#c0392b" if r["coordinate"] == result["chosen"] else "#3b6ea5" for r in coords]
    ax1.bar(range(len(xs)), deltas, color=colors, yerr=err, ecolor="#888", capsize=0)
    if len(xs) <= 64:
        ax1.set_xticks(range(len(xs)), [str(x) for x in xs], fontsize=6, rotation=90)
    ax1.axhline(0, color="black", lw=0.8)
    ax1.set_xlabel("SAE coordinate")
    ax1.set_ylabel("Δ execution accuracy")
    ax1.set_title(f"selection split ({result['mode']}, {result['method']}), n={result['n_select']}")
    rows = [("chosen", result["chosen_test"]), ("random coord", result["controls"]["random_coordinate"]),
            ("random dir", result["controls"]["random_direction"])]
    for i, (_label, r) in enumerate(rows):
        ax2.errorbar([i], [r["delta"]], yerr=[[r["delta"] - r["ci_low"]], [r["ci_high"] - r["delta"]]],
                     fmt="o", color="#c0392b" if i == 0 else "#555", capsize=4)
    ax2.axhline(0, color="black", lw=0.8)
    ax2.set_xticks(range(len(rows)), [r[0] for r in rows], rotation=20)
    ax2.set_title(f"test split, n={result['n_test']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _first_pairs(patching: dict) -> dict:
    firsts = {}
    for pair in patching["pairs"]:
        firsts.setdefault(pair["kind"], pair)
    return firsts


def _largest(rec: list) -> float:
    values = [abs(v) for row in rec for v in row if v == v]  # NaN-free
    return max(values, default=0.0)


# a heatmap is titled with its largest |recovery| at two decimals: below this it would read "0.00"
SHOWN_RECOVERY = 0.005


def _flat_kinds(firsts: dict) -> list[str]:
    return [kind for kind, p in firsts.items() if _largest(p["recovery"]) < SHOWN_RECOVERY]


def patching_empty(patching: dict | None) -> str | None:
    """Why the activation-patching heatmap has nothing to show, or None when it has something."""
    if not patching or not patching.get("pairs"):
        return "No activation-patching pairs were made: nothing to plot."
    firsts = _first_pairs(patching)
    if len(_flat_kinds(firsts)) == len(firsts):
        return (f"Patching no (layer, token) restores any of the clean answer's log-prob: every |recovery| is under "
                f"{SHOWN_RECOVERY} for {', '.join(firsts)}.")
    return None


def patching_flat(patching: dict | None) -> str | None:
    """The sentence for the corruption kinds left out of a heatmap that shows others (every
    |recovery| under what its title would print), or None."""
    if patching_empty(patching):
        return None
    flat = _flat_kinds(_first_pairs(patching))
    return (f"Not plotted: {', '.join(flat)} (no (layer, token) restores the clean answer's log-prob: every "
            f"|recovery| is under {SHOWN_RECOVERY}).") if flat else None


def patching_heatmap(patching: dict, path: Path) -> Path | None:
    """One heatmap per corruption kind (its first pair) with anything to show: recovery by layer
    and prompt token, its largest value in the title, so that a faint row reads as small rather
    than broken."""
    if patching_empty(patching):
        return None
    firsts = _first_pairs(patching)
    flat = _flat_kinds(firsts)
    firsts = {k: p for k, p in firsts.items() if k not in flat}
    fig, axes = plt.subplots(len(firsts), 1, figsize=(14, 2.2 * len(firsts)), squeeze=False)
    for ax, (kind, pair) in zip(axes[:, 0], firsts.items(), strict=True):
        rec = pair["recovery"]
        im = ax.imshow(rec, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_yticks(range(len(rec)), [f"L{i}" for i in range(len(rec))])
        ax.set_xticks(range(len(pair["tokens"])), pair["tokens"], rotation=90, fontsize=6)
        for i in pair["corrupted_positions"]:
            ax.get_xticklabels()[i].set_color("#c0392b")
        ax.set_title(f"{kind}: recovery of the clean SQL's log-prob (corrupted tokens in red); largest "
                     f"|recovery| {_largest(rec):.2f}", fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.02)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def profile_empty(result: dict) -> str | None:
    """Why the latent x component heatmap has nothing to show, or None when it has something."""
    rows = [r for r in result.get("coordinates", []) if r.get("profile")]
    if not rows:
        return "No latent was profiled by SQL component: nothing to plot."
    deltas = [p["delta"] for r in rows for p in r["profile"].values() if p["delta"] is not None]
    if all(abs(d) < 1e-9 for d in deltas):
        return (f"No latent moved any SQL component: every Δ correctness is 0 for the {len(rows)} profiled latents "
                f"on {result.get('n_select')} selection prompts.")
    return None


def profile_heatmap(result: dict, path: Path) -> Path | None:
    """Latent x SQL component: the change of each component's correctness when the latent is
    patched (selection split), the measured latents by causal precision, the chosen one marked."""
    if profile_empty(result):
        return None
    rows = sorted((r for r in result["coordinates"] if r.get("profile")), key=lambda r: -r["precision"])
    comps = result["components"]
    grid = [[r["profile"][c]["delta"] if r["profile"][c]["delta"] is not None else float("nan") for c in comps]
            for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.32 * len(rows) + 1.6))
    im = ax.imshow(grid, aspect="auto", cmap="RdBu", vmin=-1, vmax=1)
    ax.set_xticks(range(len(comps)), comps, rotation=30, ha="right", fontsize=8)
    labels = [f"{r['coordinate']}{' (chosen)' if r['coordinate'] == result['chosen'] else ''}  "
              f"p={r['precision']:.2f}" for r in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.set_title("Δ correctness per SQL component when the latent is patched (selection split)", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def steering_plot(result: dict, path: Path) -> Path:
    """Selection-split accuracy against scale for each steering method (scale 0: unsteered), its gated
    twin on the same axes, with the chosen scale's test-split accuracy and interval marked."""
    methods = result["methods"]
    plain = [name for name in methods if not name.startswith("gated_")]
    fig, axes = plt.subplots(1, len(plain), figsize=(4.2 * len(plain), 3.6), squeeze=False)
    units = {"grains": "scale (share of each perturbed token's embedding norm)",
             "additive": "alpha (mean active decoder contribution)",
             "clamp": "z_j = this multiple of its mean active value",
             "diffmean": "alpha (at the additive direction's norm)",
             "random_direction": "alpha (at the additive direction's norm)",
             "concept_probe": "alpha (multiples of the read value's DiffMean)"}
    for ax, name in zip(axes[0], plain, strict=True):
        for label, color, r in ((name, "#3b6ea5", methods[name]),
                                (f"gated_{name}", "#27ae60", methods.get(f"gated_{name}")),
                                (twin_label(name), "#999999", methods[name].get("twin"))):
            if r is None:
                continue
            # the chosen latent's curve (the SAE methods also try other candidate latents)
            # (a point pruned by successive halving was scored on half the prompts: not drawn)
            curve = [c for c in r["selection_curve"] if c.get("latent") in (None, r.get("latent"))
                     and not c.get("pruned")]
            t = r["test"]
            ax.plot([c["scale"] for c in curve], [c["accuracy"] for c in curve], "o-", color=color,
                    label=f"{label}: selection")
            ax.errorbar([r["scale"]], [t["steered_accuracy"]], yerr=[[t["delta"] - t["ci_low"]],
                        [t["ci_high"] - t["delta"]]], fmt="s", color=color, mec="black", capsize=4,
                        label=f"{label}: test at chosen scale (95% CI of delta)")
        ax.axhline(methods[name]["test"]["baseline_accuracy"], color="gray", ls="--", lw=1, label="test, unsteered")
        ax.set_xlabel(units.get(name, "scale"), fontsize=8)
        ax.set_ylabel("execution accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{name}: delta {methods[name]['test']['delta']:+.3f}", fontsize=9)
        ax.legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def flips_plot(result: dict, path: Path) -> Path:
    """Per method: test answers fixed (wrong -> right) and broken (right -> wrong), on the steering
    split and, when it was measured, the in-distribution split."""
    methods = {}
    for name, m in result["methods"].items():  # each method, its random-SAE twin right after it
        methods[name] = m
        if m.get("twin"):
            methods[twin_label(name)] = m["twin"]
    sides = [("test", result.get("data_split") or "test")]
    if result.get("in_distribution_split"):
        sides.append(("in_distribution", result["in_distribution_split"]))
    fig, axes = plt.subplots(1, len(sides), figsize=(1.2 + 0.9 * len(methods) * len(sides), 3.8), squeeze=False)
    x = np.arange(len(methods))
    for ax, (key, title) in zip(axes[0], sides, strict=True):
        fixed = [m[key]["fixed"] for m in methods.values()]
        broken = [m[key]["broken"] for m in methods.values()]
        ax.bar(x - 0.2, fixed, 0.4, color="#27ae60", label="fixed")
        ax.bar(x + 0.2, broken, 0.4, color="#c0392b", label="broken")
        ax.set_xticks(x, list(methods), rotation=45, ha="right", fontsize=7)
        ax.set_ylabel("test answers")
        ax.set_title(f"{title} (n {next(iter(methods.values()))[key]['n']})", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def transfer_plot(result: dict, path: Path) -> Path | None:
    """The chosen coordinate's effect and its controls' where it was chosen and on each transfer data set."""
    targets = {k: v for k, v in result.get("transfer", {}).items() if "skipped" not in v}
    if not targets:
        return None
    groups = [(f"source: {result['source_data']}", {"chosen": result["chosen_test"], **result["controls"]})]
    groups += [(f"{name}: {t['data']}", t) for name, t in targets.items()]
    fig, ax = plt.subplots(figsize=(3 + 2.5 * len(groups), 3.6))
    styles = [("chosen", "#c0392b", f"coordinate {result['chosen']}"), ("random_coordinate", "#7f8c8d", "random coord"),
              ("random_direction", "#34495e", "random dir")]
    for g, (_label, rows) in enumerate(groups):
        for s, (key, colour, name) in enumerate(styles):
            r = rows[key]
            err = [[r["delta"] - r["ci_low"]], [r["ci_high"] - r["delta"]]]
            ax.errorbar([g + (s - 1) * 0.22], [r["delta"]], yerr=err, fmt="o", color=colour, capsize=4,
                        label=name if g == 0 else None)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(groups)), [label for label, _ in groups], fontsize=8)
    ax.set_ylabel("Δ execution accuracy (95% CI)")
    ax.set_title("transfer: is the feature causal beyond the data it was chosen on?")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def seeds_plot(findings: dict, path: Path) -> Path | None:
    """Each SAE finding's figure on every seed (seeds.json's `findings`), a dot per seed: filled where
    its criterion holds there, open where it fails. Findings on one scale (0 to 1 and Δ accuracy)."""
    rows = [(key, f) for key, f in findings.items() if any(s["figure"] is not None for s in f["per_seed"])]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(rows) + 1.2))
    for y, (_key, f) in enumerate(rows):
        for s in f["per_seed"]:
            if s["figure"] is not None:
                ax.plot(s["figure"], y, "o", ms=7, color="#3b6ea5",
                        markerfacecolor="#3b6ea5" if s["holds"] else "white")
    ax.set_yticks(range(len(rows)), [f"{key} ({f['held']} of {f['seeds']})" for key, f in rows], fontsize=7)
    ax.invert_yaxis()
    ax.axvline(0, color="black", lw=0.6)
    ax.set_xlabel("figure on each SAE seed (filled: its criterion holds on that seed)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
