"""The HTML pieces every page of the project builds from: a table of rows, an embedded PNG."""

from __future__ import annotations

import base64
import html


def cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return html.escape("" if v is None else str(v))


def table(rows: list[dict], columns: list[str]) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def png_img(data: bytes, alt: str) -> str:
    """An <img> holding the PNG itself, so the page is one file."""
    return f"<img src='data:image/png;base64,{base64.b64encode(data).decode()}' alt='{html.escape(alt)}'>"
