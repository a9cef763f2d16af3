"""The PNG plots that ``nas compare`` and ``nas report`` write, drawn with matplotlib's Agg.

Every function draws one figure and writes it to ``path``. Figures are built as
:class:`matplotlib.figure.Figure` objects with their own Agg canvas rather than through
``pyplot``: no global figure manager, no GUI backend to select, nothing left open when a call
raises, and the same code works in a worker, a notebook or a headless server.

Accuracies are percentages (0-100); costs are raw counts (parameters, multiply-adds) or
milliseconds and go on logarithmic axes, since one comparison spans a 100k-parameter cell
network and a 20M-parameter ResNet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 120
#: Colours of the found architectures and of the baselines (matplotlib's tab10 order).
FOUND = "tab:blue"
BASELINE = "tab:red"
FRONT = "tab:green"


@dataclass
class Point:
    """One network in an accuracy-versus-cost plot."""

    label: str
    cost: float  # parameters, multiply-adds or milliseconds (lower is better)
    accuracy: float  # percent (higher is better)
    spread: float = 0.0  # e.g. the standard deviation over seeds, drawn as an error bar
    baseline: bool = False  # a hand-designed network: marked and named in the plot


@dataclass
class Curve:
    """One network's accuracy per epoch: the mean over seeds, and the band they span."""

    label: str
    mean: list[float]
    low: list[float] = field(default_factory=list)  # per epoch, the worst seed
    high: list[float] = field(default_factory=list)  # per epoch, the best seed
    baseline: bool = False


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the non-dominated (cost, accuracy) points, by increasing cost.

    A point is on the front when no other point is at least as cheap and at least as accurate
    and strictly better in one of the two. Non-finite points are never on it. O(n log n): sort
    by cost (then by accuracy, best first) and keep each point that beats the best accuracy
    seen so far.
    """
    order = sorted((i for i, (c, a) in enumerate(points) if math.isfinite(c) and math.isfinite(a)),
                   key=lambda i: (points[i][0], -points[i][1]))
    front: list[int] = []
    best = -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _figure(width: float = 6.4, height: float = 4.4) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path


def accuracy_vs_cost(points: Sequence[Point], path: str | Path, *, cost_label: str,
                     title: str, accuracy_label: str = "accuracy (%)",
                     background: Sequence[tuple[float, float]] = (),
                     found_label: str = "found") -> Path:
    """Accuracy against cost on a log axis, the Pareto front drawn as a step line.

    ``points`` are named: baselines as red squares with their names, the others as blue dots
    (named too when there are few). ``background`` are unnamed (cost, accuracy) pairs drawn
    faintly behind them, e.g. every child of a search; the front is taken over all of them.
    """
    fig = _figure()
    ax = fig.add_subplot()
    if background:
        ax.scatter([c for c, _ in background], [a for _, a in background], s=12,
                   color="0.6", alpha=0.6, label="children", zorder=1)
    for is_baseline in (False, True):
        group = [p for p in points if p.baseline == is_baseline]
        if not group:
            continue
        ax.errorbar([p.cost for p in group], [p.accuracy for p in group],
                    yerr=[p.spread for p in group], fmt="s" if is_baseline else "o",
                    color=BASELINE if is_baseline else FOUND, capsize=3, markersize=6,
                    label="baselines" if is_baseline else found_label, zorder=3)
    named = [p for p in points if p.baseline or len(points) <= 12]
    for p in named:
        ax.annotate(p.label, (p.cost, p.accuracy), textcoords="offset points", xytext=(5, 5),
                    fontsize=8, color=BASELINE if p.baseline else "black")
    everything = [(p.cost, p.accuracy) for p in points] + list(background)
    front = [everything[i] for i in pareto_front(everything)]
    if front:
        xs, ys = zip(*front, strict=True)
        ax.step(xs, ys, where="post", color=FRONT, linewidth=1.5, alpha=0.8, marker="o",
                markersize=11, markerfacecolor="none", label="Pareto front", zorder=2)
    if any(c > 0 for c, _ in everything):
        ax.set_xscale("log")
    ax.set_xlabel(cost_label)
    ax.set_ylabel(accuracy_label)
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, Path(path))


def learning_curves(curves: Sequence[Curve], path: str | Path, *, title: str,
                    ylabel: str = "validation accuracy (%)") -> Path:
    """Accuracy per epoch for each network: the mean line and the seeds' min-max band."""
    fig = _figure()
    ax = fig.add_subplot()
    for i, c in enumerate(curves):
        epochs = list(range(1, len(c.mean) + 1))
        style = "--" if c.baseline else "-"
        (line,) = ax.plot(epochs, c.mean, style, marker="o", markersize=3, label=c.label,
                          color=f"C{i % 10}")
        if c.low and c.high and len(c.low) == len(c.mean) and c.low != c.high:
            ax.fill_between(epochs, c.low, c.high, color=line.get_color(), alpha=0.15)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if curves:
        ax.legend(fontsize=8, loc="lower right")
    return _save(fig, Path(path))


def best_so_far(xs: Sequence[float], accuracies: Sequence[float | None], path: str | Path, *,
                xlabel: str, title: str) -> Path:
    """Each child's accuracy (dots; failures as crosses at the bottom) and the running best.

    ``xs`` must be in the order the results arrived (trial count or seconds since the start).
    """
    fig = _figure()
    ax = fig.add_subplot()
    ok = [(x, a) for x, a in zip(xs, accuracies, strict=True) if a is not None]
    failed = [x for x, a in zip(xs, accuracies, strict=True) if a is None]
    if ok:
        ax.scatter([x for x, _ in ok], [a for _, a in ok], s=14, color="0.5", alpha=0.7,
                   label="child", zorder=2)
    if failed:
        low = min((a for _, a in ok), default=0.0)
        ax.scatter(failed, [low] * len(failed), marker="x", s=18, color=BASELINE,
                   label="failed", zorder=2)
    best, run_x, run_y = -math.inf, [], []
    for x, a in ok:
        best = max(best, a)
        run_x.append(x)
        run_y.append(best)
    if run_x:
        ax.step(run_x, run_y, where="post", color=FOUND, linewidth=2, label="best so far",
                zorder=3)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, Path(path))


def series(lines: Mapping[str, tuple[Sequence[float], Sequence[float]]], path: str | Path, *,
           xlabel: str, ylabel: str, title: str) -> Path:
    """Plain line plots: ``{label: (xs, ys)}`` on one axis (e.g. controller entropy)."""
    fig = _figure()
    ax = fig.add_subplot()
    for label, (xs, ys) in lines.items():
        ax.plot(list(xs), list(ys), marker="o", markersize=3, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(lines) > 1:
        ax.legend(fontsize=8)
    return _save(fig, Path(path))
