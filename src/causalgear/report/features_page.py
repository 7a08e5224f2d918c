"""features.html: a sortable index of every latent and a card per live latent (its concept match,
activation histogram, top activating contexts with the tokens shaded by activation, logit lens
and causal effect), offline, in the spirit of sae-vis and Neuronpedia."""

from __future__ import annotations

import html
from pathlib import Path

from causalgear.io import write_text
from causalgear.report.tables import number

CSS = """body{font-family:system-ui,sans-serif;margin:1.5em;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#eef;cursor:pointer}td.l{text-align:left}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em;
margin:1em 0}.ctx{font-family:monospace;font-size:12px;margin:.2em 0;white-space:pre-wrap}.ctx span{border-radius:2px}
.ctx .at{outline:2px solid #c00}.muted{color:#777}svg{vertical-align:middle}"""

SORT_JS = """document.querySelectorAll('th').forEach((th,i)=>th.onclick=()=>{const t=th.closest('table'),
rows=[...t.querySelectorAll('tr')].slice(1),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
const v=(r)=>r.children[i].dataset.v??r.children[i].textContent;
rows.sort((a,b)=>{const x=v(a),y=v(b);
const nx=parseFloat(x),ny=parseFloat(y);return (isNaN(nx)||isNaN(ny)?x.localeCompare(y):nx-ny)*(asc?1:-1)});
rows.forEach(r=>t.appendChild(r))});"""


def _histogram_svg(h: dict, width: int = 220, height: int = 50) -> str:
    if not h["counts"]:
        return "<span class='muted'>never fires</span>"
    top = max(h["counts"]) or 1
    w = width / len(h["counts"])
    bars = "".join(f"<rect x='{i * w:.1f}' y='{height - height * c / top:.1f}' width='{w - 1:.1f}' "
                   f"height='{height * c / top:.1f}' fill='#4a7'/>" for i, c in enumerate(h["counts"]))
    return (f"<svg width='{width}' height='{height}' role='img' aria-label='activation histogram'>{bars}</svg>"
            f" <span class='muted'>{h['edges'][0]:.2f} … {h['edges'][-1]:.2f}; zero on {h['zero']} rows</span>")


def _context(c: dict) -> str:
    top = max(c["activations"]) or 1.0
    spans = []
    for i, (tok, a) in enumerate(zip(c["tokens"], c["activations"], strict=True)):
        alpha = max(0.0, a) / top
        cls = " class='at'" if i == c["at"] else ""
        spans.append(f"<span{cls} style='background:rgba(220,80,30,{alpha:.2f})' title='{a:.3f}'>"
                     f"{html.escape(tok)}</span>")
    return f"<div class='ctx'>{''.join(spans)}</div>"


def latent_card_html(row: dict, view: dict) -> str:
    """One latent's card: concept match, histogram, logit lens, causal effect, top contexts."""
    j = row["latent"]
    causal = view.get("causal")
    effect = (f"{causal['mode']}: Δ accuracy {causal['delta']:+.3f} [{causal['ci_low']:+.3f}, {causal['ci_high']:+.3f}]"
              if causal else "not measured")
    lens = ", ".join(f"{html.escape(t['token'])!r} ({t['logit']:.1f})" for t in view["logit_lens"]) or "n/a"
    detectors = html.escape(", ".join(row["high_precision_for"]) or "none")
    return (f"<div class='card' id='latent-{j}'><h3>latent {j}</h3>"
            f"<p>best concept <b>{html.escape(str(row['best_concept']))}</b>: precision {row['precision']:.3f}, "
            f"recall {row['recall']:.3f}, F1 {row['f1']:.3f} at threshold {row['threshold']} × max; "
            f"high-precision detector for: {detectors}</p>"
            f"<p>fires on {row['firing_rate']:.1%} of held-out tokens {_histogram_svg(view['histogram'])}</p>"
            f"<p>logit lens (tokens its decoder direction promotes): {lens}</p><p>causal effect: {effect}</p>"
            f"<p>top activating contexts:</p>{''.join(_context(c) for c in view['contexts'])}</div>")


def latents_table_html(result: dict) -> str:
    rows = result["latents"]
    index = "".join(
        f"<tr><td><a href='#latent-{r['latent']}'>{r['latent']}</a></td><td>{r['firing_rate']:.4f}</td>"
        f"<td class='l'>{html.escape(str(r['best_concept']))}</td><td>{r['f1']:.3f}</td><td>{r['precision']:.3f}</td>"
        f"<td>{r['recall']:.3f}</td><td>{len(r['high_precision_for'])}</td></tr>"
        for r in rows)
    return (f"<table><tr><th>latent</th><th>firing rate</th><th>best concept</th><th>F1</th>"
            f"<th>precision</th><th>recall</th><th>high-precision concepts</th></tr>{index}</table>")


def concepts_table_html(result: dict) -> str:
    concepts = "".join(
        f"<tr><td class='l'>{html.escape(name)}</td><td>{c['positives']}</td>"
        f"<td><a href='#latent-{c['latent']}'>{c['latent']}</a></td>"
        f"<td>{c['f1']:.3f}</td><td>{number(c['auroc'])}</td><td>{number(c['references']['linear_probe']['f1'])}</td>"
        f"<td>{number(c['references']['diffmean']['f1'])}</td><td>{number(c['references']['k_sparse_1']['f1'])}</td>"
        f"<td>{number(c['references']['k_sparse_5']['f1'])}</td>"
        f"<td>{number(result['random_model_floor']['per_concept_f1'].get(name))}</td></tr>"
        for name, c in result["per_concept"].items())
    return (f"<table><tr><th>concept</th><th>held-out positives</th><th>best latent</th><th>F1</th>"
            f"<th>AUROC</th><th>linear probe F1</th><th>DiffMean F1</th><th>1-sparse F1</th><th>5-sparse F1</th>"
            f"<th>floor F1</th></tr>{concepts}</table>")


def summary_html(result: dict) -> str:
    floor = result["random_model_floor"]
    summary = (f"<p>coverage (mean over {len(result['per_concept'])} concepts of the best latent's F1 on "
               f"held-out rows) <b>{result['coverage']:.3f}</b>; linear probe on the residual (ceiling) "
               f"{number(result['linear_probe_coverage'])}; DiffMean {number(result['diffmean_coverage'])}; "
               f"the same SAE recipe on a randomly initialised model (floor) {floor['coverage']:.3f}. "
               f"Dead latents {result['dead_fraction']:.1%}, dense (firing on over 10% of tokens) "
               f"{result['dense_fraction']:.1%}.</p>")
    if "sequence_concepts" in result:
        seq = result["sequence_concepts"]
        best = ", ".join(f"{html.escape(c)} {v['f1']:.2f} (latent {v['latent']})"
                         for c, v in seq["per_concept"].items())
        summary += (f"<p>Sequence-level concepts (what the whole example asks for, carried by each of its "
                    f"tokens; not in the coverage above): mean best F1 {seq['coverage']:.3f}: {best}.</p>")
    return summary


def write_features_page(path: Path, result: dict, views: dict[int, dict]) -> Path:
    cards = "".join(latent_card_html(r, views[r["latent"]]) for r in result["latents"] if r["firing_rate"] > 0)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>features</title><style>{CSS}</style></head>"
            f"<body><h1>SAE features against TinySQL's concepts</h1>{summary_html(result)}"
            f"<h2>Concepts</h2>{concepts_table_html(result)}<h2>Latents</h2>{latents_table_html(result)}"
            f"{cards}<script>{SORT_JS}</script></body></html>")
    write_text(path, page)
    return path
