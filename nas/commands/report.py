"""``nas report RUN``: the run as an HTML page and Markdown, with PNG plots; see :mod:`nas.report`.

    nas report nasnet-rl-20250101-120000            # -> runs/nasnet-rl-.../report/index.html
    nas report runs/my-run --top 10 --format md --out docs/my-run
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from nas.commands._common import console, examples, print_json
from nas.core.safe import check_dir
from nas.results.runs import open_run


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "report", help="write an HTML / Markdown report of a run with plots",
        description="Best so far over children and time, accuracy vs cost of every child "
        "with the Pareto front, the rl controller's entropy, and the best architectures "
        "drawn (cells) or tabulated (layers); with the nas compare results when there are "
        "some.",
        epilog=examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the run (name or directory)")
    p.add_argument("--top", type=int, default=5, help="best architectures to show (5)")
    p.add_argument("--format", default="html,md", help="html, md or both (default)")
    p.add_argument("--out", type=Path, help="output directory (default <run>/report)")
    p.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    p.add_argument("--json", action="store_true", help="print the written files as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx: loaded here, where used, for start-up time
    from nas.results.report import build_report

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    run_dir = open_run(args.run, args.runs_dir)
    if args.out is not None:
        check_dir(args.out, "--out")
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True, disable=args.json)
    with bar:
        task = bar.add_task("report", total=None)
        result = build_report(run_dir, args.out, top=args.top, formats=formats,
                              step=lambda what: bar.update(task, description=what))
    if args.json:
        print_json({"directory": str(result.directory),
                    "files": {k: str(v) for k, v in result.files.items()},
                    "images": [str(p) for p in result.images]})
        return 0
    out = console()
    for kind, path in result.files.items():
        out.print(f"{kind}: {path}")
    out.print(f"{len(result.images)} image(s) in {result.directory}")
    return 0
