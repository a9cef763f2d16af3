"""The ``inception`` search space: GoogLeNet's stem, then stacked inception modules.

The lecture's rules (Szegedy et al., "Going deeper with convolutions", 2015; lectures 002-004):

* a **stem** shrinks the image before the expensive part: GoogLeNet's (7x7/2 conv 64, 3x3/2
  max pool, 1x1 conv 64, 3x3 conv 192, 3x3/2 max pool: 224 -> 28, lecture 002's table) or,
  for small images such as CIFAR's 32x32, a "small" stem that keeps almost all the detail
  (a 3x3/1 conv and one 3x3/2 max pool: 32 -> 16). GoogLeNet's stem would leave 4x4 for the
  modules; no pool at all would make them 4x as costly (GoogLeNet's nine modules cost 1.45 G
  multiply-adds at 32x32, 0.36 G at 16x16);
* an **inception module** runs four branches in parallel on the same input and concatenates
  them along channels: a 1x1 conv; a 1x1 "reduce" bottleneck then a 3x3 conv; a 1x1 reduce
  then a 5x5 conv; a 3x3/1 max pool then a 1x1 "pool projection". Every conv is followed by a
  ReLU (and by batch norm, when that decision is on), and the spatial size never changes
  inside a module;
* modules are stacked in **three groups** named after the paper's table (3, 4, 5), with a
  3x3/2 max pool between groups, then global average pooling, dropout and one linear layer
  (no large fully connected layers).

Searched, as a flat list of categorical decisions (the controller's tokens, in this order):
the stem, the stem's output width, batch norm on/off, then per group the number of modules
and, for each of that group's module slots, the six branch widths of the paper's table
(``#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj``). A group has a fixed maximum of
slots (:data:`MAX_MODULES`); the widths of slots beyond the chosen count are ignored. Every
width list contains the values GoogLeNet uses, so GoogLeNet is one genome of this space
(:mod:`search_spaces.classics.googlenet`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from nas.core.errors import GenomeError, NasError
from nas.core.genome import Genome, Value
from nas.core.netgraph import NetBuilder, T
from nas.core.space import Decision, Space, kaiming_init, register_space

if TYPE_CHECKING:  # torch is imported where modules are built (nas.core.layers)
    from torch import nn


class InceptionWidths(NamedTuple):
    """One module's filter counts, in the column order of the paper's table."""

    n1x1: int  # branch 1: 1x1 conv
    n3x3_reduce: int  # branch 2: 1x1 bottleneck ...
    n3x3: int  # ... then 3x3 conv
    n5x5_reduce: int  # branch 3: 1x1 bottleneck ...
    n5x5: int  # ... then 5x5 conv
    pool_proj: int  # branch 4: 3x3/1 max pool, then this 1x1 projection

    @property
    def out_channels(self) -> int:
        """Channels of the concatenated output (the bottlenecks are internal)."""
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


# The decision-name suffix of each width, in InceptionWidths order.
BRANCHES: tuple[str, ...] = ("1x1", "3x3_reduce", "3x3", "5x5_reduce", "5x5", "pool_proj")

# Options per width. Each list holds every value GoogLeNet uses in that column (the paper's
# table, lecture 004) plus smaller ones for small images; the columns keep GoogLeNet's
# proportions: the 3x3 branch is the widest, the 5x5 branch is narrow behind a narrow reduce.
WIDTHS: dict[str, tuple[int, ...]] = {
    "1x1": (32, 64, 96, 112, 128, 160, 192, 256, 384),
    "3x3_reduce": (32, 48, 64, 96, 112, 128, 144, 160, 192),
    "3x3": (64, 96, 128, 192, 208, 224, 256, 288, 320, 384),
    "5x5_reduce": (8, 16, 24, 32, 48),
    "5x5": (16, 32, 48, 64, 96, 128),
    "pool_proj": (16, 32, 64, 128),
}

# The groups, named as in the paper ("inception (3a)" ...), with their maximum module count.
# GoogLeNet uses 2, 5 and 2; the resolution halves between groups.
MAX_MODULES: dict[str, int] = {"3": 3, "4": 5, "5": 3}

STEMS: tuple[str, ...] = ("googlenet", "small")  # 224 -> 28 (/8), or 32 -> 16 (/2)
STEM_CHANNELS: tuple[int, ...] = (64, 128, 192)  # the stem's last conv; GoogLeNet: 192

# Widths given to unused module slots by :func:`inception_genome` (any value would do: they
# are ignored; fixing them keeps equal networks equal genomes).
UNUSED = InceptionWidths(*(WIDTHS[b][0] for b in BRANCHES))


def module_names(group: str, count: int) -> list[str]:
    """``["3a", "3b", ...]``: the paper's names of a group's first ``count`` modules."""
    return [f"{group}{chr(ord('a') + i)}" for i in range(count)]


def _decisions() -> tuple[Decision, ...]:
    decisions = [
        Decision("stem", STEMS, "googlenet: 7x7/2 conv, 3x3/2 pool, 1x1, 3x3, 3x3/2 pool "
                                "(/8, for ImageNet); small: 3x3/1 conv, 3x3/2 pool (/2, CIFAR)"),
        Decision("stem_channels", STEM_CHANNELS, "output channels of the stem's last conv"),
        Decision("batch_norm", (False, True), "batch norm after every conv (the paper has "
                                              "none; it predates batch norm)"),
    ]
    for group, most in MAX_MODULES.items():
        decisions.append(Decision(f"modules_{group}", tuple(range(1, most + 1)),
                                  f"inception modules in group {group}"))
        for module in module_names(group, most):
            for branch in BRANCHES:
                decisions.append(Decision(f"{module}.{branch}", WIDTHS[branch],
                                          f"#{branch.replace('_', ' ')} of module {module}"))
    return tuple(decisions)


def group_modules(genome: Genome) -> dict[str, list[InceptionWidths]]:
    """The genome's modules that are used, per group: ``{"3": [3a, 3b], "4": [...], ...}``."""
    groups: dict[str, list[InceptionWidths]] = {}
    for group in MAX_MODULES:
        count = genome[f"modules_{group}"]
        assert isinstance(count, int)
        groups[group] = [
            InceptionWidths(*(int(genome[f"{m}.{b}"]) for b in BRANCHES))
            for m in module_names(group, count)
        ]
    return groups


def inception_genome(groups: Mapping[str, Sequence[Sequence[int]]], *, stem: str = "googlenet",
                     stem_channels: int = 192, batch_norm: bool = False) -> Genome:
    """A validated genome from a readable architecture: ``{"3": [widths of 3a, 3b], ...}``.

    Each module's widths are the six numbers of a row of the paper's table; slots beyond a
    group's count get :data:`UNUSED`.
    """
    if set(groups) != set(MAX_MODULES):
        raise GenomeError(f"inception genome needs groups {sorted(MAX_MODULES)}, "
                          f"got {sorted(groups)}")
    values: dict[str, Value] = {"stem": stem, "stem_channels": stem_channels,
                                "batch_norm": batch_norm}
    for group, most in MAX_MODULES.items():
        modules = [InceptionWidths(*w) for w in groups[group]]
        if not 1 <= len(modules) <= most:
            raise GenomeError(f"inception group {group} takes 1 to {most} modules, "
                              f"got {len(modules)}")
        values[f"modules_{group}"] = len(modules)
        modules += [UNUSED] * (most - len(modules))
        for name, widths in zip(module_names(group, most), modules, strict=True):
            values.update({f"{name}.{b}": w for b, w in zip(BRANCHES, widths, strict=True)})
    return InceptionSpace().genome(values)


# --- layers --------------------------------------------------------------------------------


def _conv_relu(nb: NetBuilder, x: T, out_channels: int, kernel: int, stride: int = 1,
               padding: int = 0, *, batch_norm: bool, name: str) -> T:
    """conv (+ batch norm) + ReLU under scope ``name``: ``name.conv``, ``name.bn``.

    The conv has a bias only without batch norm (the norm's shift replaces it).
    """
    with nb.scope(name):
        x = nb.conv(x, out_channels, kernel, stride, padding, bias=not batch_norm, name="conv")
        if batch_norm:
            x = nb.bn(x, name="bn")
        return nb.act(x, "relu", name="relu")


def _stem(nb: NetBuilder, x: T, kind: str, channels: int, batch_norm: bool) -> T:
    if kind == "googlenet":  # lecture 002's stem table, at 224: 3x224 -> 64x112 -> ... -> Cx28
        x = _conv_relu(nb, x, 64, 7, 2, 3, batch_norm=batch_norm, name="conv1")  # 64x112
        x = nb.maxpool(x, 3, 2, 1, name="maxpool1")  # 64x56
        x = _conv_relu(nb, x, 64, 1, batch_norm=batch_norm, name="conv2")  # 64x56
        x = _conv_relu(nb, x, channels, 3, 1, 1, batch_norm=batch_norm, name="conv3")  # Cx56
        return nb.maxpool(x, 3, 2, 1, name="maxpool2")  # Cx28
    if kind == "small":  # CIFAR: 3x32 -> Cx32 -> Cx16, so the groups run at 16, 8 and 4
        x = _conv_relu(nb, x, channels, 3, 1, 1, batch_norm=batch_norm, name="conv1")
        return nb.maxpool(x, 3, 2, 1, name="maxpool1")
    raise AssertionError(f"unknown stem {kind!r}")  # validated against STEMS before


def _inception(nb: NetBuilder, x: T, w: InceptionWidths, batch_norm: bool) -> T:
    """Four parallel branches on ``x`` (C x H x W), concatenated: ``w.out_channels`` x H x W."""
    b1 = _conv_relu(nb, x, w.n1x1, 1, batch_norm=batch_norm, name="branch1")
    with nb.scope("branch2"):
        b2 = _conv_relu(nb, x, w.n3x3_reduce, 1, batch_norm=batch_norm, name="0")
        b2 = _conv_relu(nb, b2, w.n3x3, 3, 1, 1, batch_norm=batch_norm, name="1")
    with nb.scope("branch3"):
        b3 = _conv_relu(nb, x, w.n5x5_reduce, 1, batch_norm=batch_norm, name="0")
        b3 = _conv_relu(nb, b3, w.n5x5, 5, 1, 2, batch_norm=batch_norm, name="1")
    with nb.scope("branch4"):
        b4 = nb.maxpool(x, 3, 1, 1, name="0")  # keeps H x W, so the branches line up
        b4 = _conv_relu(nb, b4, w.pool_proj, 1, batch_norm=batch_norm, name="1")
    return nb.concat([b1, b2, b3, b4], name="concat")


# --- the space -----------------------------------------------------------------------------


@register_space
class InceptionSpace(Space):
    """Stem, three groups of inception modules with 3x3/2 max pools between, pool + linear.

    Option ``dropout`` (default 0.4, the paper's) is the dropout before the linear layer.
    """

    name = "inception"
    _DECISIONS = _decisions()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        p = self.options["dropout"]
        if not isinstance(p, int | float) or not 0 <= p < 1:
            raise NasError(f"inception option dropout must be a number in [0, 1), got {p!r}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {"dropout": 0.4}

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._DECISIONS

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        batch_norm = bool(genome["batch_norm"])
        stem_channels = genome["stem_channels"]
        assert isinstance(stem_channels, int)
        x = _stem(nb, x, str(genome["stem"]), stem_channels, batch_norm)
        for i, (group, modules) in enumerate(group_modules(genome).items()):
            if i:  # halve the resolution between groups: maxpool3 (28 -> 14), maxpool4 (-> 7)
                x = nb.maxpool(x, 3, 2, 1, name=f"maxpool{int(group) - 1}")
            for name, widths in zip(module_names(group, len(modules)), modules, strict=True):
                with nb.scope(f"inception{name}"):
                    x = _inception(nb, x, widths, batch_norm)
        x = nb.global_avgpool(x, name="avgpool")  # C x H x W -> C x 1 x 1 (7x7 at 224)
        x = nb.flatten(x, name="flatten")
        x = nb.dropout(x, float(self.options["dropout"]), name="dropout")
        return nb.linear(x, num_classes, name="fc")

    def init_weights(self, module: nn.Module) -> None:
        """He (fan-in) normal convs, zero biases, N(0, 0.01) linear.

        Without batch norm the network is 22 conv layers deep, and PyTorch's default conv
        init shrinks the signal ~6x in variance per conv + ReLU, so the logits of a fresh
        network would be ~0; fan-in He init keeps each branch's output variance, and
        concatenation keeps it per channel.
        """
        kaiming_init(module, conv_mode="fan_in")
