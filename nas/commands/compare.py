"""``nas compare``: retrain a run's best architectures and baselines alike; see :mod:`nas.compare`.

    nas compare nasnet-rl-20250101-120000 --baselines resnet20,resnet56 --epochs 30 --seeds 3
    nas compare runs/my-run --top 5 --space-option cells=6 --space-option width=32 --gpus 8
    nas compare my-run --budget macs=2e13 --seeds 2   # the same training compute for all
    nas compare my-run other-run --top 1              # the best of two searches of the same data
    nas compare darts-run --baselines darts_v2 --baseline-option channels=16   # at its size

Writes ``<run>/compare/`` (the table as Markdown and JSON, the plots, one JSON file and one
checkpoint per finished retraining) and prints the table. Run it again after an interruption,
or to add seeds: finished retrainings are read back, not trained again.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from nas.commands._common import (
    console,
    examples,
    load_genome_or_baseline,
    parse_options,
    print_json,
)
from nas.core.errors import NasError
from nas.results.runs import open_run

if TYPE_CHECKING:
    from nas.results.compare import CompareResult


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "compare", help="retrain a run's top architectures next to baselines, on several "
                        "seeds, and tabulate and plot them",
        description="Retrain the top K architectures of a run and the named baselines with "
        "the run's recipe and data, for the same budget, on several seeds, in parallel on "
        "Ray; write <run>/compare/ (table, plots, checkpoints).",
        epilog=examples(__doc__),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", help="the run (name or directory)")
    p.add_argument("others", nargs="*", metavar="OTHER_RUN",
                   help="more runs on the same data whose top architectures join the "
                        "comparison, retrained with the first run's recipe")
    p.add_argument("--baselines",
                   help="comma-separated baseline names or genome .json files (default: "
                        "CIFAR ResNet-20 and -56 on images up to 64x64, ResNet-18 and -34 on "
                        "larger ones; '' for none)")
    p.add_argument("--top", type=int, default=3, help="found architectures to retrain (3)")
    p.add_argument("--epochs", type=float,
                   help="training epochs for every network (default: the search's per child)")
    p.add_argument("--budget", metavar="KIND=VALUE",
                   help="equal budget for every network: epochs=E (the same epochs, as "
                        "--epochs), seconds=S (the same training time) or macs=M (the same "
                        "training compute: multiply-adds x images seen, e.g. macs=2e13)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per network (3)")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE",
                   help="a space option for the found architectures on top of the run's, "
                        "e.g. cells=6 for a bigger final network (repeatable)")
    p.add_argument("--baseline-option", action="append", metavar="KEY=VALUE",
                   help="a space option for the baselines of the run's own space, e.g. "
                        "channels=16 and cells=8 to build DARTS V2 at the size of a reduced "
                        "darts search (repeatable; other baselines are left as they are)")
    p.add_argument("--gpus", type=float, help="GPUs to use; default every GPU Ray sees")
    p.add_argument("--address", help="an existing Ray cluster: auto or HOST:PORT")
    p.add_argument("--runs-dir", default="runs", help="where runs live; default ./runs")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    # imports networkx: loaded here, where used, for start-up time
    from nas.results.compare import CompareConfig, run_compare

    config = CompareConfig(top=args.top, seeds=args.seeds, epochs=args.epochs,
                           budget=args.budget,
                           space_options=parse_options(args.space_option), gpus=args.gpus,
                           address=args.address)
    config.check()
    baselines = None  # the run's input decides (nas.results.compare.default_baselines)
    if args.baselines is not None:
        names = [n.strip() for n in args.baselines.split(",") if n.strip()]
        # a registered name or a genome file (labelled by its file name); unknown: one line
        baselines = [(b.name, b) for b in (load_genome_or_baseline(n)[1] for n in names)]
    run_dir = open_run(args.run, args.runs_dir)
    if args.baseline_option:
        from nas.search.store import run_config  # optuna: loaded only here

        baselines = sized_baselines(baselines, run_config(run_dir).space,
                                    parse_options(args.baseline_option))
    others = [open_run(o, args.runs_dir) for o in args.others]
    with _Bar(enabled=not args.json) as bar:
        result = run_compare(run_dir, baselines, config, on_plan=bar.plan, on_done=bar.done,
                             others=others)
    if args.json:
        print_json({"directory": str(result.directory), "settings": result.settings,
                    "trained": result.trained, "reused": result.reused, "lost": result.lost,
                    "rows": [r.to_dict() for r in result.rows],
                    "files": {k: str(v) for k, v in result.files.items()}})
    else:
        show(result)
    return 1 if result.lost else 0


def sized_baselines(baselines: list[tuple[str, Any]] | None, space: str,
                    options: dict[str, Any]) -> list[tuple[str, Any]]:
    """The baselines with ``options`` on top of their own space options where they are of
    the run's ``space`` (the published cells of a cell space, built at the found cells' size);
    a NasError when none is."""
    chosen = baselines or []
    if not any(b.genome.space == space for _, b in chosen):
        raise NasError(f"--baseline-option: no baseline of the run's space ({space}); name one "
                       f"with --baselines (`nas baselines` lists them)")
    return [(label, b.with_options(options) if b.genome.space == space else b)
            for label, b in chosen]


class _Bar:
    """A rich progress bar over the retrainings (on stderr), fed by run_compare's hooks; on a
    pipe or in a log file, where a bar is not redrawn, one line per finished retraining."""

    def __init__(self, enabled: bool) -> None:
        # loaded here, where used, for start-up time
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(stderr=True)
        self.lines = enabled and not self.console.is_terminal
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(),
                                 TextColumn("{task.fields[last]}"), console=self.console,
                                 disable=not enabled or self.lines)
        self.task = self.progress.add_task("loading", total=None, last="")
        self.todo = self.finished = 0

    def __enter__(self) -> _Bar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def plan(self, todo: int, reused: int) -> None:
        reuse = f" ({reused} finished earlier, reused)" if reused else ""
        self.progress.update(self.task, total=todo, description=f"retraining{reuse}")
        self.todo = todo
        if self.lines:
            self.console.print(f"retraining {todo} (network, seed) pair(s){reuse}",
                               markup=False, highlight=False)

    def done(self, job: Any, record: dict[str, Any]) -> None:
        result = record.get("result")
        if result is None:
            last = f"{job.contender.label} seed {job.seed}: {record.get('error')}"
        elif result.get("test_top1") is not None:
            last = f"{job.contender.label} seed {job.seed}: test {result['test_top1']:.2f}%"
        else:
            last = f"{job.contender.label} seed {job.seed}: {result['status']}"
        self.progress.update(self.task, advance=1, last=last)
        self.finished += 1
        if self.lines:
            self.console.print(f"[{self.finished}/{self.todo}] {last}",
                               markup=False, highlight=False)


def show(result: CompareResult) -> None:
    # imports networkx: loaded here, where used, for start-up time
    from nas.results.compare import COLUMNS, settings_budget, table_cells

    s = result.settings
    out = console()
    table = Table(title=f"{s['run']}: {settings_budget(s)}, seeds "
                        f"{', '.join(map(str, s['seeds']))}, {s['data']['summary']}")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("network", "kind") else "right")
    for row in result.rows:
        table.add_row(*table_cells(row), style="red" if row.baseline else None)
    out.print(table)
    for row in result.rows:
        for failure in row.failures:
            out.print(f"[red]{row.label} {failure}[/red]")
    out.print(f"trained {result.trained}, reused {result.reused}; wrote "
              f"{result.files['markdown']}" + (f" and {len(result.files) - 2} plot(s) in "
                                              f"{result.directory}"))
    for lost in result.lost:
        out.print(f"[red]not finished: {lost}[/red]")
    if result.lost:
        out.print("run the same command again to train what is missing")
