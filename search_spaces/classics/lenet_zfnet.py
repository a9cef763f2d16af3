"""LeNet-5 and ZFNet, the lectures' first and third ImageNet-era networks, as ``convnet`` genomes.

* LeNet-5 (LeCun et al. 1998; lectures 003/004: "conv filters 5x5 at stride 1, subsampling
  2x2 at stride 2, [CONV-POOL-CONV-POOL-CONV-FC]"): a 32x32x1 input, C1 6@5x5 -> 28x28x6, S2
  -> 14x14x6, C3 16@5x5 -> 10x10x16, S4 -> 5x5x16, C5 120@5x5 -> 1x1x120, F6 84, 10 outputs:
  61,706 parameters with full connections (the paper's ~60,000 has a sparse C3). See
  :mod:`search_spaces.convnet` for what is left out.
* ZFNet (Zeiler & Fergus 2014, Fig. 3, with the 512/1024/512 filters in conv3-5 of their
  Table 2 that the lectures give: "AlexNet but CONV1 7x7 stride 2, CONV3,4,5 512, 1024, 512"):
  224 -> conv1 96@7x7/2 -> 110 -> 3x3/2 pool -> 55 -> conv2 256@5x5/2 -> 26 -> pool -> 13 ->
  conv3-5 at 13x13 -> pool -> 6x6x512 -> FC 4096, FC 4096 (dropout 0.5) -> 1000. Its conv2
  has stride 2 (the lecture's AlexNet conv2 has stride 1; lecture 000 notes the change), which
  keeps the map sizes of the paper's figure.
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.convnet import ConvNetSpace

_SPACE = ConvNetSpace()

LENET5 = register_baseline(Baseline(
    "lenet5",
    _SPACE.genome_from_layers(
        [{"filters": 6, "kernel": 5, "pool": "avg2"},  # C1 28x28x6, S2 14x14x6
         {"filters": 16, "kernel": 5, "pool": "avg2"},  # C3 10x10x16, S4 5x5x16
         {"filters": 120, "kernel": 5}],  # C5 1x1x120
        activation="sigmoid", fc_layers=1, fc_width=84, dropout=0.0),  # F6 84
    input_shape=(1, 32, 32), num_classes=10, family="lenet", paper_params=60_000,
    doc="LeCun et al. 1998, LeNet-5: conv 6@5x5, pool, conv 16@5x5, pool, conv 120@5x5, "
        "FC 84, 10 outputs (32x32x1)"))

ZFNET = register_baseline(Baseline(
    "zfnet",
    _SPACE.genome_from_layers(
        [{"filters": 96, "kernel": 7, "stride": 2, "pool": "max3"},  # P=1: 110 -> 55
         {"filters": 256, "kernel": 5, "stride": 2, "pool": "max3"},  # 26 -> 13
         {"filters": 512, "kernel": 3, "pad": "same"},  # 13
         {"filters": 1024, "kernel": 3, "pad": "same"},  # 13
         {"filters": 512, "kernel": 3, "pad": "same", "pool": "max3"}],  # 13 -> 6
        activation="relu", fc_layers=2, fc_width=4096, dropout=0.5),
    family="alexnet", doc="Zeiler & Fergus 2014, ZFNet: AlexNet with a 7x7/2 conv1, a 5x5/2 "
                          "conv2 and 512/1024/512 filters in conv3-5"))
