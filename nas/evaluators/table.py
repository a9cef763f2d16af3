"""Tabular benchmarks: a child's "training" is a look-up in a table of published results.

NAS-Bench-201 (Dong & Yang, 2020) trained every one of its 15,625 cells; given the table, a
controller can be measured in seconds instead of GPU-months. A table is a CSV file with a
column ``arch`` (the space's arch string, e.g. ``|nor_conv_3x3~0|+|...|``) and a column
``test_accuracy`` (percent); other columns are ignored. Any space that can read and write arch
strings (:class:`TabularSpace`) can be benchmarked from such a file, and the published
NAS-Bench-201 CIFAR-10 table ships with the package (:func:`shipped_table`).

Every problem with a table is one clear :class:`~nas.core.errors.NasError`: a missing file, missing
columns, an arch string that does not parse, an accuracy that is not a number, an arch listed
twice, and, at query time, an arch the table does not have.
"""

from __future__ import annotations

import csv
import importlib.resources
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from nas.core.cost import totals
from nas.core.errors import NasError
from nas.core.genome import Genome
from nas.core.space import Space, create_space
from nas.evaluators.base import BatchEvaluator, Context, Evaluation, register_evaluator

ARCH_COLUMN = "arch"
ACCURACY_COLUMN = "test_accuracy"

# space name -> the table that ships in nas/tables/ for it
SHIPPED_TABLES = {"nasbench201": "nb201_cifar10.csv"}


@runtime_checkable
class TabularSpace(Protocol):
    """A space whose genomes have a string form that a table can be keyed by."""

    name: str

    def to_arch_str(self, genome: Genome) -> str: ...

    def from_arch_str(self, text: str) -> Genome: ...


def shipped_table(space: str) -> Path:
    """The path of the table that ships with ``nas`` for ``space``."""
    if space not in SHIPPED_TABLES:
        known = ", ".join(sorted(SHIPPED_TABLES))
        raise NasError(f"no table ships for space {space!r} (tables ship for: {known}); "
                       f"pass --table FILE")
    resource = importlib.resources.files("nas").joinpath("tables", SHIPPED_TABLES[space])
    return Path(str(resource))


def _tabular_space(space: Space | str) -> Space:
    space = create_space(space) if isinstance(space, str) else space
    if not isinstance(space, TabularSpace):
        raise NasError(f"space {space.name!r} has no arch strings (to_arch_str / "
                       f"from_arch_str), so it cannot be read from a table")
    return space


# (resolved path, mtime, size, space) -> table: parsing 15,625 arch strings takes ~1 s, and a
# benchmark or a test suite loads the same file many times
_CACHE: dict[tuple[str, int, int, str], dict[Genome, float]] = {}


def load_table(path: str | Path, space: Space | str = "nasbench201") -> dict[Genome, float]:
    """Read a table as genome -> test accuracy (%); raises NasError on any malformed row."""
    path = Path(path)
    sp = _tabular_space(space)
    if not path.is_file():
        raise NasError(f"table file not found: {path}")
    stat = path.stat()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, sp.name)
    if key not in _CACHE:
        _CACHE[key] = _parse(path, sp)
    return _CACHE[key]


def _parse(path: Path, space: Space) -> dict[Genome, float]:
    assert isinstance(space, TabularSpace)
    table: dict[Genome, float] = {}
    line_of: dict[Genome, int] = {}
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = reader.fieldnames or []
            if ARCH_COLUMN not in columns or ACCURACY_COLUMN not in columns:
                shown = ",".join(columns) if columns else "none (empty file)"
                raise NasError(f"table {path} has columns {shown}; expected "
                               f"{ARCH_COLUMN},{ACCURACY_COLUMN}")
            for row in reader:
                line = reader.line_num
                arch, value = row[ARCH_COLUMN], row[ACCURACY_COLUMN]
                if arch is None or value is None:
                    raise NasError(f"table {path} line {line}: missing {ARCH_COLUMN} or "
                                   f"{ACCURACY_COLUMN} value")
                try:
                    genome = space.from_arch_str(arch)
                except NasError as e:
                    raise NasError(f"table {path} line {line}: {e}") from None
                try:
                    accuracy = float(value)
                except ValueError:
                    accuracy = math.nan
                if not math.isfinite(accuracy):
                    raise NasError(f"table {path} line {line}: {ACCURACY_COLUMN} {value!r} is "
                                   f"not a number")
                if genome in table:
                    raise NasError(f"table {path} line {line}: arch {arch} is listed again "
                                   f"(first on line {line_of[genome]})")
                table[genome] = accuracy
                line_of[genome] = line
    except UnicodeDecodeError:
        raise NasError(f"table {path} is not a UTF-8 text CSV file") from None
    except csv.Error as e:
        raise NasError(f"table {path} is not a valid CSV file ({e})") from None
    if not table:
        raise NasError(f"table {path} has no rows")
    return table


class Table:
    """A table of published results, keyed by genome (see the module docstring).

    ``metrics(genome)`` answers like the trainer's ``Result.metrics()``: ``accuracy`` (%), and
    with ``costs=True`` also the network's exact ``params`` and ``macs`` from the cost model
    (for cost-aware controllers; computed once per genome).
    """

    def __init__(self, path: str | Path, space: Space | str = "nasbench201",
                 input_shape: tuple[int, int, int] = (3, 32, 32), num_classes: int = 10) -> None:
        self.space = _tabular_space(space)
        self.path = Path(path)
        self.table = load_table(self.path, self.space)
        self.input_shape = input_shape  # for the costs: CIFAR-10's images and classes
        self.num_classes = num_classes
        self._costs: dict[Genome, dict[str, float]] = {}

    def __len__(self) -> int:
        return len(self.table)

    def __iter__(self) -> Iterator[Genome]:
        return iter(self.table)

    def accuracy(self, genome: Genome) -> float:
        """The table's test accuracy (%) for ``genome``; NasError if it is not listed."""
        genome = self.space.validate(genome)
        try:
            return self.table[genome]
        except KeyError:
            assert isinstance(self.space, TabularSpace)
            arch = self.space.to_arch_str(genome)
            raise NasError(f"arch {arch} is not in table {self.path} ({len(self.table)} "
                           f"archs); use a complete table for this space") from None

    def metrics(self, genome: Genome, costs: bool = False) -> dict[str, float]:
        out = {"accuracy": self.accuracy(genome)}
        if costs:
            out.update(self.costs(genome))
        return out

    def costs(self, genome: Genome) -> dict[str, float]:
        """Exact ``params`` and ``macs`` (multiply-adds) of the genome's network."""
        if genome not in self._costs:
            graph = self.space.graph(genome, self.input_shape, self.num_classes)
            self._costs[genome] = totals(graph).metrics()
        return self._costs[genome]

    def best(self) -> tuple[Genome, float]:
        """The table's best genome and its accuracy (the optimum a search can reach)."""
        genome = max(self.table, key=self.table.__getitem__)
        return genome, self.table[genome]


@dataclass
class TableConfig:
    table: str | None = None  # a CSV with columns arch,test_accuracy; None: the one that ships


@register_evaluator
class TableEvaluator(BatchEvaluator):
    """A child's "training" is a look-up: its accuracy in a table of published results.

    The table's accuracy is what the run's objective and the controller see, so a whole
    search (or a controller benchmark, ``nas benchmark``) takes seconds; costs (parameters,
    multiply-adds) come from the exact cost model when the run asks for them. The networks are
    the table's: CIFAR-10's 3x32x32 images and 10 classes.
    """

    name = "table"
    Config = TableConfig
    summary = "look each child up in a table of published results (NAS-Bench-201): seconds"
    config: TableConfig

    def __init__(self, context: Context, **options: Any) -> None:
        super().__init__(context, **options)
        self.table: Table | None = None

    def open(self) -> None:
        path = self.config.table or shipped_table(self.context.space.name)
        self.table = Table(path, self.context.space)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (3, 32, 32)

    @property
    def num_classes(self) -> int:
        return 10

    def evaluate(self, genomes: Sequence[Genome]) -> list[Evaluation]:
        assert self.table is not None, "open() first"
        costs = bool(set(self.context.metrics) - {"accuracy"})
        return [Evaluation(metrics=self.table.metrics(g, costs=costs),
                           detail={"table": str(self.table.path)}) for g in genomes]

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "table": str(self.table.path) if self.table else None}
