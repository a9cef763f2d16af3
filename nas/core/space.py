"""The space interface: a flat list of categorical decisions plus a builder.

Every decision is categorical with a fixed option list (an integer range is categorical too),
so any controller can drive any space token by token, as Zoph & Le's controller does. A space
describes a genome as a :class:`~nas.core.netgraph.NetGraph` for a given input shape and class
count; the cost model reads that graph and :meth:`Space.module` compiles it to a module
(:meth:`Space.build` does both steps).

Spaces register by name; network-level options that are not part of the cell or genome (e.g.
NASNet's cells per stage and initial width) are keyword arguments of the space's constructor
and never change its decision list.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from nas.core.errors import GenomeError
from nas.core.genome import Genome, Value
from nas.core.netgraph import NetBuilder, NetGraph, T
from nas.core.registry import Registry

if TYPE_CHECKING:
    import networkx as nx
    from torch import nn


@dataclass(frozen=True)
class Decision:
    """One categorical choice: its name, its options (in a fixed order) and what it means."""

    name: str
    options: tuple[Value, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        if not self.options:
            raise ValueError(f"decision {self.name!r} has no options")
        if len(set(map(repr, self.options))) != len(self.options):
            raise ValueError(f"decision {self.name!r} repeats an option")

    def index(self, value: Value) -> int:
        """Position of ``value`` in the options (bools and ints are told apart)."""
        for i, option in enumerate(self.options):
            if type(option) is type(value) and option == value:
                return i
            if isinstance(option, float) and isinstance(value, int) and option == value:
                return i
        raise GenomeError(self.explain(value))

    def explain(self, value: object) -> str:
        allowed = ", ".join(repr(o) for o in self.options)
        return f"decision {self.name!r} cannot be {value!r}; allowed: {allowed}"


@dataclass(frozen=True)
class Baseline:
    """A hand-designed network kept as a fixed genome of one of our spaces."""

    name: str  # e.g. "resnet50"
    genome: Genome
    space_options: Mapping[str, Any] = field(default_factory=dict)  # network-level options
    torchvision: str | None = None  # torchvision builder with the same architecture, if any
    doc: str = ""  # one line: paper and what this genome reproduces
    input_shape: tuple[int, int, int] = (3, 224, 224)  # the input it was designed for
    num_classes: int = 1000  # the class count it was designed for (ImageNet: 1000)
    family: str = ""  # a group for listings, e.g. "resnet" or "densenet" ("": the space)
    paper_params: int | None = None  # published parameter count (at its design input)
    paper_macs: int | None = None  # published multiply-adds (at its design input)
    torchvision_kwargs: Mapping[str, Any] = field(default_factory=dict)  # e.g. aux_logits

    @property
    def group(self) -> str:
        """The family shown by ``nas baselines`` (the space's name unless one is given)."""
        return self.family or self.genome.space

    def space(self) -> Space:
        return create_space(self.genome.space, **self.space_options)

    def with_options(self, options: Mapping[str, Any]) -> Baseline:
        """The same genome with ``options`` on top of its space options (another size)."""
        return replace(self, space_options={**self.space_options, **options})

    def graph(self, input_shape: Sequence[int] | None = None,
              num_classes: int | None = None) -> NetGraph:
        """The layer graph, by default at the design input and class count."""
        return self.space().graph(self.genome, input_shape or self.input_shape,
                                  num_classes or self.num_classes)

    def build(self, input_shape: Sequence[int] | None = None,
              num_classes: int | None = None) -> nn.Module:
        """A fresh module, by default at the design input and class count."""
        return self.space().build(self.genome, input_shape or self.input_shape,
                                  num_classes or self.num_classes)


class Space(ABC):
    """A search space: ``decisions`` (the vocabulary) and ``describe`` (genome -> graph)."""

    name: ClassVar[str]  # the registered name, stored in every genome of this space

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(self.default_options())
        if unknown:
            known = ", ".join(sorted(self.default_options())) or "none"
            raise GenomeError(f"space {self.name!r} has no option(s) {sorted(unknown)}; "
                              f"known: {known}")
        self.options: dict[str, Any] = {**self.default_options(), **options}

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        """Network-level options and their defaults (none unless a space has some)."""
        return {}

    @property
    @abstractmethod
    def decisions(self) -> tuple[Decision, ...]:
        """The decisions, in the order a genome lists them and a controller emits them."""

    @abstractmethod
    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        """Add the network for ``genome`` to ``nb`` starting at input ``x``; return logits."""

    # --- derived -------------------------------------------------------------------------

    def decision(self, name: str) -> Decision:
        for d in self.decisions:
            if d.name == name:
                return d
        raise KeyError(name)

    def size(self) -> int:
        """Number of distinct genomes (the product of option counts)."""
        return math.prod(len(d.options) for d in self.decisions)

    def validate(self, genome: Genome) -> Genome:
        """Check ``genome`` against this space; return it with values in decision order."""
        if genome.space != self.name:
            raise GenomeError(f"genome is for space {genome.space!r}, not {self.name!r}")
        values = genome.as_dict()
        names = [d.name for d in self.decisions]
        missing = [n for n in names if n not in values]
        if missing:
            d = self.decision(missing[0])
            allowed = ", ".join(repr(o) for o in d.options)
            raise GenomeError(f"{self.name} genome is missing decision {d.name!r} "
                              f"(allowed: {allowed})")
        extra = [n for n in values if n not in names]
        if extra:
            raise GenomeError(f"{self.name} genome has unknown decision {extra[0]!r}; "
                              f"decisions: {', '.join(names)}")
        ordered = []
        for d in self.decisions:
            v = values[d.name]
            ordered.append((d.name, d.options[d.index(v)]))
        return Genome(self.name, tuple(ordered))

    def genome(self, values: Mapping[str, Value] | None = None, **kw: Value) -> Genome:
        """A validated genome from decision values."""
        return self.validate(Genome.of(self.name, {**(values or {}), **kw}))

    def from_indices(self, indices: Sequence[int]) -> Genome:
        """The genome whose i-th decision takes option ``indices[i]`` (controller tokens)."""
        return Genome(self.name, tuple((d.name, d.options[i])
                                       for d, i in zip(self.decisions, indices, strict=True)))

    def to_indices(self, genome: Genome) -> list[int]:
        return [d.index(genome[d.name]) for d in self.decisions]

    def sample(self, rng: random.Random) -> Genome:
        """A uniformly random genome (each decision independently)."""
        return self.from_indices([rng.randrange(len(d.options)) for d in self.decisions])

    def graph(self, genome: Genome, input_shape: Sequence[int] = (3, 32, 32),
              num_classes: int = 10) -> NetGraph:
        """The genome's layer graph for this input shape and class count (nothing runs)."""
        genome = self.validate(genome)
        nb = NetBuilder(input_shape, where=f"{self.name} {genome.id}")
        logits = self.describe(genome, nb, nb.input(), num_classes)
        return nb.build(logits, name=_class_name(self.name), space=self.name,
                        genome=genome.to_dict(), options=dict(self.options))

    def module(self, graph: NetGraph) -> nn.Module:
        """Compile a graph this space described (:meth:`graph`) into a freshly initialised
        ``nn.Module`` (a ``torch.fx.GraphModule``): describe once, then cost and build it."""
        if graph.meta.get("space") != self.name:
            raise ValueError(f"space {self.name!r} cannot build a graph described by "
                             f"{graph.meta.get('space')!r}")
        module = graph.to_module()
        self.init_weights(module)
        return module

    def build(self, genome: Genome, input_shape: Sequence[int] = (3, 32, 32),
              num_classes: int = 10) -> nn.Module:
        """The genome as a freshly initialised ``nn.Module`` (a ``torch.fx.GraphModule``)."""
        return self.module(self.graph(genome, input_shape, num_classes))

    def cells(self, genome: Genome) -> dict[str, nx.DiGraph]:
        """The genome's searched cells as small graphs to draw, by cell name (e.g. "normal").

        Nodes carry ``label`` (the text to print), ``kind`` (``input``, ``op``, ``combine`` or
        ``output``) and ``layer`` (a column: inputs 0, every node right of what it reads);
        :mod:`nas.results.diagrams` draws them. A space without repeated cells returns ``{}``, and
        reports show its layer table instead.
        """
        return {}

    def init_weights(self, module: nn.Module) -> None:  # noqa: B027 (optional hook)
        """Initialise a built module; by default PyTorch's own layer defaults are kept."""

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "options": dict(self.options)}


def kaiming_init(module: nn.Module,
                 conv_mode: Literal["fan_in", "fan_out"] = "fan_out") -> None:
    """torchvision's CNN initialisation: He-normal convs (``conv_mode`` fan), zero biases,
    batch norms at the identity, N(0, 0.01) linears (VGG, MobileNetV2, and the spaces that
    follow them)."""
    from torch import nn  # imported where modules are built: see nas.core.layers._torch

    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=conv_mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)


def _class_name(space: str) -> str:
    return "".join(p.capitalize() for p in space.replace("-", "_").split("_")) + "Net"


SPACES: Registry[type[Space]] = Registry("space", ("search_spaces",))
BASELINES: Registry[Baseline] = Registry("baseline", ("search_spaces", "search_spaces.classics"))


def register_space(cls: type[Space]) -> type[Space]:
    """Class decorator: register a space under its ``name``."""
    SPACES.register(cls.name, cls)
    return cls


def register_baseline(baseline: Baseline) -> Baseline:
    BASELINES.register(baseline.name, baseline)
    return baseline


def create_space(name: str, **options: Any) -> Space:
    return SPACES.get(name)(**options)


def get_space(name: str) -> Space:
    """The space ``name`` with its default options."""
    return create_space(name)


def list_spaces() -> list[str]:
    return SPACES.names()


def get_baseline(name: str) -> Baseline:
    return BASELINES.get(name)


def list_baselines() -> list[str]:
    return BASELINES.names()


def validate_genome(genome: Genome) -> Genome:
    """``genome`` checked against its registered space (values in decision order): where a
    genome enters from outside (a file, a checkpoint, a user), it is validated here, once."""
    return get_space(genome.space).validate(genome)


def load_genome(path: str | Path) -> Genome:
    """The genome in a JSON file, validated against its space."""
    return validate_genome(Genome.load(path))
