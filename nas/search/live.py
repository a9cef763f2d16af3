"""What a running search shows: a rich live view on a terminal, plain lines elsewhere.

The driver keeps a :class:`Progress` (counts, the best child, the running children and where
they run) and hands it to a view after every event. :class:`LiveView` redraws a small panel
in place (``rich.live``) twice a second; :class:`LineView`, for pipes and CI logs, prints
one line per finished child and nothing else. ``make_view`` picks one from the console.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from nas.core.fmt import duration, human, percent


@dataclass
class Running:
    """A child being trained: which trial, which genome, on which worker."""

    trial: int
    genome_id: str
    dispatched: float  # time.time() when the driver handed it to the worker
    where: dict[str, Any]  # the worker's ready() answer: node, ip, pid, device, ...


@dataclass
class Finished:
    """A finished child as a view reports it."""

    trial: int
    genome_id: str
    status: str  # ok, pruned, diverged, oom, error
    accuracy: float | None  # validation top-1 (%), None when it failed
    seconds: float  # wall time on the worker
    where: dict[str, Any]
    message: str = ""
    params: float | None = None
    macs: float | None = None
    reward: float | None = None  # the run's objective value (= accuracy without a cost)
    measure: str = "accuracy"  # what the result is: the accuracy, or a proxy's score

    @property
    def shown(self) -> str:
        """The result as views print it: the accuracy ('93.57%'), or the measure that stands
        in for one ('meco 41.2')."""
        if self.measure == "accuracy":
            return percent(self.accuracy, sign=True)
        return "-" if self.reward is None else f"{self.measure} {self.reward:.4g}"


@dataclass
class Progress:
    """Everything a view shows about one search; the driver updates it in place."""

    run: str
    space: str
    controller: str
    dataset: str
    trials: int | None  # the budget in children, if any
    time_budget: float | None  # the budget in seconds, if any
    evaluator: str = "train"  # how children are judged
    workers: int = 0  # slots asked for
    workers_ready: int = 0
    done: int = 0  # finished children counted towards the budget (any status)
    failed: int = 0  # of which: diverged, oom, error
    pruned: int = 0  # of which: stopped early
    revisits: int = 0  # proposals answered from earlier results, no child trained
    running: dict[int, Running] = field(default_factory=dict)
    best: Finished | None = None
    elapsed_before: float = 0.0  # seconds of this run spent in earlier sessions
    session_start: float = field(default_factory=time.time)
    session_done: int = 0  # children finished in this session (for the throughput)
    recent: list[Finished] = field(default_factory=list)  # the last few, newest last
    note: str = ""  # what the driver is doing when nothing else says it (starting, stopping)

    @property
    def elapsed(self) -> float:
        """Seconds of search over the whole run (all sessions)."""
        return self.elapsed_before + (time.time() - self.session_start)

    @property
    def throughput(self) -> float | None:
        """Children per minute in this session."""
        seconds = time.time() - self.session_start
        return self.session_done / seconds * 60 if self.session_done and seconds > 0 else None

    @property
    def eta(self) -> float | None:
        """Seconds until the budget is spent (a time budget, or trials at this throughput)."""
        left: list[float] = []
        if self.time_budget is not None:
            left.append(max(0.0, self.time_budget - self.elapsed))
        rate = self.throughput
        if self.trials is not None and rate:
            left.append(max(0, self.trials - self.done) / rate * 60)
        return min(left) if left else None

    def record(self, finished: Finished, counted: bool = True) -> None:
        self.running.pop(finished.trial, None)
        if counted:
            self.done += 1
            self.session_done += 1
            self.failed += finished.status in ("diverged", "oom", "error")
            self.pruned += finished.status == "pruned"
        if finished.status == "ok" and finished.reward is not None and (
                self.best is None or self.best.reward is None
                or finished.reward > self.best.reward):
            self.best = finished
        self.recent = [*self.recent[-4:], finished]


class View(Protocol):
    """What the driver calls: ``start`` once, ``update`` at least twice a second,
    ``finished`` for each child once it is stored, ``stop`` once (also after an error)."""

    def start(self, progress: Progress) -> None: ...
    def update(self, progress: Progress) -> None: ...
    def finished(self, progress: Progress, child: Finished) -> None: ...
    def stop(self, progress: Progress) -> None: ...


def _outcome(child: Finished, width: int) -> str:
    """A finished child's accuracy, or why it failed."""
    ok = child.status in ("ok", "pruned")
    return child.shown if ok else child.message[:width]


def _place(where: dict[str, Any]) -> str:
    return f"{where.get('node', '?')} {where.get('device', '?')} pid {where.get('pid', '?')}"


def finished_line(progress: Progress, child: Finished) -> str:
    """One plain line for a finished child (the CI log's view of a search)."""
    budget = f"/{progress.trials}" if progress.trials is not None else ""
    best = progress.best.shown if progress.best else "-"
    what = _outcome(child, 80)
    return (f"[{progress.done}{budget}] trial {child.trial} {child.status:<8} {what}  "
            f"params {human(child.params)} MACs {human(child.macs)}  "
            f"{duration(child.seconds)} on {_place(child.where)}  best {best}")


class LineView:
    """For pipes and CI: one line per finished child, a line at the start and at the end."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False, soft_wrap=True)

    def start(self, progress: Progress) -> None:
        budget = _budget(progress)
        self.console.print(f"search {progress.run}: {progress.space} space, "
                           f"{progress.controller} controller, {progress.dataset}, {budget}, "
                           f"{progress.workers} worker(s)", soft_wrap=True)

    def update(self, progress: Progress) -> None:
        pass

    def finished(self, progress: Progress, child: Finished) -> None:
        self.console.print(finished_line(progress, child), soft_wrap=True)

    def stop(self, progress: Progress) -> None:
        self.console.print(_end_line(progress), soft_wrap=True)


class LiveView:
    """A panel redrawn in place: counts, best so far, the running children, throughput, ETA.

    Redrawn from the driver's thread when it reports (at least twice a second, from the
    loop's ``ray.wait`` timeout), never from a thread of its own: the progress it reads is
    only ever seen between two changes.
    """

    min_interval = 0.25  # seconds between redraws

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self._live = Live(console=self.console, auto_refresh=False, transient=False)
        self._drawn = 0.0

    def start(self, progress: Progress) -> None:
        self._live.start()
        self._draw(progress, force=True)

    def update(self, progress: Progress) -> None:
        self._draw(progress)

    def finished(self, progress: Progress, child: Finished) -> None:
        self._draw(progress)

    def stop(self, progress: Progress) -> None:
        self._draw(progress, force=True)
        self._live.stop()
        self.console.print(_end_line(progress), soft_wrap=True)

    def _draw(self, progress: Progress, force: bool = False) -> None:
        now = time.time()
        if force or now - self._drawn >= self.min_interval:
            self._live.update(render(progress), refresh=True)
            self._drawn = now


def render(p: Progress) -> Group:
    """The live panel for ``p`` (also usable on its own, e.g. in a notebook)."""
    head = Text.assemble(
        (f"search {p.run}", "bold"),
        f"  {p.space} / {p.controller} / {p.evaluator}"
        + (f" on {p.dataset}  " if p.evaluator == "train" else "  "),
        (_budget(p), "dim"))
    best = p.best
    stats = Text.assemble(
        ("done ", "dim"), f"{p.done}" + (f"/{p.trials}" if p.trials is not None else ""),
        ("  running ", "dim"), str(len(p.running)),
        ("  failed ", "dim"), (str(p.failed), "red" if p.failed else ""),
        ("  pruned ", "dim"), str(p.pruned),
        ("  workers ", "dim"), f"{p.workers_ready}/{p.workers}",
        ("  elapsed ", "dim"), duration(p.elapsed),
        ("  rate ", "dim"), f"{p.throughput:.2f}/min" if p.throughput else "-",
        ("  eta ", "dim"), duration(p.eta))
    best_line = Text.assemble(
        ("best ", "dim"),
        ("-" if best is None else
         f"{best.shown}  trial {best.trial}  genome {best.genome_id}  "
         f"params {human(best.params)}  MACs {human(best.macs)}", "bold green"))
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="dim")
    for col in ("trial", "genome", "node", "device", "pid", "for"):
        table.add_column(col, justify="right" if col in ("trial", "pid", "for") else "left")
    now = time.time()
    for r in sorted(p.running.values(), key=lambda r: r.trial):
        table.add_row(str(r.trial), r.genome_id, str(r.where.get("node", "?")),
                      str(r.where.get("device", "?")), str(r.where.get("pid", "?")),
                      duration(now - r.dispatched))
    recent = [Text(f"  {c.trial:>4} {c.status:<8} "
                   f"{_outcome(c, 60)}",
                   style="red" if c.status not in ("ok", "pruned") else "")
              for c in p.recent]
    parts: list[Any] = [head, stats, best_line]
    if p.running:
        parts.append(table)
    if recent:
        parts += [Text("recent", style="dim"), *recent]
    if p.note:
        parts.append(Text(p.note, style="dim"))
    return Group(*parts)


def _budget(p: Progress) -> str:
    parts: Sequence[str] = [
        *([f"{p.trials} trials"] if p.trials is not None else []),
        *([f"{duration(p.time_budget)} budget"] if p.time_budget is not None else [])]
    return ", ".join(parts) or "no budget"


def _end_line(p: Progress) -> str:
    best = (f"best {p.best.shown} (trial {p.best.trial}, "
            f"genome {p.best.genome_id})" if p.best else "no successful child")
    return (f"search {p.run}: {p.done} children ({p.failed} failed, {p.pruned} pruned) in "
            f"{duration(p.elapsed)}; {best}" + (f"; {p.note}" if p.note else ""))


def make_view(console: Console | None = None) -> View:
    """A :class:`LiveView` on a terminal, a :class:`LineView` otherwise (pipes, CI)."""
    console = console or Console(highlight=False)
    return LiveView(console) if console.is_terminal else LineView(console)
