"""NASNet-A as a fixed genome of the ``nasnet`` space.

NASNet-A (Zoph et al. 2018, Fig. 4) is the best pair of cells the paper's RL controller found
on CIFAR-10. The cells are written as DARTS's ``cnn/genotypes.py`` writes its ``NASNet``
genotype: ``(op, input)`` pairs, two per block, inputs numbered 0 = previous-previous cell,
1 = previous cell, 2 + k = block k (DARTS's ``skip_connect`` is our ``identity``). The normal
cell reads only the cell inputs, so all five blocks are concatenated (5C channels); in the
reduction cell blocks 0 and 1 feed blocks 3 and 4, so blocks 2-4 are concatenated (3C).

Parameters. The paper's CIFAR-10 NASNet-A (6 @ 768: N=6, F=32) has 3.3M parameters; our build
with those options counts 3,061,738 (10 classes), 7% fewer. The difference is the concat rule,
not the ops: the reference TF-slim code concatenates the (1x1-projected) previous-previous
input as a sixth branch of the normal cell and blocks 1-4 of the reduction cell, so its cells
are 6C and 4C wide and the 1x1 projections reading them are wider. Building the same cells
with that concat gives 3,328,234 parameters -- the paper's 3.3M. We keep DARTS's rule ("the
unused blocks are the output"), the one the space defines for every genome. The auxiliary
head (used only for the training loss) is not built and not counted.
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.nasnet import genome_from_pairs

NASNET_A_NORMAL = (
    ("sep_conv_5x5", 1), ("sep_conv_3x3", 0),  # block 0
    ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),  # block 1
    ("avg_pool_3x3", 1), ("identity", 0),  # block 2
    ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),  # block 3
    ("sep_conv_3x3", 1), ("identity", 1),  # block 4
)  # concatenated: blocks 0-4

NASNET_A_REDUCE = (
    ("sep_conv_5x5", 1), ("sep_conv_7x7", 0),  # block 0
    ("max_pool_3x3", 1), ("sep_conv_7x7", 0),  # block 1
    ("avg_pool_3x3", 1), ("sep_conv_5x5", 0),  # block 2
    ("identity", 3), ("avg_pool_3x3", 2),  # block 3: block 1 + block 0
    ("sep_conv_3x3", 2), ("max_pool_3x3", 1),  # block 4: block 0 + previous cell
)  # concatenated: blocks 2-4

NASNET_A = register_baseline(Baseline(
    name="nasnet_a",
    genome=genome_from_pairs(NASNET_A_NORMAL, NASNET_A_REDUCE),
    # The paper's CIFAR-10 network: N=6 normal cells per stage, F=32, a 96-channel stem.
    space_options={"cells": 6, "width": 32, "reductions": 2, "stem_multiplier": 3},
    torchvision=None,
    doc="NASNet-A (Zoph et al. 2018) CIFAR-10, N=6, F=32: 20 cells, 3.06M params "
        "(paper: 3.3M with TF's wider concat)",
))
