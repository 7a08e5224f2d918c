"""attributions.html: prompt tokens coloured by their integrated-gradient attribution to the
steered feature, with the SQL generated before and after steering and whether each was right."""

from __future__ import annotations

from pathlib import Path

from causalgear.io import write_text
from causalgear.report.html_parts import Markup, join
from causalgear.report.tables import number

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
.ex{border:1px solid #ddd;border-radius:6px;padding:.8em 1em;margin:1em 0}
.tokens{font-family:ui-monospace,monospace;font-size:13px;line-height:1.9;white-space:pre-wrap}
.tok{border-radius:3px;padding:1px 0}
.resp{outline:1px dashed #999}
.sql{font-family:ui-monospace,monospace;font-size:13px;margin:.2em 0}
.ok{color:#1e8449;font-weight:bold}.bad{color:#c0392b;font-weight:bold}
.meta{color:#555;font-size:13px}
.legend span{padding:2px 6px;border-radius:3px;margin-right:6px}
"""


def _colour(value: float, scale: float) -> str:
    """Red raises the feature, blue lowers it; opacity grows with |value|."""
    a = min(abs(value) / scale, 1.0) if scale > 0 else 0.0
    return f"rgba(192,57,43,{a:.3f})" if value >= 0 else f"rgba(41,128,185,{a:.3f})"


def _mark(ok: bool) -> Markup:
    return Markup('<span class="ok">right</span>' if ok else '<span class="bad">wrong</span>')


def attributions_page(path: Path, result: dict, examples, attributed, tokenizer,
                      generations: dict[str, tuple[list[str], list]]) -> Path:
    """One block per example: coloured tokens (response tokens outlined), F(x), F(x'), completeness,
    and the SQL of each entry of `generations` (label -> (predictions, correct)), right or wrong.
    Every value is formatted into a `Markup` template, which escapes it (report/html_parts.py)."""
    m = result["methods"]
    parts = [
        Markup("<!doctype html><html><head><meta charset='utf-8'><title>causalgear attributions</title>"
               "<style>{}</style></head><body>").format(Markup(_STYLE)),
        Markup("<h1>Integrated-gradient attributions to SAE feature {}</h1>").format(result["feature"]),
        Markup("<p class='meta'>layer {} ({}), F = pre-activation summed over the <b>{}</b> positions; baseline "
               "<b>{}</b> embedding, {} steps ({}). GrAInS scale {:g}, additive alpha {:g} (both chosen on the "
               "selection split). Mean completeness error on the test split: {}.</p>").format(
            result["layer"], result["site"], result["readout"], result["baseline_embedding"], result["n_steps"],
            result["ig_method"], m["grains"]["scale"], m["additive"]["scale"],
            number(m["grains"]["mean_completeness_error"], "{:.2%}")),
        Markup("<p class='legend'><span style='background:rgba(192,57,43,.8)'>raises F</span>"
               "<span style='background:rgba(41,128,185,.8)'>lowers F</span>"
               "<span class='resp'>response token (the unsteered SQL)</span> Tokens perturbed by GrAInS are "
               "underlined.</p>"),
    ]
    for i, (e, a) in enumerate(zip(examples, attributed, strict=True)):
        values = a.attributions.tolist()
        scale = max((abs(v) for v in values), default=0.0)
        perturbed = set(a.tokens.tolist())
        spans = []
        for pos, (tid, v) in enumerate(zip(a.prompt_ids + a.response_ids, values, strict=True)):
            style = f"background:{_colour(v, scale)}" + (";text-decoration:underline" if pos in perturbed else "")
            spans.append(Markup("<span class='{}' style='{}' title='{:+.4f}'>{}</span>").format(
                "tok resp" if pos >= len(a.prompt_ids) else "tok", style, v, tokenizer.decode([tid])))
        sqls = join(Markup("<div class='sql'>{}: {} — {}</div>").format(label, preds[i], _mark(bool(ok[i])))
                    for label, (preds, ok) in generations.items())
        parts.append(Markup(
            "<div class='ex'><div class='meta'>{} · {} · F(x) = {:.3f}, F(x') = {:.3f}, completeness error {}</div>"
            "<div class='tokens'>{}</div><div class='sql'>gold: {}</div>{}</div>").format(
            e.id, e.group, a.f_input, a.f_baseline, number(a.completeness_error, "{:.2%}"), join(spans), e.sql,
            sqls))
    parts.append(Markup("</body></html>"))
    write_text(path, str(join(parts, "\n")))
    return path
