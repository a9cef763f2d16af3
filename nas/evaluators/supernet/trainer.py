"""Training a supernet: one loop for the four methods, in one process or on every rank.

:class:`SupernetTrainer` holds a supernet (:func:`nas.core.supernet.create_supernet`), its
optimisers, the method's architecture parameters and one seeded generator, and trains them
a step at a time:

- ``spos`` (Guo et al. 2019): a uniformly sampled path per step, SGD on the training split;
- ``enas`` (Pham et al. 2018): the paths the controller sampled (:meth:`enas_round`), SGD on
  the training split, constant learning rate (the search's length is the controller's);
- ``darts`` (first order, Liu et al. 2019): an Adam step on the architecture parameters
  from a validation batch through every path weighted by ``softmax(alpha)``, then an SGD
  step on the weights from a training batch;
- ``gdas`` (Dong & Yang 2019): as DARTS, but each forward runs one path per edge sampled by
  the straight-through Gumbel-softmax (:func:`nas.core.supernet.gumbel_hard`) at a
  temperature annealed linearly from ``tau_max`` to ``tau_min``; weights first, then arch.

Data parallelism. The same code runs on every rank of a group (:class:`World`); with one
rank it is the single-process path, the same computation with no communication. Every rank
builds the same supernet (seeded), draws the same global batch, the same augmentation and
the same path from its generator (seeded alike, never touched by anything rank-specific),
then trains on its own slice of the batch. Gradients are averaged by hand with one
``all_reduce`` of the flattened gradients that exist, rather than by DDP: a single path
leaves most weights without a gradient, and every rank runs the same path, so every rank
holds the same set of gradients; one flat all-reduce of exactly those is what DDP's
``find_unused_parameters=True`` arrives at after an extra graph traversal per step, and it
covers the architecture parameters, which live outside the module DDP would wrap. Batch
norm uses each rank's own batch statistics on CPU (``SyncBatchNorm`` is GPU-only in torch),
and the running statistics are averaged over the ranks after every epoch; every epoch ends
by checking that all ranks hold bit-identical weights and architecture parameters (an
all-gather of a SHA-256), so ranks that disagree fail loudly instead of exporting different
architectures.

Faults. After every epoch rank 0 writes a resume checkpoint in the project's format
(:func:`nas.training.checkpoint.save_resume_state`: weights, optimisers, architecture
parameters, the generator and every global RNG, epoch and step, history), atomically;
training continues from it after a kill. A loss that is not finite stops training at once
(:class:`SupernetDiverged`), with the last good checkpoint kept and the reason written to
``status.json``.

Test hook: ``NAS_TEST_SUPERNET_NAN=<epoch>`` makes the first loss of that epoch (enas: round;
1-based) NaN, as a diverging run's would be; the tests use it to check the clean stop.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import Space, create_space
from nas.core.statefile import read_json, write_json
from nas.core.supernet import AllPaths, Arch, HardPath, Supernet, create_supernet, gumbel_hard
from nas.evaluators.supernet.config import ARCH_METHODS, SupernetConfig
from nas.training.checkpoint import load_checkpoint, restore_resume_state, save_resume_state
from nas.training.data import DataSplits, Split, augment_batch

CHECKPOINT = "supernet.pt"  # the last epoch's resume state, in the method's folder
PROGRESS = "progress.json"  # rank 0's last epoch record (the driver polls it)
STATUS = "status.json"  # how training ended: trained, or diverged with the reason
_KEEP_ROUNDS = 3  # enas: round checkpoints kept (the saved run state points at a recent one)


class SupernetDiverged(NasError):
    """The supernet's loss stopped being finite; training stopped, the last good checkpoint
    is kept."""


# --- the group of ranks -------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    """This process's place in a data-parallel group (rank 0 of 1: a single process)."""

    rank: int = 0
    size: int = 1

    def average(self, tensors: Sequence[Tensor]) -> None:
        """Replace each tensor by its mean over the ranks (in place), in one all-reduce."""
        if self.size == 1 or not tensors:
            return
        flat = torch.cat([t.detach().reshape(-1).float() for t in tensors])
        torch.distributed.all_reduce(flat)
        flat /= self.size
        offset = 0
        for t in tensors:
            n = t.numel()
            t.copy_(flat[offset:offset + n].view_as(t))
            offset += n

    def gather(self, value: str) -> list[str]:
        """``value`` of every rank, in rank order."""
        if self.size == 1:
            return [value]
        out: list[Any] = [None] * self.size
        torch.distributed.all_gather_object(out, value)
        return [str(v) for v in out]


# --- what a training is -------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainSpec:
    """Everything a rank needs to train the supernet, apart from the data (plain data)."""

    method: str
    config: dict[str, Any]  # SupernetConfig.to_dict()
    space: str
    space_options: dict[str, Any]
    input_shape: tuple[int, int, int]
    num_classes: int
    seed: int
    dataset: dict[str, Any]  # nas.training.checkpoint.dataset_info, plus the run's limit
    folder: str  # the method's folder: checkpoint, progress, status

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSpec:
        return cls(**{**data, "input_shape": tuple(data["input_shape"])})

    def fingerprint(self) -> str:
        """What makes two trainings the same computation (how many workers run it is not
        part of it): a checkpoint is resumed only by a training with the same fingerprint."""
        what = {k: v for k, v in self.to_dict().items() if k != "folder"}
        what["config"] = {k: v for k, v in self.config.items() if k != "workers"}
        return hashlib.sha1(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()


def sample_path(space: Space, generator: torch.Generator) -> Genome:
    """A uniformly random genome drawn from ``generator`` (the same on every rank)."""
    return space.from_indices([int(torch.randint(len(d.options), (1,), generator=generator,
                                                 device=generator.device))
                               for d in space.decisions])


def batch_norms(net: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def digest(tensors: Mapping[str, Tensor]) -> str:
    """SHA-256 of tensors' bytes in key order: equal iff bit-identical."""
    h = hashlib.sha256()
    for key in sorted(tensors):
        h.update(key.encode())
        h.update(tensors[key].detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _nan_epoch() -> int | None:
    value = os.environ.get("NAS_TEST_SUPERNET_NAN")
    return int(value) if value else None


# --- the trainer --------------------------------------------------------------------------------


@dataclass
class EpochRecord:
    """One epoch of supernet training, as the progress line and the history show it."""

    epoch: int  # 1-based
    epochs: int
    loss: float  # mean training loss over the epoch (all ranks)
    accuracy: float  # training top-1 (%) of the paths trained, this epoch
    seconds: float
    tau: float | None = None  # gdas's temperature
    genome: dict[str, Any] | None = None  # darts, gdas: the genome the arch weights select

    def line(self, method: str) -> str:
        tau = f", tau {self.tau:.2f}" if self.tau is not None else ""
        return (f"{method} supernet epoch {self.epoch}/{self.epochs}: loss {self.loss:.3f}, "
                f"train accuracy {self.accuracy:.1f}%{tau}, {self.seconds:.0f} s")


@dataclass
class _Tally:
    loss: float = 0.0
    hits: float = 0.0
    seen: float = 0.0
    steps: int = 0
    started: float = field(default_factory=time.time)


class SupernetTrainer:
    """A supernet and the state of its training, on one rank (see the module docstring)."""

    def __init__(self, spec: TrainSpec, data: DataSplits, world: World | None = None,
                 device: torch.device | None = None) -> None:
        self.spec = spec
        self.cfg = SupernetConfig(**spec.config)
        self.world = world or World()
        self.device = device or data.device
        self.data = data.to(self.device)
        self.folder = Path(spec.folder)
        self.space = create_space(spec.space, **spec.space_options)
        self.net: Supernet = create_supernet(
            self.space, spec.input_shape, spec.num_classes, seed=spec.seed,
            partial_channels=self.cfg.partial_channels).to(self.device)
        self.generator = torch.Generator(self.device).manual_seed(spec.seed)
        self.alpha: dict[str, Tensor] = {}
        if spec.method in ARCH_METHODS:  # DARTS's 1e-3 * N(0, 1), on every rank alike
            init = self.net.arch_parameters(torch.Generator().manual_seed(spec.seed))
            self.alpha = {g: a.detach().to(self.device).requires_grad_()
                          for g, a in init.items()}
        decay = [p for p in self.net.parameters() if p.ndim > 1]
        other = [p for p in self.net.parameters() if p.ndim <= 1]
        self.w_opt = torch.optim.SGD(
            [{"params": decay, "weight_decay": self.cfg.weight_decay},
             {"params": other, "weight_decay": 0.0}], lr=self.cfg.lr,
            momentum=self.cfg.momentum)
        self.a_opt = torch.optim.Adam(list(self.alpha.values()), lr=self.cfg.arch_lr,
                                      betas=(0.5, 0.999),
                                      weight_decay=self.cfg.arch_weight_decay) \
            if self.alpha else None
        n = len(self.data.train)
        if n < 1 or (spec.method in ARCH_METHODS and len(self.data.val) < 1):
            raise NasError(f"{spec.method} needs training images (and a validation split for "
                           f"darts and gdas); the data have {n} training and "
                           f"{len(self.data.val)} validation images")
        self.steps_per_epoch = math.ceil(n / self.cfg.batch_size)
        if self.cfg.steps_per_epoch is not None:
            self.steps_per_epoch = min(self.steps_per_epoch, self.cfg.steps_per_epoch)
        self.epoch = 0  # epochs done
        self.step = 0  # optimiser steps done
        self.rounds = 0  # enas: rounds done
        self.history: list[dict[str, Any]] = []  # EpochRecords (or enas rounds) as dicts
        self._nan_at = _nan_epoch()

    # --- small pieces ----------------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.spec.method

    @property
    def total_steps(self) -> int:
        return self.cfg.epochs * self.steps_per_epoch

    @property
    def trained(self) -> bool:
        return self.epoch >= self.cfg.epochs

    def lr(self) -> float:
        """Cosine from ``lr`` to ``min_lr`` over the whole training (enas: constant)."""
        if self.method == "enas":
            return self.cfg.lr
        progress = min(1.0, self.step / max(1, self.total_steps))
        return self.cfg.min_lr + 0.5 * (self.cfg.lr - self.cfg.min_lr) * (
            1.0 + math.cos(math.pi * progress))

    def tau(self, epoch: int) -> float:
        """GDAS's temperature in epoch ``epoch`` (0-based): linear from tau_max to tau_min."""
        span = max(1, self.cfg.epochs - 1)
        return self.cfg.tau_max - (self.cfg.tau_max - self.cfg.tau_min) * min(epoch, span) / span

    def derived(self) -> Genome | None:
        """The genome the architecture parameters select (darts, gdas), else None."""
        if not self.alpha:
            return None
        return self.net.genome_from_weights({g: a.detach().cpu() for g, a in self.alpha.items()})

    def _batch(self, split: Split, index: Tensor, augment: bool) -> tuple[Tensor, Tensor]:
        """The global batch ``index`` (augmented alike on every rank), this rank's slice."""
        x, y = split.x[index], split.y[index]  # (B, C, H, W), (B,)
        if augment:
            x = augment_batch(x, self.generator)
        return (x.tensor_split(self.world.size)[self.world.rank].contiguous(),
                y.tensor_split(self.world.size)[self.world.rank])

    def _random_batch(self, split: Split, augment: bool) -> tuple[Tensor, Tensor]:
        """A batch of distinct random images of ``split`` (validation batches, enas)."""
        n = len(split)
        index = torch.randperm(n, generator=self.generator, device=self.device)
        return self._batch(split, index[:min(n, self.cfg.batch_size)], augment)

    # --- steps -----------------------------------------------------------------------------

    def weight_step(self, x: Tensor, y: Tensor, arch: Arch) -> tuple[Tensor, Tensor]:
        """One SGD step of the weights on ``(x, y)`` along ``arch``; (loss, hits), detached."""
        for group in self.w_opt.param_groups:
            group["lr"] = self.lr()
        self.w_opt.zero_grad(set_to_none=True)
        logits = self.net(x, arch)  # (B, classes)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        params = [p for p in self.net.parameters() if p.grad is not None]
        self.world.average([p.grad for p in params if p.grad is not None])
        nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)
        self.w_opt.step()
        return loss.detach(), (logits.argmax(1) == y).sum()

    def arch_step(self, x: Tensor, y: Tensor, arch: Callable[[], Arch]) -> None:
        """One Adam step of the architecture parameters on a validation batch (first order:
        the gradient at the current weights; only the alphas' gradients are computed)."""
        assert self.a_opt is not None
        loss = F.cross_entropy(self.net(x, arch()), y)
        grads = torch.autograd.grad(loss, list(self.alpha.values()))
        self.world.average(list(grads))
        for a, g in zip(self.alpha.values(), grads, strict=True):
            a.grad = g
        self.a_opt.step()
        self.a_opt.zero_grad(set_to_none=True)

    def _softmax(self) -> AllPaths:
        return AllPaths({g: a.softmax(-1) for g, a in self.alpha.items()})

    def _hard(self, tau: float) -> HardPath:
        return HardPath({g: gumbel_hard(a, tau, self.generator) for g, a in self.alpha.items()})

    def train_step(self, x: Tensor, y: Tensor, tau: float) -> tuple[Tensor, Tensor]:
        """One step of the method (spos, darts, gdas) on a training batch."""
        augment = self.data.augment
        if self.method == "spos":
            return self.weight_step(x, y, sample_path(self.space, self.generator))
        xv, yv = self._random_batch(self.data.val, augment)
        if self.method == "darts":
            self.arch_step(xv, yv, self._softmax)
            with torch.no_grad():
                weights = AllPaths({g: w.detach() for g, w in self._softmax().weights.items()})
            return self.weight_step(x, y, weights)
        # gdas (xautodl's order: the weights, then the architecture)
        with torch.no_grad():
            hard = HardPath({g: w.detach() for g, w in self._hard(tau).weights.items()})
        out = self.weight_step(x, y, hard)
        self.arch_step(xv, yv, lambda: self._hard(tau))
        return out

    def _finite(self, loss: Tensor, hits: Tensor, tally: _Tally, first: bool) -> None:
        """Add a step's loss and hits, averaged over the ranks in one all-reduce, to
        ``tally``; raise :class:`SupernetDiverged` if the loss is not finite."""
        both = torch.stack([loss.detach().float(), hits.detach().float()])  # (2,)
        self.world.average([both])
        number, hit = float(both[0]), float(both[1]) * self.world.size
        done = self.rounds if self.method == "enas" else self.epoch
        if first and self._nan_at is not None and done + 1 == self._nan_at:
            number = math.nan  # the test hook: as a diverging loss would be
        if not math.isfinite(number):
            kept = (f"the last good checkpoint (epoch {self.epoch}) is kept: "
                    f"{self.folder / CHECKPOINT}") if self.epoch else "no epoch had finished"
            raise SupernetDiverged(
                f"{self.method} supernet training diverged at epoch {self.epoch + 1}, step "
                f"{tally.steps + 1} (loss {number}); {kept}; lower lr ({self.cfg.lr:g}) or "
                f"grad_clip ({self.cfg.grad_clip:g})")
        tally.loss += number
        tally.hits += hit
        tally.steps += 1

    # --- epochs (spos, darts, gdas) --------------------------------------------------------

    def train(self, on_epoch: Callable[[EpochRecord], None] | None = None) -> None:
        """Train from the epoch reached to ``epochs``; checkpoint after each (rank 0)."""
        train = self.data.train
        n, b = len(train), self.cfg.batch_size
        while self.epoch < self.cfg.epochs:
            self.net.train()
            tau = self.tau(self.epoch)
            order = torch.randperm(n, generator=self.generator, device=self.device)
            tally = _Tally()
            for i in range(self.steps_per_epoch):
                index = order.take(torch.arange(i * b, (i + 1) * b, device=self.device) % n)
                x, y = self._batch(train, index, self.data.augment)
                loss, hits = self.train_step(x, y, tau)
                self._finite(loss, hits, tally, first=i == 0)
                tally.seen += min(b, n)
                self.step += 1
            self.epoch += 1
            self._sync_buffers()
            genome = self.derived()
            record = EpochRecord(
                epoch=self.epoch, epochs=self.cfg.epochs, loss=tally.loss / tally.steps,
                accuracy=100.0 * tally.hits / max(1.0, tally.seen),
                seconds=time.time() - tally.started,
                tau=tau if self.method == "gdas" else None,
                genome=genome.to_dict() if genome is not None else None)
            self.history.append(asdict(record))
            self._check_ranks_agree()
            if self.world.rank == 0:
                self.save()
                write_json(self.folder / PROGRESS, asdict(record))
            if on_epoch is not None:
                on_epoch(record)

    def _sync_buffers(self) -> None:
        """Average the batch-norm running statistics over the ranks (each saw its own
        slices); the step counters are equal already."""
        if self.world.size == 1:
            return
        stats = [t for m in batch_norms(self.net) for t in (m.running_mean, m.running_var)
                 if t is not None]
        self.world.average(stats)

    def state_digest(self) -> str:
        state = dict(self.net.state_dict())
        state.update({f"alpha.{g}": a for g, a in self.alpha.items()})
        return digest(state)

    def _check_ranks_agree(self) -> None:
        if self.world.size == 1:
            return
        mine = self.state_digest()
        genome = self.derived()
        everyone = self.world.gather(json.dumps([mine, genome.to_dict() if genome else None]))
        if len(set(everyone)) != 1:
            raise RuntimeError(f"the {self.world.size} ranks disagree after epoch {self.epoch} "
                               f"(weights or derived genome); rank {self.world.rank}: {mine}")
        write_json(self.folder / "ranks" / f"rank{self.world.rank}.json",
                   {"rank": self.world.rank, "epoch": self.epoch, "weights": mine,
                    "genome": genome.to_dict() if genome else None})

    # --- enas ------------------------------------------------------------------------------

    def enas_round(self, genomes: Sequence[Genome]) -> tuple[Tensor, Tensor]:
        """ENAS's shared-weights phase for one round: ``enas_steps`` SGD steps on random
        training batches, cycling over ``genomes`` (the controller's samples); then the
        validation minibatch the round's paths are scored on."""
        self.net.train()
        tally = _Tally()
        for s in range(self.cfg.enas_steps):
            x, y = self._random_batch(self.data.train, self.data.augment)
            loss, hits = self.weight_step(x, y, genomes[s % len(genomes)])
            self._finite(loss, hits, tally, first=s == 0)
            self.step += 1
        self.rounds += 1
        self.history.append({"round": self.rounds, "loss": tally.loss / tally.steps,
                             "seconds": time.time() - tally.started})
        self.history = self.history[-1000:]  # a long enas run: the recent rounds suffice
        return self._random_batch(self.data.val, augment=False)

    # --- checkpoints -----------------------------------------------------------------------

    def checkpoint_path(self) -> Path:
        if self.method == "enas":
            return self.folder / f"round-{self.rounds:06d}.pt"
        return self.folder / CHECKPOINT

    def save(self) -> Path:
        """Write the resume state (rank 0's job) and return its path; enas keeps the last
        few rounds' files."""
        path = self.checkpoint_path()
        optimizers: dict[str, torch.optim.Optimizer] = {"weights": self.w_opt}
        if self.a_opt is not None:
            optimizers["arch"] = self.a_opt
        genome = self.derived()
        save_resume_state(
            path, self.net, space=self.spec.space, space_options=self.spec.space_options,
            input_shape=self.spec.input_shape, num_classes=self.spec.num_classes,
            optimizers=optimizers, epoch=self.epoch, step=self.step,
            dataset=self.spec.dataset, arch_parameters=self.alpha,
            generators={"train": self.generator},
            extra={"method": self.method, "fingerprint": self.spec.fingerprint(),
                   "config": self.spec.config, "rounds": self.rounds,
                   "history": self.history,
                   "derived": genome.to_dict() if genome is not None else None})
        if self.method == "enas":
            rounds = sorted(self.folder.glob("round-*.pt"))
            for old in rounds[:-_KEEP_ROUNDS]:
                old.unlink(missing_ok=True)
        return path

    def restore(self, path: Path) -> None:
        """Continue from the resume state at ``path`` (one of this training's)."""
        ckpt = load_checkpoint(path, "resume")
        extra = ckpt["extra"]
        if extra.get("fingerprint") != self.spec.fingerprint():
            raise NasError(f"{path} is a supernet checkpoint of another training (method, "
                           f"options, space, data or seed differ); remove it to start over")
        optimizers: dict[str, torch.optim.Optimizer] = {"weights": self.w_opt}
        if self.a_opt is not None:
            optimizers["arch"] = self.a_opt
        restore_resume_state(ckpt, self.net, optimizers=optimizers,
                             arch_parameters=self.alpha, generators={"train": self.generator})
        self.epoch, self.step = int(ckpt["epoch"]), int(ckpt["step"])
        self.rounds = int(extra.get("rounds", 0))
        self.history = list(extra.get("history", []))

    def resume_if_saved(self) -> bool:
        """Restore the last epoch's checkpoint if there is one; True if there was."""
        path = self.folder / CHECKPOINT
        if not path.is_file():
            return False
        self.restore(path)
        return True


# --- one rank's whole job -------------------------------------------------------------------


def read_status(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / STATUS
    return dict(read_json(path)) if path.is_file() else {}


def train_to_end(trainer: SupernetTrainer,
                 on_epoch: Callable[[EpochRecord], None] | None = None) -> None:
    """Train to the last epoch; rank 0 records how it ended in ``status.json``: ``trained``,
    or ``diverged`` with the reason, which is then raised (:class:`SupernetDiverged`) on
    every rank."""
    rank0 = trainer.world.rank == 0
    try:
        trainer.train(on_epoch)
    except SupernetDiverged as e:
        if rank0:
            write_json(trainer.folder / STATUS, {"status": "diverged", "message": str(e),
                                                 "epoch": trainer.epoch})
        raise
    if rank0:
        write_json(trainer.folder / STATUS, {"status": "trained", "epoch": trainer.epoch})


def run_training(spec: TrainSpec, data: DataSplits, world: World | None = None,
                 device: torch.device | None = None) -> SupernetTrainer:
    """What every rank of a data-parallel training runs: build, resume from the last epoch
    if one was saved, train to the end (:func:`train_to_end`)."""
    trainer = SupernetTrainer(spec, data, world, device)
    trainer.resume_if_saved()
    train_to_end(trainer)
    return trainer


__all__ = ["CHECKPOINT", "EpochRecord", "SupernetDiverged", "SupernetTrainer", "TrainSpec",
           "World", "batch_norms", "read_status", "run_training", "sample_path",
           "train_to_end"]
