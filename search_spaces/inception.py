"""The ``inception`` search space: a stem, then three groups of inception modules with a grid
reduction between groups -- GoogLeNet, Inception-v3, Inception-v4 and Inception-ResNet-v2.

The lecture's rules (Szegedy et al., "Going deeper with convolutions", 2015; lectures 002-004):

* a **stem** shrinks the image before the expensive part;
* an **inception module** runs parallel branches on the same input and concatenates them along
  channels: GoogLeNet's are a 1x1 conv; a 1x1 "reduce" bottleneck then a 3x3 conv; a 1x1
  reduce then a 5x5 conv; a 3x3/1 max pool then a 1x1 "pool projection". Every conv is
  followed by a ReLU (and by batch norm, when that decision is on), and the spatial size never
  changes inside a module;
* modules are stacked in **three groups** named after GoogLeNet's table (3, 4, 5) with a
  resolution-halving **reduction** between groups, then global average pooling, dropout and one
  linear layer (no large fully connected layers).

The later networks of the family keep that plan and change the pieces (Szegedy et al.,
"Rethinking the Inception architecture", 2016, and "Inception-v4, Inception-ResNet and the
impact of residual connections", 2017; lecture 001's Inception-v4): factorised convolutions
(5x5 as two 3x3, 7x7 as 1x7 then 7x1), grid reductions that run strided convolutions beside
the pool instead of a lone max pool, and in Inception-ResNet residual modules (the
concatenated branches go through a 1x1 conv back to the input width and are *added* to the
input). So a group's module **kind** is a decision:

* ``v1`` -- GoogLeNet's module, its six widths searched per module (below);
* ``v3`` -- Inception-v3's: InceptionA (35x35 in the paper), InceptionC (17x17, factorised 7x7
  convs of ``c7`` channels) and InceptionE (8x8, expanded 1x3 / 3x1 branches), for groups 3, 4
  and 5;
* ``v4`` -- Inception-v4's Inception-A, -B and -C;
* ``resnet`` -- Inception-ResNet-v2's Block35, Block17 and Block8 (residual, scaled by 0.17,
  0.10 and 0.20; the last Block8 of group 5 has no ReLU and is followed by a 1x1 conv to 1536
  channels);

and so is each **reduction** (before groups 4 and 5): ``maxpool`` (GoogLeNet's 3x3/2), or the
grid reduction of ``v3`` (InceptionB, InceptionD), ``v4`` (Reduction-A with k, l, m, n = 192,
224, 256, 384, and Reduction-B) or ``resnet`` (Inception-ResNet-v2's Mixed_6a, Mixed_7a). The
kinds' widths are the papers' (they are what each module *is*), except two that vary within
Inception-v3: InceptionA's ``pool_features`` is the module slot's ``pool_proj`` width and
InceptionC's ``c7`` its ``3x3_reduce`` width.

Searched, as a flat list of categorical decisions (the controller's tokens, in this order):
the stem's output width (GoogLeNet and small stems), batch norm on/off, the kernel of the
third branch of ``v1`` modules (the paper's 5, or torchvision's 3), a ``width`` multiplier
(1/4, 1/2, 1) of every conv in the fixed-width kinds' modules and reductions (MnasNet-style:
at 1 they are the papers' modules, and uniform samples are not all 1000-channel networks on
32x32 inputs), then per group its
reduction (groups 4 and 5), its module kind, its number of modules and, for each of its
module slots, the six widths of GoogLeNet's table (``#1x1, #3x3 reduce, #3x3, #5x5 reduce,
#5x5, pool proj``). A group has a fixed number of width slots (:data:`MAX_MODULES`); with
more modules than slots the last slot's widths repeat, and the widths of unused slots are
ignored. The module counts hold the classics' (GoogLeNet 2-5-2, Inception-v3 3-4-2,
Inception-v4 4-7-3, Inception-ResNet-v2 10-20-10).

Network-level **options** (not searched): the ``stem``, chosen for the input size as NASNet's
skeleton is -- ``small`` (default; a 3x3/1 conv and a 3x3/2 max pool, 32 -> 16, for CIFAR),
``googlenet`` (224 -> 28, lecture 002's table), ``inception_v3`` (299 -> 35, 192 channels),
``inception_v4`` (299 -> 35, 384) or ``inception_resnet_v2`` (Inception-v3's stem and the
Mixed_5b module, 299 -> 35, 320); ``pools`` -- GoogLeNet's max pools padded (``pad``, the
paper's and lecture's sizes) or in ceil mode without padding (``ceil``: torchvision's
GoogLeNet, whose last reduction is also a 2x2 pool); and the ``dropout`` before the linear
layer.

Convolutions are torchvision's ``BasicConv2d`` (conv without bias, batch norm with eps 0.001,
ReLU), named ``<name>.conv`` / ``<name>.bn`` with torchvision's names for GoogLeNet and
Inception-v3 (``inception3a.branch2.1``, ``Mixed_5b.branch5x5_1`` ...), so torchvision's
weights load by key. A strided conv or pool without padding on an input whose size the stride
does not fit reads it as PyTorch does -- ignoring the last row and column, which are cropped
first (our builder otherwise rejects a stride that skips pixels) -- so Inception-v3 runs at
224 exactly as torchvision's does; and a map smaller than such a window (the 8x8 digits after
two reductions) is padded to fit it, so every genome builds on small inputs too.
Inception-ResNet's residual scaling has no layer of its own in our vocabulary: it is folded
into the initialisation of each up-projection (``scale * (W x + b)`` is a conv with weights
``scale * W``), which gives the same function at initialisation and the same set of
functions, but not the paper's gradient scale.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
# Inception-v3's pool_features (32, 64) and c7 (128, 160, 192) are in pool_proj / 3x3_reduce.
WIDTHS: dict[str, tuple[int, ...]] = {
    "1x1": (32, 64, 96, 112, 128, 160, 192, 256, 384),
    "3x3_reduce": (32, 48, 64, 96, 112, 128, 144, 160, 192),
    "3x3": (64, 96, 128, 192, 208, 224, 256, 288, 320, 384),
    "5x5_reduce": (8, 16, 24, 32, 48),
    "5x5": (16, 32, 48, 64, 96, 128),
    "pool_proj": (16, 32, 64, 128),
}

# The groups, named as in GoogLeNet's table ("inception (3a)" ...), with their width slots.
MAX_MODULES: dict[str, int] = {"3": 3, "4": 5, "5": 3}
# Modules per group: small counts to search, and the classics' (v1 2-5-2, v3 3-4-2, v4 4-7-3,
# Inception-ResNet-v2 10-20-10).
MODULE_COUNTS: dict[str, tuple[int, ...]] = {
    "3": (1, 2, 3, 4, 10),
    "4": (1, 2, 3, 4, 5, 7, 20),
    "5": (1, 2, 3, 10),
}
KINDS: tuple[str, ...] = ("v1", "v3", "v4", "resnet")  # a group's module kind
REDUCTIONS: tuple[str, ...] = ("maxpool", "v3", "v4", "resnet")  # what halves the grid
STEMS: tuple[str, ...] = ("small", "googlenet", "inception_v3", "inception_v4",
                          "inception_resnet_v2")
POOLS: tuple[str, ...] = ("pad", "ceil")  # GoogLeNet's max pools: the paper's, torchvision's
WIDTH_MULTIPLIERS: tuple[float, ...] = (0.25, 0.5, 1.0)  # fixed-width kinds: see the module
STEM_CHANNELS: tuple[int, ...] = (64, 128, 192)  # the GoogLeNet / small stem's last conv
BN_EPS = 0.001  # torchvision's and TF's BasicConv2d
RESIDUAL_SCALE = {"block35": 0.17, "block17": 0.10, "block8": 0.20}  # Inception-ResNet-v2

# Widths given to unused module slots by :func:`inception_genome` (any value would do: they
# are ignored; fixing them keeps equal networks equal genomes).
UNUSED = InceptionWidths(*(WIDTHS[b][0] for b in BRANCHES))


def module_names(group: str, count: int) -> list[str]:
    """``["3a", "3b", ...]``: the paper's names of a group's first ``count`` modules."""
    return [f"{group}{chr(ord('a') + i)}" for i in range(count)]


def _decisions() -> tuple[Decision, ...]:
    decisions = [
        Decision("stem_channels", STEM_CHANNELS, "output channels of the GoogLeNet or small "
                                                 "stem's last conv"),
        Decision("batch_norm", (False, True), "batch norm after every conv (GoogLeNet has "
                                              "none; it predates batch norm)"),
        Decision("branch3_kernel", (5, 3), "kernel of a v1 module's third branch (the "
                                           "paper's 5x5; torchvision's GoogLeNet: 3x3)"),
        Decision("width", WIDTH_MULTIPLIERS, "width multiplier of the v3 / v4 / resnet "
                                             "modules and reductions (the papers': 1)"),
    ]
    for group, most in MAX_MODULES.items():
        if group != "3":
            decisions.append(Decision(f"reduce_{group}", REDUCTIONS,
                                      f"the grid reduction before group {group}"))
        decisions.append(Decision(f"kind_{group}", KINDS, f"the module kind of group {group}"))
        decisions.append(Decision(f"modules_{group}", MODULE_COUNTS[group],
                                  f"inception modules in group {group}"))
        for module in module_names(group, most):
            for branch in BRANCHES:
                decisions.append(Decision(f"{module}.{branch}", WIDTHS[branch],
                                          f"#{branch.replace('_', ' ')} of module {module}"))
    return tuple(decisions)


def group_modules(genome: Genome) -> dict[str, list[InceptionWidths]]:
    """Each group's modules' widths: ``{"3": [3a, 3b], "4": [...], ...}``; with more modules
    than width slots, the last slot's widths repeat."""
    groups: dict[str, list[InceptionWidths]] = {}
    for group, most in MAX_MODULES.items():
        count = int(genome[f"modules_{group}"])
        slots = module_names(group, most)
        groups[group] = [
            InceptionWidths(*(int(genome[f"{slots[min(i, most - 1)]}.{b}"]) for b in BRANCHES))
            for i in range(count)
        ]
    return groups


def inception_genome(groups: Mapping[str, Sequence[Sequence[int]]], *, stem_channels: int = 192,
                     batch_norm: bool = False, branch3_kernel: int = 5,
                     kinds: Mapping[str, str] | None = None,
                     reductions: Mapping[str, str] | None = None,
                     counts: Mapping[str, int] | None = None) -> Genome:
    """A validated genome from a readable architecture: ``{"3": [widths of 3a, 3b], ...}``.

    Each module's widths are the six numbers of a row of GoogLeNet's table; slots beyond a
    group's modules get :data:`UNUSED`. ``kinds`` and ``reductions`` default to GoogLeNet's
    (``v1``, ``maxpool``); ``counts`` (default: the number of width rows) may exceed the rows
    for kinds whose widths are fixed.
    """
    if set(groups) != set(MAX_MODULES):
        raise GenomeError(f"inception genome needs groups {sorted(MAX_MODULES)}, "
                          f"got {sorted(groups)}")
    values: dict[str, Value] = {"stem_channels": stem_channels, "batch_norm": batch_norm,
                                "branch3_kernel": branch3_kernel, "width": 1.0}
    for group, most in MAX_MODULES.items():
        modules = [InceptionWidths(*w) for w in groups[group]]
        if len(modules) > most:
            raise GenomeError(f"inception group {group} has {most} width slots, got "
                              f"{len(modules)} rows")
        if group != "3":
            values[f"reduce_{group}"] = (reductions or {}).get(group, "maxpool")
        values[f"kind_{group}"] = (kinds or {}).get(group, "v1")
        values[f"modules_{group}"] = (counts or {}).get(group, len(modules))
        modules += [UNUSED] * (most - len(modules))
        for name, widths in zip(module_names(group, most), modules, strict=True):
            values.update({f"{name}.{b}": w for b, w in zip(BRANCHES, widths, strict=True)})
    return InceptionSpace().genome(values)


@dataclass(frozen=True)
class Convs:
    """How a module's convolutions are built: with batch norm or not, and a width multiplier
    for the fixed-width kinds (1 for GoogLeNet's modules, whose widths are searched)."""

    bn: bool  # batch norm after every conv (then the conv has no bias)
    scale: float = 1.0  # the ``width`` decision, for v3 / v4 / resnet modules

    def width(self, channels: int) -> int:
        """``channels`` times the multiplier (at least 8; exact at 1)."""
        return channels if self.scale == 1 else max(8, round(channels * self.scale))


# --- layers --------------------------------------------------------------------------------


def basic_conv(nb: NetBuilder, x: T, out_channels: int, kernel: int | tuple[int, int],
               stride: int = 1, padding: int | tuple[int, int] = 0, *, c: Convs,
               name: str) -> T:
    """torchvision's ``BasicConv2d`` under scope ``name``: ``name.conv`` (``c.width(out)``
    filters; no bias with batch norm), ``name.bn`` (eps 0.001), ReLU. A stride the input does
    not fit drops the last rows and columns first, as PyTorch's floor rounding does; a map
    smaller than an unpadded window is padded to fit it (see :func:`fit_small`)."""
    with nb.scope(name):
        padding = fit_small(x, kernel, padding)
        x = fit_stride(nb, x, kernel, stride, padding)
        x = nb.conv(x, c.width(out_channels), kernel, stride, padding, bias=not c.bn,
                    name="conv")
        if c.bn:
            x = nb.bn(x, eps=BN_EPS, name="bn")
        return nb.act(x, "relu", name="relu")


def fit_stride(nb: NetBuilder, x: T, kernel: int | tuple[int, int], stride: int,
               padding: int | tuple[int, int] = 0, name: str = "crop") -> T:
    """Crop the trailing rows / columns a strided window never reads (PyTorch ignores them;
    our builder rejects a stride that skips pixels). The identity when the stride fits."""
    if stride == 1:
        return x
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    h, w = x.hw
    dh, dw = (max(0, (h + 2 * ph - kh) % stride - ph), max(0, (w + 2 * pw - kw) % stride - pw))
    return nb.pad(x, (0, -dw, 0, -dh), name=name) if dh or dw else x


def fit_small(x: T, kernel: int | tuple[int, int], padding: int | tuple[int, int]
              ) -> tuple[int, int]:
    """The padding, raised where the map is smaller than the window: the grid reductions'
    unpadded 3x3/2 convs and pools then give a 1x1 map instead of none. Only tiny inputs (8x8
    digits) meet it; at the networks' design inputs nothing changes."""
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    h, w = x.hw
    return max(ph, (kh - h + 1) // 2), max(pw, (kw - w + 1) // 2)


def max_pool_s2(nb: NetBuilder, x: T, name: str) -> T:
    """A 3x3/2 max pool without padding (the grid reductions' pool branch; on a map smaller
    than 3x3, padded to fit)."""
    ph, pw = fit_small(x, 3, 0)
    if ph or pw:
        return nb.maxpool(x, 3, 2, 1, name=name)  # a 1x1 or 2x2 map -> 1x1
    return nb.maxpool(fit_stride(nb, x, 3, 2, name=f"{name}_crop"), 3, 2, name=name)


def avg_pool_3x3(nb: NetBuilder, x: T, name: str, count_include_pad: bool = True) -> T:
    """A 3x3/1 average pool padded by 1 (keeps the size): the pool branch of v3/v4 modules."""
    return nb.avgpool(x, 3, 1, 1, count_include_pad=count_include_pad, name=name)


# --- GoogLeNet's module and stems --------------------------------------------------------------


def inception_v1(nb: NetBuilder, x: T, w: InceptionWidths, c: Convs, kernel3: int = 5) -> T:
    """Four parallel branches on ``x`` (C x H x W), concatenated: ``w.out_channels`` x H x W."""
    b1 = basic_conv(nb, x, w.n1x1, 1, c=c, name="branch1")
    with nb.scope("branch2"):
        b2 = basic_conv(nb, x, w.n3x3_reduce, 1, c=c, name="0")
        b2 = basic_conv(nb, b2, w.n3x3, 3, 1, 1, c=c, name="1")
    with nb.scope("branch3"):
        b3 = basic_conv(nb, x, w.n5x5_reduce, 1, c=c, name="0")
        b3 = basic_conv(nb, b3, w.n5x5, kernel3, 1, kernel3 // 2, c=c, name="1")
    with nb.scope("branch4"):
        b4 = nb.maxpool(x, 3, 1, 1, name="0")  # keeps H x W, so the branches line up
        b4 = basic_conv(nb, b4, w.pool_proj, 1, c=c, name="1")
    return nb.concat([b1, b2, b3, b4], name="concat")


def _googlenet_pool(nb: NetBuilder, x: T, pools: str, name: str, kernel: int = 3) -> T:
    """GoogLeNet's 3x3/2 max pool: padded by 1 (the paper's sizes) or in ceil mode."""
    if pools == "ceil":
        return nb.maxpool(x, kernel, 2, ceil_mode=True, name=name)
    return nb.maxpool(x, 3, 2, 1, name=name)


def _stem(nb: NetBuilder, x: T, kind: str, channels: int, c: Convs, pools: str) -> T:
    if kind == "googlenet":  # lecture 002's stem table, at 224: 3x224 -> 64x112 -> ... -> Cx28
        x = basic_conv(nb, x, 64, 7, 2, 3, c=c, name="conv1")  # 64x112
        x = _googlenet_pool(nb, x, pools, "maxpool1")  # 64x56
        x = basic_conv(nb, x, 64, 1, c=c, name="conv2")  # 64x56
        x = basic_conv(nb, x, channels, 3, 1, 1, c=c, name="conv3")  # Cx56
        return _googlenet_pool(nb, x, pools, "maxpool2")  # Cx28
    if kind == "small":  # CIFAR: 3x32 -> Cx32 -> Cx16, so the groups run at 16, 7 (8) and 3 (4)
        x = basic_conv(nb, x, channels, 3, 1, 1, c=c, name="conv1")
        return nb.maxpool(x, 3, 2, 1, name="maxpool1")
    if kind == "inception_v3":  # torchvision's names; 3x299 -> 192x35
        return _v3_stem(nb, x, c)
    if kind == "inception_resnet_v2":  # the same stem (TF-slim), then Mixed_5b: 320x35
        x = _v3_stem(nb, x, c, names=("conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a",
                                       "conv2d_3b", "conv2d_4a", "maxpool_5a"))
        with nb.scope("mixed_5b"):
            b0 = basic_conv(nb, x, 96, 1, c=c, name="branch0")
            with nb.scope("branch1"):
                b1 = basic_conv(nb, x, 48, 1, c=c, name="0")
                b1 = basic_conv(nb, b1, 64, 5, 1, 2, c=c, name="1")
            with nb.scope("branch2"):
                b2 = basic_conv(nb, x, 64, 1, c=c, name="0")
                b2 = basic_conv(nb, b2, 96, 3, 1, 1, c=c, name="1")
                b2 = basic_conv(nb, b2, 96, 3, 1, 1, c=c, name="2")
            with nb.scope("branch3"):
                b3 = avg_pool_3x3(nb, x, "0", count_include_pad=False)
                b3 = basic_conv(nb, b3, 64, 1, c=c, name="1")
            return nb.concat([b0, b1, b2, b3], name="concat")
    assert kind == "inception_v4"  # Szegedy et al. 2017, Fig. 3: 3x299 -> 384x35
    with nb.scope("stem"):
        x = basic_conv(nb, x, 32, 3, 2, c=c, name="conv1")  # 32x149
        x = basic_conv(nb, x, 32, 3, c=c, name="conv2")  # 32x147
        x = basic_conv(nb, x, 64, 3, 1, 1, c=c, name="conv3")  # 64x147
        with nb.scope("mixed_3a"):  # 160x73
            x = nb.concat([max_pool_s2(nb, x, "pool"),
                           basic_conv(nb, x, 96, 3, 2, c=c, name="conv")], name="concat")
        with nb.scope("mixed_4a"):  # 192x71
            with nb.scope("branch0"):
                b0 = basic_conv(nb, x, 64, 1, c=c, name="0")
                b0 = basic_conv(nb, b0, 96, 3, c=c, name="1")
            with nb.scope("branch1"):
                b1 = basic_conv(nb, x, 64, 1, c=c, name="0")
                b1 = basic_conv(nb, b1, 64, (1, 7), 1, (0, 3), c=c, name="1")
                b1 = basic_conv(nb, b1, 64, (7, 1), 1, (3, 0), c=c, name="2")
                b1 = basic_conv(nb, b1, 96, 3, c=c, name="3")
            x = nb.concat([b0, b1], name="concat")
        with nb.scope("mixed_5a"):  # 384x35
            return nb.concat([basic_conv(nb, x, 192, 3, 2, c=c, name="conv"),
                              max_pool_s2(nb, x, "pool")], name="concat")


def _v3_stem(nb: NetBuilder, x: T, c: Convs, names: Sequence[str] = (
        "Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "maxpool1", "Conv2d_3b_1x1",
        "Conv2d_4a_3x3", "maxpool2")) -> T:
    """Inception-v3's stem (torchvision's names by default): 3x299 -> 192x35."""
    x = basic_conv(nb, x, 32, 3, 2, c=c, name=names[0])  # 32x149
    x = basic_conv(nb, x, 32, 3, c=c, name=names[1])  # 32x147
    x = basic_conv(nb, x, 64, 3, 1, 1, c=c, name=names[2])  # 64x147
    x = max_pool_s2(nb, x, names[3])  # 64x73
    x = basic_conv(nb, x, 80, 1, c=c, name=names[4])  # 80x73
    x = basic_conv(nb, x, 192, 3, c=c, name=names[5])  # 192x71
    return max_pool_s2(nb, x, names[6])  # 192x35


# --- Inception-v3's modules (torchvision's InceptionA-E) -------------------------------------


def v3_a(nb: NetBuilder, x: T, pool_features: int, c: Convs) -> T:
    """InceptionA: 1x1 | 1x1, 5x5 | 1x1, 3x3, 3x3 | avg pool, 1x1 -> 224 + pool_features."""
    b1 = basic_conv(nb, x, 64, 1, c=c, name="branch1x1")
    b5 = basic_conv(nb, x, 48, 1, c=c, name="branch5x5_1")
    b5 = basic_conv(nb, b5, 64, 5, 1, 2, c=c, name="branch5x5_2")
    b3 = basic_conv(nb, x, 64, 1, c=c, name="branch3x3dbl_1")
    b3 = basic_conv(nb, b3, 96, 3, 1, 1, c=c, name="branch3x3dbl_2")
    b3 = basic_conv(nb, b3, 96, 3, 1, 1, c=c, name="branch3x3dbl_3")
    bp = basic_conv(nb, avg_pool_3x3(nb, x, "pool"), pool_features, 1, c=c,
                    name="branch_pool")
    return nb.concat([b1, b5, b3, bp], name="concat")


def v3_b(nb: NetBuilder, x: T, c: Convs) -> T:
    """InceptionB, the 35 -> 17 grid reduction: 3x3/2 | 1x1, 3x3, 3x3/2 | max pool."""
    b3 = basic_conv(nb, x, 384, 3, 2, c=c, name="branch3x3")
    bd = basic_conv(nb, x, 64, 1, c=c, name="branch3x3dbl_1")
    bd = basic_conv(nb, bd, 96, 3, 1, 1, c=c, name="branch3x3dbl_2")
    bd = basic_conv(nb, bd, 96, 3, 2, c=c, name="branch3x3dbl_3")
    return nb.concat([b3, bd, max_pool_s2(nb, x, "pool")], name="concat")


def v3_c(nb: NetBuilder, x: T, c7: int, c: Convs) -> T:
    """InceptionC: 7x7 convs factorised into 1x7 and 7x1 on ``c7`` channels -> 768."""
    b1 = basic_conv(nb, x, 192, 1, c=c, name="branch1x1")
    b7 = basic_conv(nb, x, c7, 1, c=c, name="branch7x7_1")
    b7 = basic_conv(nb, b7, c7, (1, 7), 1, (0, 3), c=c, name="branch7x7_2")
    b7 = basic_conv(nb, b7, 192, (7, 1), 1, (3, 0), c=c, name="branch7x7_3")
    bd = basic_conv(nb, x, c7, 1, c=c, name="branch7x7dbl_1")
    for i, (out, k) in enumerate(((c7, (7, 1)), (c7, (1, 7)), (c7, (7, 1)), (192, (1, 7))),
                                 start=2):
        pad = (k[0] // 2, k[1] // 2)
        bd = basic_conv(nb, bd, out, k, 1, pad, c=c, name=f"branch7x7dbl_{i}")
    bp = basic_conv(nb, avg_pool_3x3(nb, x, "pool"), 192, 1, c=c, name="branch_pool")
    return nb.concat([b1, b7, bd, bp], name="concat")


def v3_d(nb: NetBuilder, x: T, c: Convs) -> T:
    """InceptionD, the 17 -> 8 grid reduction: 1x1, 3x3/2 | 1x1, 1x7, 7x1, 3x3/2 | max pool."""
    b3 = basic_conv(nb, x, 192, 1, c=c, name="branch3x3_1")
    b3 = basic_conv(nb, b3, 320, 3, 2, c=c, name="branch3x3_2")
    b7 = basic_conv(nb, x, 192, 1, c=c, name="branch7x7x3_1")
    b7 = basic_conv(nb, b7, 192, (1, 7), 1, (0, 3), c=c, name="branch7x7x3_2")
    b7 = basic_conv(nb, b7, 192, (7, 1), 1, (3, 0), c=c, name="branch7x7x3_3")
    b7 = basic_conv(nb, b7, 192, 3, 2, c=c, name="branch7x7x3_4")
    return nb.concat([b3, b7, max_pool_s2(nb, x, "pool")], name="concat")


def v3_e(nb: NetBuilder, x: T, c: Convs) -> T:
    """InceptionE: 1x1 | 1x1, (1x3 | 3x1) | 1x1, 3x3, (1x3 | 3x1) | avg pool, 1x1 -> 2048."""
    b1 = basic_conv(nb, x, 320, 1, c=c, name="branch1x1")
    b3 = basic_conv(nb, x, 384, 1, c=c, name="branch3x3_1")
    b3 = nb.concat([basic_conv(nb, b3, 384, (1, 3), 1, (0, 1), c=c, name="branch3x3_2a"),
                    basic_conv(nb, b3, 384, (3, 1), 1, (1, 0), c=c, name="branch3x3_2b")],
                   name="concat3x3")
    bd = basic_conv(nb, x, 448, 1, c=c, name="branch3x3dbl_1")
    bd = basic_conv(nb, bd, 384, 3, 1, 1, c=c, name="branch3x3dbl_2")
    bd = nb.concat([basic_conv(nb, bd, 384, (1, 3), 1, (0, 1), c=c, name="branch3x3dbl_3a"),
                    basic_conv(nb, bd, 384, (3, 1), 1, (1, 0), c=c, name="branch3x3dbl_3b")],
                   name="concat3x3dbl")
    bp = basic_conv(nb, avg_pool_3x3(nb, x, "pool"), 192, 1, c=c, name="branch_pool")
    return nb.concat([b1, b3, bd, bp], name="concat")


# --- Inception-v4's modules (Szegedy et al. 2017, Figs. 4-8) ---------------------------------


def _chain(nb: NetBuilder, x: T, convs: Sequence[tuple[int, Any, Any]], c: Convs,
           stride_last: int = 1) -> T:
    """Convs ``(out, kernel, padding)`` in sequence, named 0, 1, ...; the last one strided."""
    for i, (out, kernel, pad) in enumerate(convs):
        stride = stride_last if i == len(convs) - 1 else 1
        x = basic_conv(nb, x, out, kernel, stride, pad, c=c, name=str(i))
    return x


def _branches(nb: NetBuilder, x: T, branches: Sequence[Sequence[tuple[int, Any, Any]]],
              c: Convs, stride: int = 1, pool: str | None = None) -> list[T]:
    """Parallel conv chains ``branch0``, ``branch1`` ... on ``x`` (each chain's last conv
    with ``stride``), and with ``pool="max"`` a last branch, the 3x3/2 max pool."""
    outs = []
    for i, convs in enumerate(branches):
        with nb.scope(f"branch{i}"):
            outs.append(_chain(nb, x, convs, c, stride))
    if pool == "max":
        outs.append(max_pool_s2(nb, x, f"branch{len(branches)}"))
    return outs


def v4_a(nb: NetBuilder, x: T, c: Convs) -> T:
    """Inception-A (35x35): 96 | 64, 96 | 64, 96, 96 | avg pool, 96 -> 384."""
    outs = _branches(nb, x, [[(96, 1, 0)], [(64, 1, 0), (96, 3, 1)],
                             [(64, 1, 0), (96, 3, 1), (96, 3, 1)]], c)
    with nb.scope("branch3"):
        pool = avg_pool_3x3(nb, x, "pool", count_include_pad=False)
        outs.append(basic_conv(nb, pool, 96, 1, c=c, name="0"))
    return nb.concat(outs, name="concat")


def v4_reduction_a(nb: NetBuilder, x: T, c: Convs,
                   klmn: tuple[int, int, int, int] = (192, 224, 256, 384)) -> T:
    """Reduction-A (35 -> 17) with the paper's filter banks k, l, m, n (its Table 1):
    n 3x3/2 | k 1x1, l 3x3, m 3x3/2 | max pool -> n + m + C."""
    k, l_, m, n = klmn
    outs = _branches(nb, x, [[(n, 3, 0)], [(k, 1, 0), (l_, 3, 1), (m, 3, 0)]], c, stride=2,
                     pool="max")
    return nb.concat(outs, name="concat")


def v4_b(nb: NetBuilder, x: T, c: Convs) -> T:
    """Inception-B (17x17): factorised 7x7s -> 384 + 256 + 256 + 128 = 1024."""
    h, v = ((1, 7), (0, 3)), ((7, 1), (3, 0))
    outs = _branches(nb, x, [[(384, 1, 0)],
                             [(192, 1, 0), (224, *h), (256, *v)],
                             [(192, 1, 0), (192, *v), (224, *h), (224, *v), (256, *h)]], c)
    with nb.scope("branch3"):
        pool = avg_pool_3x3(nb, x, "pool", count_include_pad=False)
        outs.append(basic_conv(nb, pool, 128, 1, c=c, name="0"))
    return nb.concat(outs, name="concat")


def v4_reduction_b(nb: NetBuilder, x: T, c: Convs) -> T:
    """Reduction-B (17 -> 8): 192, 192 3x3/2 | 256, 1x7, 7x1, 320 3x3/2 | max pool."""
    outs = _branches(nb, x, [[(192, 1, 0), (192, 3, 0)],
                             [(256, 1, 0), (256, (1, 7), (0, 3)), (320, (7, 1), (3, 0)),
                              (320, 3, 0)]], c, stride=2, pool="max")
    return nb.concat(outs, name="concat")


def v4_c(nb: NetBuilder, x: T, c: Convs) -> T:
    """Inception-C (8x8): expanded 1x3 / 3x1 branches -> 256 x 6 = 1536."""
    b0 = basic_conv(nb, x, 256, 1, c=c, name="branch0")
    b1 = basic_conv(nb, x, 384, 1, c=c, name="branch1_0")
    b1a = basic_conv(nb, b1, 256, (1, 3), 1, (0, 1), c=c, name="branch1_1a")
    b1b = basic_conv(nb, b1, 256, (3, 1), 1, (1, 0), c=c, name="branch1_1b")
    b2 = basic_conv(nb, x, 384, 1, c=c, name="branch2_0")
    b2 = basic_conv(nb, b2, 448, (3, 1), 1, (1, 0), c=c, name="branch2_1")
    b2 = basic_conv(nb, b2, 512, (1, 3), 1, (0, 1), c=c, name="branch2_2")
    b2a = basic_conv(nb, b2, 256, (1, 3), 1, (0, 1), c=c, name="branch2_3a")
    b2b = basic_conv(nb, b2, 256, (3, 1), 1, (1, 0), c=c, name="branch2_3b")
    pool = avg_pool_3x3(nb, x, "branch3_pool", count_include_pad=False)
    b3 = basic_conv(nb, pool, 256, 1, c=c, name="branch3")
    return nb.concat([b0, b1a, b1b, b2a, b2b, b3], name="concat")


# --- Inception-ResNet-v2's modules (Szegedy et al. 2017, Figs. 16-19; TF-slim's widths) ------


def _residual(nb: NetBuilder, x: T, branches: Sequence[Sequence[tuple[int, Any, Any]]],
              c: Convs, relu: bool = True) -> T:
    """Branches concatenated, a 1x1 conv (bias, no BN) back to C, added to ``x`` [, ReLU].

    The paper scales the branch before the addition (:data:`RESIDUAL_SCALE`); the scale is
    folded into the initialisation of ``up`` (see the module docstring).
    """
    outs = _branches(nb, x, branches, c)
    y = nb.concat(outs, name="concat")
    y = nb.conv(y, x.channels, 1, name="up")  # (C, H, W)
    y = nb.add(x, y, name="add")
    return nb.act(y, "relu", name="relu") if relu else y


def block35(nb: NetBuilder, x: T, c: Convs) -> T:
    """Block35 (35x35): 32 | 32, 32 | 32, 48, 64 -> 1x1 -> C, residual."""
    return _residual(nb, x, [[(32, 1, 0)], [(32, 1, 0), (32, 3, 1)],
                             [(32, 1, 0), (48, 3, 1), (64, 3, 1)]], c)


def block17(nb: NetBuilder, x: T, c: Convs) -> T:
    """Block17 (17x17): 192 | 128, 160 1x7, 192 7x1 -> 1x1 -> C, residual."""
    return _residual(nb, x, [[(192, 1, 0)],
                             [(128, 1, 0), (160, (1, 7), (0, 3)), (192, (7, 1), (3, 0))]], c)


def block8(nb: NetBuilder, x: T, c: Convs, relu: bool = True) -> T:
    """Block8 (8x8): 192 | 192, 224 1x3, 256 3x1 -> 1x1 -> C, residual."""
    return _residual(nb, x, [[(192, 1, 0)],
                             [(192, 1, 0), (224, (1, 3), (0, 1)), (256, (3, 1), (1, 0))]], c,
                     relu=relu)


def resnet_reduction_a(nb: NetBuilder, x: T, c: Convs) -> T:
    """Mixed_6a (35 -> 17): Reduction-A with k, l, m, n = 256, 256, 384, 384."""
    return v4_reduction_a(nb, x, c, (256, 256, 384, 384))


def resnet_reduction_b(nb: NetBuilder, x: T, c: Convs) -> T:
    """Mixed_7a (17 -> 8): 256, 384/2 | 256, 288/2 | 256, 288, 320/2 | max pool."""
    outs = _branches(nb, x, [[(256, 1, 0), (384, 3, 0)], [(256, 1, 0), (288, 3, 0)],
                             [(256, 1, 0), (288, 3, 1), (320, 3, 0)]], c, stride=2,
                     pool="max")
    return nb.concat(outs, name="concat")


# --- groups, by kind -------------------------------------------------------------------------

def module_scope(kind: str, group: str, i: int) -> str:
    """The scope name of module ``i`` of ``group`` ("3", "4", "5") of ``kind``: GoogLeNet's
    ``inception3a``, torchvision's Inception-v3 ``Mixed_5b``, ``inception_a.0``, ``block35.0``."""
    if kind == "v1":
        return f"inception{group}{chr(ord('a') + i)}"
    if kind == "v3":
        return f"Mixed_{int(group) + 2}{chr(ord('b') + i)}"
    if kind == "v4":
        return f"inception_{'abc'[int(group) - 3]}.{i}"
    return f"{('block35', 'block17', 'block8')[int(group) - 3]}.{i}"


# kind -> the scope name of the reduction before group "4" / "5"
_REDUCTION_SCOPES = {
    "v3": {"4": "Mixed_6a", "5": "Mixed_7a"},
    "v4": {"4": "reduction_a", "5": "reduction_b"},
    "resnet": {"4": "mixed_6a", "5": "mixed_7a"},
}


# --- the space -----------------------------------------------------------------------------


@register_space
class InceptionSpace(Space):
    """Stem, three groups of inception modules with grid reductions between, pool + linear.

    Options: ``stem`` (:data:`STEMS`, default ``small``), ``pools`` (:data:`POOLS`) and
    ``dropout`` (default 0.4, the GoogLeNet paper's) before the linear layer.
    """

    name = "inception"
    _DECISIONS = _decisions()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        p = self.options["dropout"]
        if not isinstance(p, int | float) or not 0 <= p < 1:
            raise NasError(f"inception option dropout must be a number in [0, 1), got {p!r}")
        for key, allowed in (("stem", STEMS), ("pools", POOLS)):
            if self.options[key] not in allowed:
                raise NasError(f"inception option {key} cannot be {self.options[key]!r}; "
                               f"allowed: {', '.join(allowed)}")

    @classmethod
    def default_options(cls) -> dict[str, Any]:
        return {
            "stem": "small",  # see STEMS: chosen for the input size, not searched
            "pools": "pad",  # GoogLeNet's max pools: padded (the paper) or ceil mode
            "dropout": 0.4,  # before the linear layer (GoogLeNet's 40%)
        }

    @property
    def decisions(self) -> tuple[Decision, ...]:
        return self._DECISIONS

    def describe(self, genome: Genome, nb: NetBuilder, x: T, num_classes: int) -> T:
        bn = bool(genome["batch_norm"])
        plain, scaled = Convs(bn), Convs(bn, float(genome["width"]))  # stems and v1 / the rest
        pools = str(self.options["pools"])
        x = _stem(nb, x, str(self.options["stem"]), int(genome["stem_channels"]), plain, pools)
        for group, modules in group_modules(genome).items():
            if group != "3":
                x = self._reduction(nb, x, group, str(genome[f"reduce_{group}"]), scaled,
                                    pools)
            kind = str(genome[f"kind_{group}"])
            for i, widths in enumerate(modules):
                with nb.scope(module_scope(kind, group, i)):
                    x = self._module(nb, x, kind, group, widths,
                                     plain if kind == "v1" else scaled,
                                     int(genome["branch3_kernel"]),
                                     last=i == len(modules) - 1)
            if kind == "resnet" and group == "5":  # TF-slim's Conv2d_7b_1x1: 1536 channels
                x = basic_conv(nb, x, 1536, 1, c=scaled, name="conv2d_7b")
        x = nb.global_avgpool(x, name="avgpool")  # C x H x W -> C x 1 x 1 (7x7 at 224)
        x = nb.flatten(x, name="flatten")
        x = nb.dropout(x, float(self.options["dropout"]), name="dropout")
        return nb.linear(x, num_classes, name="fc")

    @staticmethod
    def _reduction(nb: NetBuilder, x: T, group: str, kind: str, c: Convs, pools: str) -> T:
        """Halve the grid before ``group``: GoogLeNet's max pool, or a reduction module."""
        if kind == "maxpool":  # maxpool3 (28 -> 14), maxpool4 (-> 7); torchvision's is 2x2
            name = f"maxpool{int(group) - 1}"
            return _googlenet_pool(nb, x, pools, name, kernel=2 if group == "5" else 3)
        with nb.scope(_REDUCTION_SCOPES[kind][group]):
            if kind == "v3":
                return v3_b(nb, x, c) if group == "4" else v3_d(nb, x, c)
            if kind == "v4":
                return v4_reduction_a(nb, x, c) if group == "4" else v4_reduction_b(nb, x, c)
            return resnet_reduction_a(nb, x, c) if group == "4" else resnet_reduction_b(nb, x, c)

    @staticmethod
    def _module(nb: NetBuilder, x: T, kind: str, group: str, widths: InceptionWidths,
                c: Convs, kernel3: int, last: bool) -> T:
        """One module of ``kind`` for ``group`` ("3", "4" or "5")."""
        if kind == "v1":
            return inception_v1(nb, x, widths, c, kernel3)
        if kind == "v3":
            if group == "3":
                return v3_a(nb, x, widths.pool_proj, c)
            return v3_c(nb, x, widths.n3x3_reduce, c) if group == "4" else v3_e(nb, x, c)
        if kind == "v4":
            return {"3": v4_a, "4": v4_b, "5": v4_c}[group](nb, x, c)
        if group == "5":  # the network's last Block8 has no ReLU (TF-slim's block8 no-ReLU)
            return block8(nb, x, c, relu=not last)
        return block35(nb, x, c) if group == "3" else block17(nb, x, c)

    def init_weights(self, module: nn.Module) -> None:
        """He (fan-in) normal convs, zero biases, N(0, 0.01) linear; Inception-ResNet's
        residual up-projections scaled by 0.17 / 0.10 / 0.20.

        Without batch norm the network is 22 conv layers deep, and PyTorch's default conv
        init shrinks the signal ~6x in variance per conv + ReLU, so the logits of a fresh
        network would be ~0; fan-in He init keeps each branch's output variance, and
        concatenation keeps it per channel.
        """
        import torch  # here, where a module exists: importing torch costs seconds
        from torch import nn

        kaiming_init(module, conv_mode="fan_in")
        with torch.no_grad():
            for name, m in module.named_modules():
                kind = name.split(".")[0]
                if name.endswith(".up") and kind in RESIDUAL_SCALE:
                    assert isinstance(m, nn.Conv2d)
                    m.weight.mul_(RESIDUAL_SCALE[kind])
