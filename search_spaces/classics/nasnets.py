"""NASNet-A as a fixed genome of the ``nasnet`` space.

NASNet-A (Zoph et al. 2018, Fig. 4) is the best pair of cells the paper's RL controller found
on CIFAR-10. The cells are written as DARTS's ``cnn/genotypes.py`` writes its ``NASNet``
genotype: ``(op, input)`` pairs, two per block, inputs numbered 0 = previous-previous cell,
1 = previous cell, 2 + k = block k (DARTS's ``skip_connect`` is our ``identity``). The normal
cell reads only the cell inputs, so all five blocks are concatenated (5C channels); in the
reduction cell blocks 0 and 1 feed blocks 3 and 4, so blocks 2-4 are concatenated (3C).

Concatenation. DARTS's rule, the space's default, concatenates exactly the blocks no other
block reads: 5C for NASNet-A's normal cell, 3C for its reduction cell. The paper's reference
code (TF-slim's ``nasnet_utils``) lists the concatenated states by hand, and its lists add the
cell's (projected) previous-previous input to the normal cell and block 1 to the reduction
cell: 6C and 4C wide. That is the network the paper counts -- its "N @ F" names the
penultimate layer's 6 x 4F channels (6 @ 768 on CIFAR, 4 @ 1056 on ImageNet) -- so both
baselines set the space option ``extra_concat`` to TF's lists.

* NASNet-A on CIFAR-10 (N=6, F=32, 32x32): 3,328,234 parameters (the paper's Table 1: 3.3M).
  With DARTS's concatenation the same cells give 3,061,738.
* NASNet-A Mobile on ImageNet (N=4, F=44, 224x224, the paper's Table 2: 5.3M parameters, 564M
  multiply-adds): TF's ImageNet skeleton -- a 3x3/2 VALID stem conv of 32 channels, two
  reduction cells of F/4 and F/2 in the stem, then 4 normal cells, a reduction, 4, a
  reduction, 4 at F, 2F, 4F, and a ReLU before the pool -- 5,287,076 parameters and 567.1M
  multiply-adds (convolutions and the classifier 557.7M, pools 9.4M).

The auxiliary head (used only for the training loss) is not built and not counted.
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

# TF-slim's NASNet-A concatenation lists, beyond the unused blocks (see the docstring):
# the normal cell's previous-previous input (state 0), the reduction cell's block 1 (state 3).
TF_CONCAT = {"normal": [0], "reduce": [3]}

NASNET_A = register_baseline(Baseline(
    name="nasnet_a",
    genome=genome_from_pairs(NASNET_A_NORMAL, NASNET_A_REDUCE),
    # The paper's CIFAR-10 network: N=6 normal cells per stage, F=32, a 96-channel stem.
    space_options={"cells": 6, "width": 32, "reductions": 2, "stem_multiplier": 3,
                   "extra_concat": TF_CONCAT},
    input_shape=(3, 32, 32), num_classes=10, paper_params=3_300_000,
    doc="NASNet-A (Zoph et al. 2018) CIFAR-10, 6 @ 768 (N=6, F=32): 20 cells, 3.3M params",
))

NASNET_A_MOBILE = register_baseline(Baseline(
    name="nasnet_a_mobile",
    genome=NASNET_A.genome,
    # The paper's mobile ImageNet network, 4 @ 1056: N=4, F=44, a 32-channel stem.
    space_options={"cells": 4, "width": 44, "reductions": 2, "stem_multiplier": 1,
                   "skeleton": "imagenet", "extra_concat": TF_CONCAT},
    paper_params=5_300_000, paper_macs=564_000_000,
    doc="NASNet-A Mobile (Zoph et al. 2018) ImageNet, 4 @ 1056 (N=4, F=44): two stem "
        "reduction cells + 14 cells, 5.3M params, 564M mult-adds",
))
