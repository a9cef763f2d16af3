"""AlexNet and VGG-11/13/16/19 (with and without batch norm) as fixed genomes of ``vgg``.

Each is torchvision's architecture exactly: same layers, same parameter count, same module
names (``features.N``, ``classifier.N``), so ``torchvision.models.<name>()``'s ``state_dict``
loads with ``strict=True`` and gives the same logits. The one difference is documented in
:mod:`search_spaces.vgg`: the ``AdaptiveAvgPool2d`` before the classifier (the identity at
224x224) is left out, so the classifier reads the final feature map as it is.
"""

from __future__ import annotations

from nas.core.genome import Genome, Value
from nas.core.space import Baseline, register_baseline
from search_spaces.vgg import MAX_STAGES, VggSpace

_SPACE = VggSpace()

# The fully connected head shared by AlexNet and VGG: two hidden layers of 4096 units.
_FC_HEAD: dict[str, Value] = {"head": "flatten", "fc_layers": 2, "fc_width": 4096}


def _stage(i: int, convs: int, kernel: int = 3, widen: float = 1.0,
           pool: bool = True) -> dict[str, Value]:
    return {f"stage{i}_convs": convs, f"stage{i}_kernel": kernel, f"stage{i}_widen": widen,
            f"stage{i}_pool": pool}


def alexnet_genome() -> Genome:
    """torchvision's AlexNet (Krizhevsky's "one weird trick" variant): convs of 64, 192, 384,
    256 and 256 channels, an 11x11/4 first conv, a 5x5 second one, overlapping 3x3/2 pools
    after conv1, conv2 and conv5, and dropout before each hidden FC layer.

    As five one-conv stages: widths follow the rule 64, 128, 256, 256, 256 (pools after stages
    1, 2 and 5 only) widened by 1.5 in stages 2 and 3 (192, 384).
    """
    return _SPACE.genome({
        "stem": "11x11/4", "width": 64, "bn": False, "pool_kernel": 3, "stages": 5,
        **_stage(1, 1),
        **_stage(2, 1, kernel=5, widen=1.5),
        **_stage(3, 1, widen=1.5, pool=False),
        **_stage(4, 1, pool=False),
        **_stage(5, 1),
        **_FC_HEAD, "dropout": "before",
    })


# Simonyan & Zisserman's configurations: convs per stage (widths 64, 128, 256, 512, 512 by the
# rule: double after each pool, up to 512).
VGG_CONVS: dict[str, tuple[int, ...]] = {
    "vgg11": (1, 1, 2, 2, 2),  # A
    "vgg13": (2, 2, 2, 2, 2),  # B
    "vgg16": (2, 2, 3, 3, 3),  # D
    "vgg19": (2, 2, 4, 4, 4),  # E
}
_CONFIG = {"vgg11": "A", "vgg13": "B", "vgg16": "D", "vgg19": "E"}


def vgg_genome(convs: tuple[int, ...], bn: bool) -> Genome:
    """A VGG of five stages with ``convs[i]`` 3x3 convs each, 2x2 pools, FC-4096 x 2."""
    stages: dict[str, Value] = {}
    for i, n in enumerate(convs, start=1):
        stages.update(_stage(i, n))
    return _SPACE.genome({"stem": "plain", "width": 64, "bn": bn, "pool_kernel": 2,
                          "stages": MAX_STAGES, **stages, **_FC_HEAD, "dropout": "after"})


register_baseline(Baseline(
    name="alexnet", genome=alexnet_genome(), torchvision="alexnet", family="alexnet",
    doc="Krizhevsky et al. 2012, ImageNet classification with deep CNNs (torchvision's "
        "single-tower variant: 64-192-384-256-256 convs, 61.1M parameters)",
))
for _name, _convs in VGG_CONVS.items():
    for _bn in (False, True):
        _full = f"{_name}_bn" if _bn else _name
        register_baseline(Baseline(
            name=_full, genome=vgg_genome(_convs, _bn), torchvision=_full,
            doc=f"Simonyan & Zisserman 2015, very deep convnets: configuration "
                f"{_CONFIG[_name]} ({sum(_convs)} convs + 3 FC)"
                + (", batch norm after every conv" if _bn else ""),
        ))
