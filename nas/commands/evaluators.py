"""``nas evaluators``: how a child can be judged, with each evaluator's options."""

from __future__ import annotations

import argparse
from typing import Any

from nas.commands._plugins import config_options, show_plugins


def add_parser(sub: Any) -> None:
    p = sub.add_parser("evaluators", help="list the evaluators (how children are judged)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx, ray, torch: loaded here, where used, for start-up time
    from nas.evaluators.base import EVALUATORS

    rows = [{"name": name, "summary": EVALUATORS.get(name).summary,
             "options": config_options(EVALUATORS.get(name).Config)}
            for name in EVALUATORS.names()]
    return show_plugins(rows, "evaluator", "nas search --evaluator NAME --evaluator-option K=V",
                        args.json)
