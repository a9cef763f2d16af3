"""``nas runs``: the runs in a runs directory, one line each."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json
from nas.core.fmt import duration
from nas.search.store import list_runs


def add_parser(sub: Any) -> None:
    p = sub.add_parser("runs", help="list the search runs (name, space, trials, best, state)")
    p.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    runs = list_runs(args.runs_dir)
    if args.json:
        print_json(runs)
        return 0
    out = console()
    if not runs:
        out.print(f"no runs in {args.runs_dir}; start one with `nas search`")
        return 0
    table = Table(title=f"runs in {args.runs_dir}")
    for col in ("run", "space", "controller", "dataset", "trials", "failed", "best", "state",
                "time"):
        table.add_column(col, justify="right" if col in ("trials", "failed", "best", "time")
                         else "left")
    for r in runs:
        if r["state"] == "damaged":  # one row; why, under the table
            table.add_row(r["name"], "-", "-", "-", "-", "-", "-", "[red]damaged[/]", "-")
            continue
        budget = f"/{r['trials']}" if r["trials"] is not None else ""
        best = "-" if r["best_accuracy"] is None else f"{r['best_accuracy']:.2f}%"
        state = {"running": "[green]running[/]", "interrupted": "[yellow]interrupted[/]",
                 "finished": "finished"}.get(r["state"], r["state"])
        table.add_row(r["name"], r["space"], r["controller"], r["dataset"],
                      f"{r['done']}{budget}", str(r["failed"]), best, state,
                      duration(r["elapsed"]))
    out.print(table)
    for r in runs:
        if r["state"] == "damaged":
            out.print(f"[red]damaged[/] {r['name']}: {r['reason']}", markup=True,
                      highlight=False, soft_wrap=True)
    return 0
