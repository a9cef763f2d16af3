"""DenseNets (Huang et al. 2017) as fixed genomes of the ``densenet`` space.

* DenseNet-121, 169, 201 and 161 (the paper's Table 1: DenseNet-BC with k = 32, or 48 for 161,
  blocks of 6-12-24-16, 6-12-32-32, 6-12-48-32 and 6-12-36-24 layers, bottleneck and
  compression 0.5, on 224x224): torchvision's networks exactly -- same parameters
  (densenet121: 7,978,856), same module names, its ``state_dict`` loads by key and gives the
  same logits.
* DenseNet-BC-100 for CIFAR (the paper's Table 2: L = 100, k = 12, three blocks of 16 bottleneck
  layers, a 3x3 stem of 2k channels, compression 0.5): 0.8M parameters.
"""

from __future__ import annotations

from nas.core.genome import Genome
from nas.core.space import Baseline, register_baseline
from search_spaces.densenet import DenseNetSpace

_SPACE = DenseNetSpace()

# name -> (growth, layers per block)
IMAGENET_DENSENETS: dict[str, tuple[int, tuple[int, int, int, int]]] = {
    "densenet121": (32, (6, 12, 24, 16)),
    "densenet169": (32, (6, 12, 32, 32)),
    "densenet201": (32, (6, 12, 48, 32)),
    "densenet161": (48, (6, 12, 36, 24)),
}


def densenet_genome(stem: str, growth: int, blocks: tuple[int, ...]) -> Genome:
    """A DenseNet-BC genome (bottleneck, compression 0.5); a missing block4 is 0."""
    b = (*blocks, 0)[:4]
    return _SPACE.genome(stem=stem, growth=growth, block1=b[0], block2=b[1], block3=b[2],
                         block4=b[3], bottleneck=True, compression=0.5)


for _name, (_k, _blocks) in IMAGENET_DENSENETS.items():
    register_baseline(Baseline(
        _name, densenet_genome("imagenet", _k, _blocks), torchvision=_name,
        doc=f"Huang et al. 2017, DenseNet-{_name[8:]}: DenseNet-BC, k={_k}, blocks "
            f"{'-'.join(map(str, _blocks))}"))

DENSENET_BC_100 = register_baseline(Baseline(
    "densenet_bc_100", densenet_genome("cifar", 12, (16, 16, 16)), input_shape=(3, 32, 32),
    num_classes=10, paper_params=800_000,
    doc="Huang et al. 2017, DenseNet-BC (L=100, k=12) for CIFAR: 3 x 16 bottleneck layers"))
