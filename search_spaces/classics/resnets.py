"""ResNet (He et al., 2016) and ResNeXt (Xie et al., 2017) as fixed genomes of ``resnet``.

Each genome builds, for 224x224 ImageNet, exactly torchvision's network of the same name: the
same modules under the same names (torchvision's ``state_dict`` loads with ``strict=True``),
the same parameter count, the same logits. The depths are the lecture's table (blocks per
stage: ResNet-18 2-2-2-2, 34 and 50 3-4-6-3, 101 3-4-23-3, 152 3-8-36-3).
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.resnet import ResNetSpace


def _resnet(name: str, block: str, depths: tuple[int, int, int, int], doc: str, *,
            groups: int = 1, group_width: int = 64) -> Baseline:
    """Register the ImageNet-stem, width-64, no-SE genome with these blocks and groups."""
    genome = ResNetSpace().genome(
        stem="imagenet", block=block,
        blocks1=depths[0], blocks2=depths[1], blocks3=depths[2], blocks4=depths[3],
        width=64, groups=groups, group_width=group_width, se=False)
    return register_baseline(Baseline(name, genome, torchvision=name, doc=doc))


RESNET18 = _resnet("resnet18", "basic", (2, 2, 2, 2),
                   "He et al. 2016, ResNet-18: basic blocks 2-2-2-2 (1.8 GFLOP)")
RESNET34 = _resnet("resnet34", "basic", (3, 4, 6, 3),
                   "He et al. 2016, ResNet-34: basic blocks 3-4-6-3 (3.6 GFLOP)")
RESNET50 = _resnet("resnet50", "bottleneck", (3, 4, 6, 3),
                   "He et al. 2016, ResNet-50 (torchvision v1.5): bottlenecks 3-4-6-3")
RESNET101 = _resnet("resnet101", "bottleneck", (3, 4, 23, 3),
                    "He et al. 2016, ResNet-101 (torchvision v1.5): bottlenecks 3-4-23-3")
RESNET152 = _resnet("resnet152", "bottleneck", (3, 8, 36, 3),
                    "He et al. 2016, ResNet-152 (torchvision v1.5): bottlenecks 3-8-36-3")
RESNEXT50_32X4D = _resnet("resnext50_32x4d", "bottleneck", (3, 4, 6, 3),
                          "Xie et al. 2017, ResNeXt-50 32x4d: ResNet-50 with 32 groups of "
                          "width 4 in its 3x3 convs", groups=32, group_width=4)
