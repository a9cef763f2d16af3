"""Proxy-prefiltered search: score many cells with a zero-cost proxy, judge the best first.

Stage one (``nas search --prefilter meco --prefilter-cells 1000 --prefilter-top 8``) draws
``cells`` distinct random genomes of the space (seeded by the run's seed), scores each network
at initialisation on one seeded minibatch of the run's training images with the proxy (or a
rank combination of proxies, ``meco:4,synflow``: the weighted mean of their ranks over the
pool, :func:`nas.evaluators.proxies.rank_aggregate`), and queues the ``top`` best for the
run's own evaluator (``train``, ``table``, ``supernet``), before anything the controller
proposes. Stage two is the ordinary search: the controller is told those results like any
other (a warm start: Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", ICLR 2021,
section 5, seed evolution's population and warm up RL this way) and proposes the rest of the
``--trials`` budget. Only stage two's children are trials, count towards the budget and are
ranked by ``nas status``: a proxy's score is never taken for an accuracy.

What the study records. The study attribute ``prefilter`` holds stage one: the proxies, the
number of cells, the top, and every candidate's genome id, score and rank; each trial that
stage one chose carries ``prefilter`` (its rank, score and the proxies) among its attributes.
In a run directory every candidate's scores are also appended, one line each as they are
computed, to ``prefilter.jsonl`` (:func:`nas.evaluators.proxies.append_scores`): a run stopped
in stage one continues from the file, and a resumed run draws the same candidates (same seed)
and queues again only the chosen genomes that have no finished trial.

A benchmark on a table (``bench/prefilter.py``) hands :class:`Prefilter` scores already
computed (``scores``) and draws the candidates from those scored cells (``pool``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nas.core.errors import NasError, ShapeError
from nas.core.genome import Genome
from nas.core.space import Space
from nas.evaluators import proxies as px
from nas.evaluators.base import Context
from nas.search.config import SearchConfig

SCORE_FILE = "prefilter.jsonl"  # stage one's scores, in the run directory
MAX_TRIES = 100  # random draws per wanted cell before a small space is taken as exhausted


@dataclass(frozen=True)
class Chosen:
    """A candidate of stage one: its genome, score (the proxy's, or the combination's mean
    rank), and rank among the candidates (1 = best)."""

    genome: Genome
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {"genome_id": self.genome.id, "rank": self.rank,
                "score": self.score if math.isfinite(self.score) else None}


@dataclass
class Prefilter:
    """Stage one of a search; see the module docstring."""

    proxies: dict[str, float]  # proxy -> weight (one proxy: its own score ranks)
    cells: int  # candidates to score
    top: int  # the best of them, handed to the run's evaluator
    batch_size: int = 64  # images in the minibatch
    scores: Mapping[Genome, Mapping[str, float]] = field(default_factory=dict)  # known ones
    pool: Sequence[Genome] | None = None  # draw candidates from these (None: the space)
    ranked: list[Chosen] = field(default_factory=list)  # every candidate, best first

    @classmethod
    def from_config(cls, config: SearchConfig, **kw: Any) -> Prefilter | None:
        if config.prefilter is None:
            return None
        return cls(px.parse_combination(config.prefilter), config.prefilter_cells,
                   config.prefilter_top, config.prefilter_batch_size, **kw)

    @property
    def name(self) -> str:
        """``meco``, or ``rank(4*meco+synflow)`` for a combination."""
        names = list(self.proxies)
        return names[0] if len(names) == 1 else px.combination_name(self.proxies)

    def check(self, context: Context, seed: int) -> None:
        """Raise what a user can get wrong (missing data, a minibatch larger than the
        training split) before the run starts: the data are loaded once, and kept."""
        px.sample_batch(context.data(), self.batch_size, seed)

    def candidates(self, space: Space, seed: int) -> list[Genome]:
        """``cells`` distinct genomes, the same for the same seed (fewer if the space or the
        pool has fewer)."""
        rng = random.Random(seed)
        if self.pool is not None:
            pool = sorted(set(self.pool), key=lambda g: g.id)
            return rng.sample(pool, min(self.cells, len(pool)))
        chosen: dict[Genome, None] = {}
        for _ in range(MAX_TRIES * self.cells):
            chosen.setdefault(space.validate(space.sample(rng)))
            if len(chosen) == self.cells:
                break
        return list(chosen)

    def run(self, context: Context, seed: int, path: Path | None = None,
            report: Callable[[str], None] = lambda message: None) -> list[Chosen]:
        """Score the candidates (those not yet in ``scores`` or the file at ``path``) and
        rank them; returns the ``top`` best (every candidate is in :attr:`ranked`)."""
        space = context.space
        genomes = self.candidates(space, seed)
        names = list(self.proxies)
        known: dict[Genome, dict[str, float]] = {g: dict(s) for g, s in self.scores.items()}
        settings = _settings(context, self.batch_size, seed)
        if path is not None and path.exists() and path.stat().st_size:
            theirs, rows = px.read_scores(path)
            if theirs != settings:
                raise NasError(f"{path} holds stage-one scores made with other settings; "
                               "remove it to score again")
            for g, row in rows.items():
                known.setdefault(g, {}).update(row["scores"])
        todo = [g for g in genomes if not set(names) <= set(known.get(g, {}))]
        if todo:
            self._score(context, todo, names, known, settings, seed, path, report)
        columns = {n: [known[g][n] for g in genomes] for n in names}
        values = (columns[names[0]] if len(names) == 1
                  else px.rank_aggregate(columns, self.proxies))
        order = np.argsort(-px.ranks(values), kind="stable")
        self.ranked = [Chosen(genomes[i], float(values[i]), rank)
                       for rank, i in enumerate(order.tolist(), start=1)]
        report(f"prefilter: {len(genomes)} cells scored with {self.name}; the best "
               f"{min(self.top, len(genomes))} go first")
        return self.ranked[:self.top]

    def _score(self, context: Context, todo: list[Genome], names: list[str],
               known: dict[Genome, dict[str, float]], settings: dict[str, Any], seed: int,
               path: Path | None, report: Callable[[str], None]) -> None:
        data = context.data()
        batch = px.sample_batch(data, self.batch_size, seed)
        for i, genome in enumerate(todo):
            if i % 25 == 0:
                report(f"prefilter: scoring cells with {self.name}, {i}/{len(todo)}")
            started, cpu = time.perf_counter(), time.process_time()
            try:
                scores = px.score_genome(space=context.space, genome=genome, batch=batch,
                                         names=names, num_classes=data.num_classes, seed=seed)
            except ShapeError:  # a network that does not fit the images ranks last
                scores = dict.fromkeys(names, math.nan)
            known[genome] = scores
            if path is not None:
                px.append_scores(path, settings, genome, scores,
                                 {"total": time.perf_counter() - started},
                                 {"total": time.process_time() - cpu})

    def record(self) -> dict[str, Any]:
        """Stage one, for the study's ``prefilter`` attribute."""
        return {"proxies": self.proxies, "name": self.name, "cells": len(self.ranked),
                "top": self.top, "batch_size": self.batch_size,
                "candidates": [c.to_dict() for c in self.ranked]}


def _settings(context: Context, batch_size: int, seed: int) -> dict[str, Any]:
    """What stage one's scores depend on (the score file's first line)."""
    return {"space": context.space.name, "space_options": dict(context.space.options),
            "dataset": context.dataset, "limit": context.limit, "batch_size": batch_size,
            "seed": seed}
