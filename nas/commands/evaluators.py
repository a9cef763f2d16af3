"""``nas evaluators``: how a child can be judged, with each evaluator's options."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from nas.commands._common import console, print_json


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluators", help="list the evaluators (how children are judged)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from nas.evaluators.base import EVALUATORS

    rows: list[dict[str, Any]] = []
    for name in EVALUATORS.names():
        cls = EVALUATORS.get(name)
        options = {f.name: (None if f.default is dataclasses.MISSING else f.default)
                   for f in dataclasses.fields(cls.Config)}
        rows.append({"name": name, "summary": cls.summary, "options": options})
    if args.json:
        print_json(rows)
        return 0
    table = Table(title="evaluators (nas search --evaluator NAME --evaluator-option K=V)")
    for col in ("evaluator", "what it does", "options (defaults)"):
        table.add_column(col)
    for row in rows:
        opts = ", ".join(f"{k}={v}" for k, v in row["options"].items()) or "-"
        table.add_row(row["name"], row["summary"], opts)
    console().print(table)
    return 0
