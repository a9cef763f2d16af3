"""MobileNet v1 and MobileNetV2 as fixed genomes of the ``mobilenet`` space.

* MobileNet v1 (Howard et al. 2017, Table 1; the lecture's "MobileNet Body Architecture"): a
  3x3 stride-2 stem of 32 channels, thirteen depthwise-separable blocks with ReLU, global
  average pooling and a 1024 -> 1000 classifier: 4.2M parameters, 569M multiply-adds at
  224x224. The table's last depthwise row reads "s2" on a 7x7 input whose next row is still
  7x7: a known misprint, so that block has stride 1 here (as in every reference
  implementation).
* MobileNetV2 (Sandler et al. 2018, Table 2): torchvision's ``mobilenet_v2`` exactly -- same
  modules, names, parameters (3,504,872 at 1000 classes) and initialisation.
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.mobilenet import MobileNetSpace, Stage

_SPACE = MobileNetSpace()

# MobileNet v1's body as stages: (block, blocks, output channels, stride of the first block).
# Its 14x14 section (one stride-2 block and the paper's "5x") is two stages of 2 and 4 blocks,
# and its widest section sits in the space's last stage; stage 4 is left out.
_V1_STAGES = (
    Stage("depthwise_separable", 1, 64, 1),  # 112x112
    Stage("depthwise_separable", 2, 128, 2),  # 56x56
    Stage("depthwise_separable", 2, 256, 2),  # 28x28
    None,
    Stage("depthwise_separable", 2, 512, 2),  # 14x14
    Stage("depthwise_separable", 4, 512, 1),  # 14x14
    Stage("depthwise_separable", 2, 1024, 2),  # 7x7
)

# torchvision's inverted_residual_setting: expansion t, channels c, blocks n, stride s.
_V2_SETTING = (
    (1, 16, 1, 1),  # 112x112
    (6, 24, 2, 2),  # 56x56
    (6, 32, 3, 2),  # 28x28
    (6, 64, 4, 2),  # 14x14
    (6, 96, 3, 1),  # 14x14
    (6, 160, 3, 2),  # 7x7
    (6, 320, 1, 1),  # 7x7
)

MOBILENET_V1 = register_baseline(Baseline(
    name="mobilenet_v1",
    genome=_SPACE.genome_from_stages(32, _V1_STAGES, head_width=0, activation="relu"),
    # The paper's table has no dropout; the reference implementations (TF-slim, Keras) keep a
    # token 0.001 before the classifier, and so do we.
    space_options={"dropout": 0.001},
    torchvision=None,
    doc="MobileNet v1 (Howard et al. 2017, Table 1): 13 depthwise-separable blocks, "
        "4.2M params, 569M mult-adds",
))

MOBILENET_V2 = register_baseline(Baseline(
    name="mobilenet_v2",
    genome=_SPACE.genome_from_stages(
        32,
        [Stage("inverted_residual", n, c, s, 3, t) for t, c, n, s in _V2_SETTING],
        head_width=1280, activation="relu6"),
    torchvision="mobilenet_v2",
    doc="MobileNetV2 (Sandler et al. 2018): 17 inverted residual blocks, torchvision's "
        "mobilenet_v2 with identical weights layout",
))
