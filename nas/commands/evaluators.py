"""``nas evaluators``: how a child can be judged, with each evaluator's options."""

from __future__ import annotations

import argparse
from typing import Any

from rich.table import Table

from nas.commands._common import console, print_json
from nas.commands._plugins import config_options, options_text


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluators", help="list the evaluators (how children are judged)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    # imports networkx, ray, torch: loaded here, where used, for start-up time
    from nas.evaluators.base import EVALUATORS

    rows: list[dict[str, Any]] = []
    for name in EVALUATORS.names():
        cls = EVALUATORS.get(name)
        rows.append({"name": name, "summary": cls.summary,
                     "options": config_options(cls.Config)})
    if args.json:
        print_json(rows)
        return 0
    table = Table(title="evaluators (nas search --evaluator NAME --evaluator-option K=V)",
                  show_lines=True)
    for col in ("evaluator", "what it does", "options: name=default (type): help"):
        table.add_column(col)
    for row in rows:
        table.add_row(row["name"], row["summary"], options_text(row["options"]))
    console().print(table)
    return 0
