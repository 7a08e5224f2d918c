"""`causalgear summarize RUN [--markdown] [--out FILE]`: what a pipeline run found, from its JSON.

On a terminal: the scoreboard, the findings sentences and compact tables. `--markdown`: the page docs/results.md
is written from (`causalgear summarize RUN --markdown --out docs/results.md`), so that the figures
the README quotes come from one run and are never typed by hand.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from causalgear.errors import CausalgearError
from causalgear.io import write_problem, write_text
from causalgear.report.findings import findings
from causalgear.report.reading import REMEDY
from causalgear.report.scoreboard import scoreboard
from causalgear.report.tables import markdown, print_findings, print_table, scoreboard_table, tables


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="causalgear summarize", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pipeline run dir (holding pipeline.json or a stage's subdirs)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown (docs/results.md's form)")
    parser.add_argument("--out", type=Path, help="write to this file instead of printing (plain text, or the "
                        "Markdown with --markdown)")
    args = parser.parse_args(argv)
    if not args.run.is_dir():
        parser.error(f"run {str(args.run)!r} is not a directory: give a pipeline run dir "
                     "(outputs/pipeline/DATE/TIME)")
    if args.out is not None and (why := write_problem(args.out)) is not None:
        print(f"causalgear summarize: --out {args.out}: {why}", file=sys.stderr)
        return 2
    try:
        found = findings(args.run)
        if unreadable := [f for f in found if f.verdict == "unreadable"]:  # the report page says it; here, refused
            raise CausalgearError(f"{unreadable[0].problem}; {REMEDY}")
        if not found:
            parser.error(f"run {str(args.run)!r} holds none of model/, train/, features/, evaluate/, steer/: "
                         "give a pipeline run dir")
        text = markdown(args.run) + "\n" if args.markdown else plain(args.run, found, tables(args.run),
                                                                          args.out is None and sys.stdout.isatty())
    except CausalgearError as err:
        print(f"causalgear summarize: {err}", file=sys.stderr)
        return 2
    if args.out is None:
        print(text, end="")
        return 0
    try:
        write_text(args.out, text)
    except OSError as err:  # writable when checked, not now (a full disk, a directory gone)
        print(f"causalgear summarize: --out {args.out}: {err.strerror or err}", file=sys.stderr)
        return 2
    print(f"outputs: {args.out}")
    return 0


def plain(run_dir: Path, found, tables_found, terminal: bool) -> str:
    """The findings and tables as text: rich's tables for a terminal, plain columns for a file or a pipe."""
    buf = io.StringIO()
    buf.isatty = lambda: terminal  # print_table asks its file
    print_table(scoreboard_table(scoreboard(run_dir)), file=buf)
    print(file=buf)
    print_findings(found, file=buf)
    for t in tables_found:
        print(file=buf)
        print_table(t, file=buf)
    return buf.getvalue()
