"""features.html: a sortable index of every latent and a card per live latent (its concept match,
activation histogram, top activating contexts with the tokens shaded by activation, logit lens
and causal effect), offline, in the spirit of sae-vis and Neuronpedia. Every fragment is a
`Markup` template whose values are escaped as they are formatted in (report/html_parts.py): a
string from a JSON file can never write a tag."""

from __future__ import annotations

from pathlib import Path

from causalgear.io import write_text
from causalgear.report.html_parts import Markup, join
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


def _histogram_svg(h: dict, width: int = 220, height: int = 50) -> Markup:
    if not h["counts"]:
        return Markup("<span class='muted'>never fires</span>")
    top = max(h["counts"]) or 1
    w = width / len(h["counts"])
    bars = join(Markup("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='#4a7'/>").format(
        i * w, height - height * c / top, w - 1, height * c / top) for i, c in enumerate(h["counts"]))
    return Markup("<svg width='{}' height='{}' role='img' aria-label='activation histogram'>{}</svg>"
                  " <span class='muted'>{:.2f} … {:.2f}; zero on {} rows</span>").format(
        width, height, bars, h["edges"][0], h["edges"][-1], h["zero"])


def _context(c: dict) -> Markup:
    top = max(c["activations"]) or 1.0
    spans = [Markup("<span{} style='background:rgba(220,80,30,{:.2f})' title='{:.3f}'>{}</span>").format(
        Markup(" class='at'") if i == c["at"] else "", max(0.0, a) / top, a, tok)
        for i, (tok, a) in enumerate(zip(c["tokens"], c["activations"], strict=True))]
    return Markup("<div class='ctx'>{}</div>").format(join(spans))


def latent_card_html(row: dict, view: dict) -> Markup:
    """One latent's card: concept match, histogram, logit lens, causal effect, top contexts."""
    causal = view.get("causal")
    effect = (Markup("{}: Δ accuracy {:+.3f} [{:+.3f}, {:+.3f}]").format(
        causal["mode"], causal["delta"], causal["ci_low"], causal["ci_high"]) if causal else "not measured")
    lens = join((Markup("{!r} ({:.1f})").format(t["token"], t["logit"]) for t in view["logit_lens"]), ", ") or "n/a"
    return Markup(
        "<div class='card' id='latent-{j}'><h3>latent {j}</h3>"
        "<p>best concept <b>{concept}</b>: precision {precision:.3f}, recall {recall:.3f}, F1 {f1:.3f} at threshold "
        "{threshold} × max; high-precision detector for: {detectors}</p>"
        "<p>fires on {rate:.1%} of held-out tokens {histogram}</p>"
        "<p>logit lens (tokens its decoder direction promotes): {lens}</p><p>causal effect: {effect}</p>"
        "<p>top activating contexts:</p>{contexts}</div>").format(
        j=row["latent"], concept=str(row["best_concept"]), precision=row["precision"], recall=row["recall"],
        f1=row["f1"], threshold=row["threshold"], detectors=", ".join(row["high_precision_for"]) or "no concept",
        rate=row["firing_rate"], histogram=_histogram_svg(view["histogram"]), lens=lens, effect=effect,
        contexts=join(_context(c) for c in view["contexts"]))


def latents_table_html(result: dict) -> Markup:
    index = join(Markup(
        "<tr><td><a href='#latent-{0}'>{0}</a></td><td>{1:.4f}</td><td class='l'>{2}</td><td>{3:.3f}</td>"
        "<td>{4:.3f}</td><td>{5:.3f}</td><td>{6}</td></tr>").format(
        r["latent"], r["firing_rate"], str(r["best_concept"]), r["f1"], r["precision"], r["recall"],
        len(r["high_precision_for"])) for r in result["latents"])
    return Markup("<table><tr><th>latent</th><th>firing rate</th><th>best concept</th><th>F1</th>"
                  "<th>precision</th><th>recall</th><th>high-precision concepts</th></tr>{}</table>").format(index)


def concepts_table_html(result: dict) -> Markup:
    floor = result["random_model_floor"]["per_concept_f1"]
    concepts = join(Markup(
        "<tr><td class='l'>{}</td><td>{}</td><td><a href='#latent-{latent}'>{latent}</a></td><td>{:.3f}</td>"
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
        name, c["positives"], c["f1"], number(c["auroc"]), number(c["references"]["linear_probe"]["f1"]),
        number(c["references"]["diffmean"]["f1"]), number(c["references"]["k_sparse_1"]["f1"]),
        number(c["references"]["k_sparse_5"]["f1"]), number(floor.get(name)), latent=c["latent"])
        for name, c in result["per_concept"].items())
    return Markup("<table><tr><th>concept</th><th>held-out positives</th><th>best latent</th><th>F1</th>"
                  "<th>AUROC</th><th>linear probe F1</th><th>DiffMean F1</th><th>1-sparse F1</th><th>5-sparse F1</th>"
                  "<th>floor F1</th></tr>{}</table>").format(concepts)


def summary_html(result: dict) -> Markup:
    summary = Markup(
        "<p>coverage (mean over {} concepts of the best latent's F1 on held-out rows) <b>{:.3f}</b>; linear probe on "
        "the residual (ceiling) {}; DiffMean {}; the same SAE recipe on a randomly initialised model (floor) {:.3f}. "
        "Dead latents {:.1%}, dense (firing on over 10% of tokens) {:.1%}.</p>").format(
        len(result["per_concept"]), result["coverage"], number(result["linear_probe_coverage"]),
        number(result["diffmean_coverage"]), result["random_model_floor"]["coverage"], result["dead_fraction"],
        result["dense_fraction"])
    if "sequence_concepts" in result:
        seq = result["sequence_concepts"]
        best = join((Markup("{} {:.2f} (latent {})").format(c, v["f1"], v["latent"])
                     for c, v in seq["per_concept"].items()), ", ")
        summary += Markup("<p>Sequence-level concepts (what the whole example asks for, carried by each of its "
                          "tokens; not in the coverage above): mean best F1 {:.3f}: {}.</p>").format(seq["coverage"],
                                                                                                   best)
    return summary


def write_features_page(path: Path, result: dict, views: dict[int, dict]) -> Path:
    cards = join(latent_card_html(r, views[r["latent"]]) for r in result["latents"] if r["firing_rate"] > 0)
    page = Markup(
        "<!doctype html><html><head><meta charset='utf-8'><title>features</title><style>{css}</style></head>"
        "<body><h1>SAE features against TinySQL's concepts</h1>{summary}<h2>Concepts</h2>{concepts}"
        "<h2>Latents</h2>{latents}{cards}<script>{js}</script></body></html>").format(
        css=Markup(CSS), summary=summary_html(result), concepts=concepts_table_html(result),
        latents=latents_table_html(result), cards=cards, js=Markup(SORT_JS))
    write_text(path, str(page))
    return path
