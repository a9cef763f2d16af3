"""Published cells of the ``darts`` space as fixed genomes, at the published network size.

Each genotype is copied from its authors' code, as DARTS writes genotypes (``(op, input)``
pairs, two per node; inputs 0 = previous-previous cell, 1 = previous cell, 2 + k = node k;
every cell concatenates its four nodes). Each is built as DARTS's ``NetworkCIFAR`` at C = 36
with 20 cells, no auxiliary head, 10 classes; the parameter counts are exact (tests) and
match the papers' rounded figures:

=========== ============ ======== ============================================================
baseline    parameters   paper    genotype from
=========== ============ ======== ============================================================
darts_v1    3,169,414    3.3M (1) quark0/darts ``cnn/genotypes.py`` DARTS_V1 (first order)
darts_v2    3,349,342    3.3M     quark0/darts ``cnn/genotypes.py`` DARTS_V2 (second order)
gdas        3,368,782    3.4M     D-X-Y/AutoDL-Projects ``genotypes.py`` GDAS_V1
pc_darts    3,634,678    3.6M     yuhuixu1993/PC-DARTS ``genotypes.py`` PC_DARTS_cifar
pdarts      3,433,798    3.4M     chenxin061/pdarts ``genotypes.py`` PDARTS
=========== ============ ======== ============================================================

(1) DARTS's Table 1 gives 3.3M for both orders; the first-order cell, with max-pooling
reductions and one separable conv fewer, counts 3.17M in DARTS's own ``NetworkCIFAR``.

GDAS's last reduction node is ``(sep_conv_5x5, 0), (sep_conv_5x5, 1)`` in its author's
repository (some copies write input 2 instead; the parameter count cannot tell them apart,
since a separable conv has the same weights at either stride). ENAS's micro cell is not in
this space: it has five intermediate nodes (DARTS's repository writes it with
``normal_concat = [2..6]``), so it is left out rather than truncated.
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.darts import genome_from_genotype

#: the published CIFAR-10 network: NetworkCIFAR(C=36, layers=20), stem 3C
CIFAR = {"channels": 36, "cells": 20, "stem_multiplier": 3}

DARTS_V1_NORMAL = (
    ("sep_conv_3x3", 1), ("sep_conv_3x3", 0),
    ("skip_connect", 0), ("sep_conv_3x3", 1),
    ("skip_connect", 0), ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0), ("skip_connect", 2),
)
DARTS_V1_REDUCE = (
    ("max_pool_3x3", 0), ("max_pool_3x3", 1),
    ("skip_connect", 2), ("max_pool_3x3", 0),
    ("max_pool_3x3", 0), ("skip_connect", 2),
    ("skip_connect", 2), ("avg_pool_3x3", 0),
)
DARTS_V2_NORMAL = (
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1), ("skip_connect", 0),
    ("skip_connect", 0), ("dil_conv_3x3", 2),
)
DARTS_V2_REDUCE = (
    ("max_pool_3x3", 0), ("max_pool_3x3", 1),
    ("skip_connect", 2), ("max_pool_3x3", 1),
    ("max_pool_3x3", 0), ("skip_connect", 2),
    ("skip_connect", 2), ("max_pool_3x3", 1),
)
GDAS_NORMAL = (
    ("skip_connect", 0), ("skip_connect", 1),
    ("skip_connect", 0), ("sep_conv_5x5", 2),
    ("sep_conv_3x3", 3), ("skip_connect", 0),
    ("sep_conv_5x5", 4), ("sep_conv_3x3", 3),
)
GDAS_REDUCE = (
    ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
    ("sep_conv_5x5", 2), ("sep_conv_5x5", 1),
    ("dil_conv_5x5", 2), ("sep_conv_3x3", 1),
    ("sep_conv_5x5", 0), ("sep_conv_5x5", 1),
)
PC_DARTS_NORMAL = (
    ("sep_conv_3x3", 1), ("skip_connect", 0),
    ("sep_conv_3x3", 0), ("dil_conv_3x3", 1),
    ("sep_conv_5x5", 0), ("sep_conv_3x3", 1),
    ("avg_pool_3x3", 0), ("dil_conv_3x3", 1),
)
PC_DARTS_REDUCE = (
    ("sep_conv_5x5", 1), ("max_pool_3x3", 0),
    ("sep_conv_5x5", 1), ("sep_conv_5x5", 2),
    ("sep_conv_3x3", 0), ("sep_conv_3x3", 3),
    ("sep_conv_3x3", 1), ("sep_conv_3x3", 2),
)
PDARTS_NORMAL = (
    ("skip_connect", 0), ("dil_conv_3x3", 1),
    ("skip_connect", 0), ("sep_conv_3x3", 1),
    ("sep_conv_3x3", 1), ("sep_conv_3x3", 3),
    ("sep_conv_3x3", 0), ("dil_conv_5x5", 4),
)
PDARTS_REDUCE = (
    ("avg_pool_3x3", 0), ("sep_conv_5x5", 1),
    ("sep_conv_3x3", 0), ("dil_conv_5x5", 2),
    ("max_pool_3x3", 0), ("dil_conv_3x3", 1),
    ("dil_conv_3x3", 1), ("dil_conv_5x5", 3),
)


def _cell(name: str, normal: tuple[tuple[str, int], ...], reduce: tuple[tuple[str, int], ...],
          doc: str, paper_params: int) -> Baseline:
    return register_baseline(Baseline(name, genome_from_genotype(normal, reduce),
                                      space_options=dict(CIFAR), doc=doc,
                                      input_shape=(3, 32, 32), num_classes=10,
                                      paper_params=paper_params))


DARTS_V1 = _cell("darts_v1", DARTS_V1_NORMAL, DARTS_V1_REDUCE,
                 "DARTS first order (Liu et al. 2019) CIFAR-10, C=36, 20 cells: 3.17M params, "
                 "3.00% error", 3_300_000)
DARTS_V2 = _cell("darts_v2", DARTS_V2_NORMAL, DARTS_V2_REDUCE,
                 "DARTS second order (Liu et al. 2019) CIFAR-10, C=36, 20 cells: 3.35M params, "
                 "2.76% error", 3_300_000)
GDAS = _cell("gdas", GDAS_NORMAL, GDAS_REDUCE,
             "GDAS (Dong & Yang 2019) CIFAR-10, C=36, 20 cells: 3.37M params, 2.93% error",
             3_400_000)
PC_DARTS = _cell("pc_darts", PC_DARTS_NORMAL, PC_DARTS_REDUCE,
                 "PC-DARTS (Xu et al. 2020) CIFAR-10, C=36, 20 cells: 3.63M params, "
                 "2.57% error", 3_600_000)
PDARTS = _cell("pdarts", PDARTS_NORMAL, PDARTS_REDUCE,
               "P-DARTS (Chen et al. 2019) CIFAR-10, C=36, 20 cells: 3.43M params, 2.50% error",
               3_400_000)
