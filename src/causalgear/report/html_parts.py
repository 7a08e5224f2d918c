"""The HTML pieces every page of the project builds from: a table of rows, an embedded PNG.

Pages are built from `markupsafe.Markup` fragments: `Markup("<p>{}</p>").format(value)` escapes
every value it is given unless that value is Markup already, so the one escaping path is the
default and a string from a JSON file (a method name, a concept, a path) can never write a tag.
"""

from __future__ import annotations

import base64
import html

from markupsafe import Markup, escape

__all__ = ["Markup", "cell", "escape", "join", "png_img", "table"]


def join(parts, sep: str = "") -> Markup:
    """Fragments joined into one: plain strings among them are escaped, Markup is kept."""
    return Markup(sep).join(p for p in parts if p)


def cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape("" if v is None else str(v))


def table(rows: list[dict], columns: list[str]) -> Markup:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    # a wide table scrolls inside its own box: the page itself stays as wide as the window
    return Markup(f"<div class='scroll' style='overflow-x:auto;max-width:100%'><table><thead><tr>{head}</tr>"
                  f"</thead><tbody>{body}</tbody></table></div>")


def png_img(data: bytes, alt: str) -> Markup:
    """An <img> holding the PNG itself, so the page is one file."""
    return Markup("<img src='data:image/png;base64,{}' alt='{}'>").format(base64.b64encode(data).decode(), alt)
