"""ResNets as fixed genomes of ``resnet``: He et al.'s ImageNet and CIFAR networks, ResNeXt,
SE-ResNet and Wide ResNets.

* ImageNet (He et al. 2016; ResNeXt, Xie et al. 2017; Wide ResNet-50-2): each genome builds,
  for 224x224 inputs, exactly torchvision's network of the same name -- the same modules under
  the same names (torchvision's ``state_dict`` loads with ``strict=True``), the same parameter
  count, the same logits. The depths are the lecture's table (blocks per stage: ResNet-18
  2-2-2-2, 34 and 50 3-4-6-3, 101 3-4-23-3, 152 3-8-36-3).
* CIFAR (He et al. 2016, section 4.2): ``6n + 2`` layers -- a 3x3 conv of 16 channels, three
  stages of ``n`` basic blocks at 16, 32 and 64 channels on 32x32, 16x16 and 8x8 maps, global
  average pooling and a 10-way classifier -- with option-A shortcuts (identity, and where a
  stage starts, the subsampled input padded with zero channels: no parameters). ResNet-20, 32,
  44, 56 and 110 (n = 3, 5, 7, 9, 18) have the paper's 0.27M, 0.46M, 0.66M, 0.85M and 1.7M
  parameters: 269,722 .. 1,727,962 exactly.
* SE-ResNet-50 (Hu et al. 2018): ResNet-50 with squeeze-and-excitation (reduction 16) at the
  end of every residual branch. The paper's 28.1M parameters and 3.87 GFLOPs are for its
  Caffe ResNet-50, which strides in the first 1x1 conv of a block: the space option
  ``stride_in="1x1"``.
* WRN-28-10 (Zagoruyko & Komodakis 2016): the CIFAR stem, three stages of four pre-activation
  basic blocks widened 10x (160, 320, 640 channels), projection shortcuts: 36.5M parameters.
"""

from __future__ import annotations

from typing import Any

from nas.core.space import Baseline, register_baseline
from search_spaces.resnet import ResNetSpace

_SPACE = ResNetSpace()
CIFAR = (3, 32, 32)  # CIFAR-10's input and classes, the CIFAR networks' design
CIFAR_CLASSES = 10


def _resnet(name: str, block: str, depths: tuple[int, int, int, int], doc: str, *,
            groups: int = 1, inner: float = 0.25, se: bool = False,
            torchvision: str | None = None, **fields: Any) -> Baseline:
    """Register the ImageNet-stem, width-64, projection-shortcut genome with these blocks."""
    genome = _SPACE.genome(
        stem="imagenet", block=block,
        blocks1=depths[0], blocks2=depths[1], blocks3=depths[2], blocks4=depths[3],
        width=64, shortcut="projection", groups=groups, inner=inner, se=se)
    return register_baseline(Baseline(name, genome, torchvision=torchvision, doc=doc,
                                      family="resnet", **fields))


RESNET18 = _resnet("resnet18", "basic", (2, 2, 2, 2),
                   "He et al. 2016, ResNet-18: basic blocks 2-2-2-2 (1.8 GFLOP)",
                   torchvision="resnet18")
RESNET34 = _resnet("resnet34", "basic", (3, 4, 6, 3),
                   "He et al. 2016, ResNet-34: basic blocks 3-4-6-3 (3.6 GFLOP)",
                   torchvision="resnet34")
RESNET50 = _resnet("resnet50", "bottleneck", (3, 4, 6, 3),
                   "He et al. 2016, ResNet-50 (torchvision v1.5): bottlenecks 3-4-6-3",
                   torchvision="resnet50")
RESNET101 = _resnet("resnet101", "bottleneck", (3, 4, 23, 3),
                    "He et al. 2016, ResNet-101 (torchvision v1.5): bottlenecks 3-4-23-3",
                    torchvision="resnet101")
RESNET152 = _resnet("resnet152", "bottleneck", (3, 8, 36, 3),
                    "He et al. 2016, ResNet-152 (torchvision v1.5): bottlenecks 3-8-36-3",
                    torchvision="resnet152")
RESNEXT50_32X4D = _resnet("resnext50_32x4d", "bottleneck", (3, 4, 6, 3),
                          "Xie et al. 2017, ResNeXt-50 32x4d: ResNet-50 with 32 groups of "
                          "width 4 in its 3x3 convs", groups=32, inner=0.5,
                          torchvision="resnext50_32x4d")
WIDE_RESNET50_2 = _resnet("wide_resnet50_2", "bottleneck", (3, 4, 6, 3),
                          "Zagoruyko & Komodakis 2016, Wide ResNet-50-2: ResNet-50 with "
                          "bottlenecks twice as wide inside", inner=0.5,
                          torchvision="wide_resnet50_2")
SE_RESNET50 = register_baseline(Baseline(
    "se_resnet50", RESNET50.genome.replace(se=True), space_options={"stride_in": "1x1"},
    family="resnet", paper_params=28_100_000, paper_macs=3_870_000_000,
    doc="Hu et al. 2018, SE-ResNet-50: ResNet-50 (stride in the 1x1, as the paper's) with "
        "squeeze-and-excitation, reduction 16 (28.1M, 3.87 GFLOPs)"))


# He et al. 2016, Table 6: depth -> n (blocks per stage) and the published parameter count.
CIFAR_RESNETS: dict[str, tuple[int, int]] = {
    "resnet20": (3, 270_000),
    "resnet32": (5, 460_000),
    "resnet44": (7, 660_000),
    "resnet56": (9, 850_000),
    "resnet110": (18, 1_700_000),
}


def cifar_resnet_genome(n: int) -> Any:
    """He et al.'s CIFAR ResNet with ``6n + 2`` layers: 16-32-64 channels, option A."""
    return _SPACE.genome(stem="cifar", block="basic", blocks1=n, blocks2=n, blocks3=n,
                         blocks4=0, width=16, shortcut="zero_pad", groups=1, inner=0.25,
                         se=False)


for _name, (_n, _params) in CIFAR_RESNETS.items():
    register_baseline(Baseline(
        _name, cifar_resnet_genome(_n), input_shape=CIFAR, num_classes=CIFAR_CLASSES,
        family="resnet_cifar", paper_params=_params,
        doc=f"He et al. 2016 sec. 4.2, CIFAR ResNet-{6 * _n + 2}: 3 x {_n} basic blocks at "
            f"16/32/64 channels, option-A (zero-padding) shortcuts"))

WRN_28_10 = register_baseline(Baseline(
    "wrn28_10",
    _SPACE.genome(stem="cifar", block="preact", blocks1=4, blocks2=4, blocks3=4, blocks4=0,
                  width=16, shortcut="projection", groups=1, inner=0.25, se=False),
    space_options={"widen": 10}, input_shape=CIFAR, num_classes=CIFAR_CLASSES,
    family="resnet_cifar", paper_params=36_500_000,
    doc="Zagoruyko & Komodakis 2016, WRN-28-10: 3 x 4 pre-activation blocks at 160/320/640 "
        "channels (36.5M)"))
