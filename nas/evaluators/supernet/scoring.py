"""Reading a trained supernet: a path's score, the method's ranked genomes, collapse.

* :class:`Scorer`: a genome's score is the validation top-1 of its path through the shared
  weights after batch-norm recalibration (Guo et al. 2019): the running statistics the
  supernet kept were averaged over every path trained, which are not this path's, so they
  are reset and re-estimated from ``bn_batches`` fixed training batches (a cumulative
  average, no augmentation) before ``val_batches`` fixed validation batches are scored in
  eval mode. The batches are drawn once, from the seed, so a genome scores the same alone
  and in any batch, before or after others.
* :func:`batch_statistics_scores`: ENAS's cheaper reading: the round's paths on one
  validation minibatch with batch statistics (nothing recalibrated or updated).
* :func:`ranked_genomes`: the genome the architecture weights select (DARTS's and GDAS's
  derived cell), then the runner-up op on each of the least certain edges.
* :func:`op_histogram` / :func:`collapse`: how often each op appears in a genome, and why a
  cell is degenerate when it is (DARTS's known failure: skip connections everywhere).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor

from nas.core.genome import Genome
from nas.core.supernet import MixedEdge, Supernet
from nas.evaluators.supernet.trainer import batch_norms
from nas.training.data import DataSplits

#: A cell whose ops are more than this share skip connections is degenerate (collapse).
SKIP_SHARE = 0.5
SKIP = "skip_connect"


@contextmanager
def _frozen_statistics(net: torch.nn.Module) -> Iterator[None]:
    """Batch norm in train mode normalises with batch statistics; momentum 0 keeps the
    running ones unchanged."""
    norms = batch_norms(net)
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum


class Scorer:
    """Scores paths through ``net`` on fixed batches of ``data`` (see the module docstring)."""

    def __init__(self, net: Supernet, data: DataSplits, bn_batches: int, val_batches: int,
                 batch_size: int, seed: int) -> None:
        self.net = net
        self.batch_size = batch_size
        device = next(net.parameters()).device
        g = torch.Generator().manual_seed(seed)
        train, val = data.train, data.val
        n = min(len(train), bn_batches * batch_size)
        pick = torch.randperm(len(train), generator=g)[:n].to(train.x.device)
        self.recalibration = [x.to(device) for x in train.x[pick].split(batch_size)] if n else []
        if val_batches:
            pick = torch.randperm(len(val), generator=g)[:val_batches * batch_size]
            pick = pick.to(val.x.device)
            self.val_x, self.val_y = val.x[pick].to(device), val.y[pick].to(device)
        else:
            self.val_x, self.val_y = val.x.to(device), val.y.to(device)
        if len(self.val_y) == 0:
            raise ValueError("the data have no validation images to score paths on")

    @property
    def images(self) -> tuple[int, int]:
        """(recalibration images, validation images) per score."""
        return sum(len(x) for x in self.recalibration), len(self.val_y)

    @torch.no_grad()
    def recalibrate(self, genome: Genome) -> None:
        """Reset every batch norm's running statistics and re-estimate them along ``genome``."""
        if not self.recalibration:
            return
        norms = batch_norms(self.net)
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a cumulative average over the recalibration batches
        self.net.train()
        try:
            for x in self.recalibration:
                self.net(x, genome)
        finally:
            for m, momentum in zip(norms, momenta, strict=True):
                m.momentum = momentum

    @torch.no_grad()
    def score(self, genome: Genome) -> tuple[float, float]:
        """(validation top-1 %, mean cross-entropy) of ``genome``'s recalibrated path."""
        self.recalibrate(genome)
        self.net.eval()
        hits, loss = 0, 0.0
        for x, y in zip(self.val_x.split(self.batch_size), self.val_y.split(self.batch_size),
                        strict=True):
            logits = self.net(x, genome).float()  # (B, classes)
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
            hits += int((logits.argmax(1) == y).sum())
        n = len(self.val_y)
        return 100.0 * hits / n, loss / n


@torch.no_grad()
def batch_statistics_scores(net: Supernet, genomes: Sequence[Genome], x: Tensor,
                            y: Tensor) -> list[tuple[float, float]]:
    """ENAS: (top-1 %, loss) of each path on the minibatch ``(x, y)``, batch norm using the
    minibatch's statistics (and leaving the running ones as they are)."""
    net.train()
    out = []
    with _frozen_statistics(net):
        for genome in genomes:
            logits = net(x, genome).float()
            out.append((100.0 * float((logits.argmax(1) == y).float().mean()),
                        float(F.cross_entropy(logits, y))))
    return out


# --- the method's genomes ------------------------------------------------------------------


def ranked_genomes(net: Supernet, alpha: Mapping[str, Tensor], extra: int) -> list[
        tuple[Genome, str]]:
    """The derived genome, then up to ``extra`` more, each with why it is there.

    The derived genome is what the architecture weights select (the space's rule, e.g. the
    strongest op per edge). The next ones change one decision each: for the edges whose two
    strongest ops are closest in ``softmax(alpha)`` (the method's least certain choices),
    the genome the weights select with that edge's strongest op ruled out.
    """
    weights = {g: a.detach().float().cpu() for g, a in alpha.items()}
    derived = net.genome_from_weights(weights)
    out = [(derived, "the architecture weights' choice (argmax)")]
    margins = []
    for g, a in weights.items():
        p = a.softmax(-1)
        top = p.topk(min(2, p.shape[1]), dim=-1).values  # (edges, 2)
        for e in range(a.shape[0]):
            margin = float(top[e, 0] - top[e, -1])
            margins.append((margin, g, e))
    for margin, g, e in sorted(margins):
        if len(out) > extra:
            break
        changed = {k: v.clone() for k, v in weights.items()}
        changed[g][e, int(changed[g][e].argmax())] = -math.inf
        genome = net.genome_from_weights(changed)
        if all(genome != seen for seen, _ in out):
            out.append((genome, f"runner-up op on {g} edge {e} (softmax margin {margin:.3f})"))
    return out


def parameter_free_ops(net: Supernet) -> set[str]:
    """Op names that carry no weights on any stride-1 edge of ``net`` (``none``, pooling,
    identity skips)."""
    with_weights: set[str] = set()
    names: set[str] = set()
    for edge in (m for m in net.modules() if isinstance(m, MixedEdge)):
        for k, name in enumerate(edge.names):
            names.add(name)
            piece = edge.candidate(k)
            if edge.stride == 1 and piece is not None and any(True for _ in piece.parameters()):
                with_weights.add(name)
    return names - with_weights


def op_histogram(net: Supernet, genome: Genome) -> dict[str, int]:
    """How many of ``genome``'s decisions choose each candidate op of the supernet."""
    ops = {name for _, names in net.groups.values() for name in names}
    counts = Counter(str(v) for _, v in genome.values if isinstance(v, str) and v in ops)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def collapse(histogram: Mapping[str, int], parameter_free: set[str]) -> str:
    """Why a cell with these op counts is degenerate, or ``""`` if it is not: every op
    parameter-free, or most of them (more than :data:`SKIP_SHARE`) skip connections."""
    total = sum(histogram.values())
    if not total:
        return ""
    if all(op in parameter_free for op in histogram):
        return f"parameter-free: no op has weights ({_counts(histogram)})"
    skips = histogram.get(SKIP, 0)
    if skips / total > SKIP_SHARE:
        return f"mostly skip connections: {skips} of {total} ops ({_counts(histogram)})"
    return ""


def _counts(histogram: Mapping[str, int]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in histogram.items())


__all__ = ["Scorer", "batch_statistics_scores", "collapse", "op_histogram",
           "parameter_free_ops", "ranked_genomes"]
