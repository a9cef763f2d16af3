"""``nas dashboard RUN``: open a run's study in optuna-dashboard (on this machine only).

    nas dashboard demo                     # http://127.0.0.1:8080/
    nas dashboard runs/demo --port 8081

Every trial is there: its genome as params, its learning curve (validation accuracy per epoch,
the intermediate values), its metrics and where it ran (user attributes), and its cell diagram
or layer table (an artifact); the run's config, evaluator and objective are the study's
attributes. optuna-dashboard is an optional extra: ``pip install 'nas[dashboard]'``. It binds
to 127.0.0.1 unless ``--host`` says otherwise (0.0.0.0 serves every network the machine is
on, with no authentication). Ctrl-C stops it.
"""

from __future__ import annotations

import argparse
from typing import Any

from nas.commands._common import examples
from nas.core.errors import NasError
from nas.results.runs import open_run
from nas.search.store import open_storage

INSTALL = "pip install 'nas[dashboard]'"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("dashboard", help="open a run in optuna-dashboard (trials, curves, "
                                         "cell diagrams)",
                       description="Serve the run's Optuna study and artifacts with "
                       "optuna-dashboard until Ctrl-C.", epilog=examples(__doc__),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the run (name or directory)")
    p.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    p.set_defaults(func=run)


def serve(run_ref: str, runs_dir: str, host: str, port: int) -> None:
    """Serve run ``run_ref`` until the server stops (blocks)."""
    try:
        import optuna_dashboard  # an optional extra
    except ImportError:
        raise NasError("nas dashboard needs optuna-dashboard, which is not installed: "
                       f"{INSTALL}") from None


    run = open_run(run_ref, runs_dir)
    storage = open_storage(run.storage_url)
    print(f"optuna-dashboard for run {run.name}: http://{host}:{port}/dashboard/  "
          "(Ctrl-C stops it)", flush=True)
    optuna_dashboard.run_server(storage, host=host, port=port,
                                artifact_store=run.artifact_store())


def run(args: argparse.Namespace) -> int:
    if not 0 < args.port < 65536:
        raise NasError(f"--port must be in 1..65535, got {args.port}")
    serve(args.run, args.runs_dir, args.host, args.port)
    return 0
