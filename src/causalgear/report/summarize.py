"""`causalgear summarize RUN [--markdown] [--out FILE]`: what a pipeline run found, from its JSON.

On a terminal: the findings sentences and compact tables. `--markdown`: the page docs/results.md
is written from (`causalgear summarize RUN --markdown --out docs/results.md`), so that the figures
the README quotes come from one run and are never typed by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from causalgear.io import write_text
from causalgear.report.findings import findings
from causalgear.report.tables import markdown, print_findings, print_table, tables


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="causalgear summarize", description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a pipeline run dir (holding pipeline.json or a stage's subdirs)")
    parser.add_argument("--markdown", action="store_true", help="print Markdown (docs/results.md's form)")
    parser.add_argument("--out", type=Path, help="write to this file instead of printing")
    args = parser.parse_args(argv)
    if not args.run.is_dir():
        parser.error(f"run {str(args.run)!r} is not a directory: give a pipeline run dir "
                     "(outputs/pipeline/DATE/TIME)")
    found = findings(args.run)
    if not found:
        parser.error(f"run {str(args.run)!r} holds none of model/, train/, features/, evaluate/, steer/: "
                     "give a pipeline run dir")
    if args.markdown:
        text = markdown(args.run) + "\n"
        if args.out:
            write_text(args.out, text)
        else:
            print(text, end="")
        return 0
    print_findings(found)
    for t in tables(args.run):
        print()
        print_table(t)
    return 0
