"""MobileNet v1 and MobileNetV2 as fixed genomes of the ``mobilenet`` space.

* MobileNet v1 (Howard et al. 2017, Table 1; the lecture's "MobileNet Body Architecture"): a
  3x3 stride-2 stem of 32 channels, thirteen depthwise-separable blocks with ReLU, global
  average pooling and a 1024 -> 1000 classifier: 4.2M parameters, 569M multiply-adds at
  224x224. The table's last depthwise row reads "s2" on a 7x7 input whose next row is still
  7x7: a known misprint, so that block has stride 1 here (as in every reference
  implementation).
* MobileNetV2 (Sandler et al. 2018, Table 2): torchvision's ``mobilenet_v2`` exactly -- same
  modules, names, parameters (3,504,872 at 1000 classes) and initialisation.
* MobileNetV3-Large (Howard et al. 2019, Table 1): torchvision's ``mobilenet_v3_large``
  exactly (5,483,032 parameters): a hard-swish stem of 16, fifteen inverted residuals with
  ReLU in the first six and hard-swish after, squeeze-and-excitation (hard sigmoid) in eight,
  a 960 head conv and a hidden linear layer of 1280. Its irregular expanded widths (64 and 72
  in the 24-channel stage; 240, 200, 184, 184 in the 80-channel one) are the stages' first
  and later expansion ratios, the 80-channel stage split in two (ratios 6, 2.5 and 2.3, 2.3).
* EfficientNet-B0 (Tan & Le 2019, Table 1): torchvision's ``efficientnet_b0`` exactly
  (5,288,548 parameters): SiLU everywhere, squeeze-and-excitation to a quarter of each block's
  input, MBConv1/6 stages of 16, 24, 40, 80, 112, 192, 320 channels, a 1280 head conv. Its
  stochastic depth drops whole residual branches at training time only and has no
  parameters: not built (the architecture at inference is the same).
* ShuffleNetV2 x1.0 (Ma et al. 2018, Table 5): torchvision's ``shufflenet_v2_x1_0`` exactly
  (2,278,604 parameters): a 24-channel stem conv and max pool, shuffle units in stages of 4,
  8 and 4 at 116, 232 and 464 channels (the 8-unit stage as two of ours), a 1024 head conv
  and the classifier, no dropout.
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
    torchvision=None, paper_params=4_200_000, paper_macs=569_000_000,
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

# MobileNetV3-Large (torchvision's bneck settings), as stages: expanded width / input width.
_V3_STAGES = (
    Stage("inverted_residual", 1, 16, 1, 3, 1, act="relu"),  # 112: 16 -> 16
    Stage("inverted_residual", 2, 24, 2, 3, 3, expand_first=4, act="relu"),  # 56: 64, 72
    Stage("inverted_residual", 3, 40, 2, 5, 3, se="mobilenet_v3", act="relu"),  # 28: 72, 120x2
    Stage("inverted_residual", 2, 80, 2, 3, 2.5, expand_first=6, act="hardswish"),  # 14: 240, 200
    Stage("inverted_residual", 2, 80, 1, 3, 2.3, act="hardswish"),  # 14: 184, 184
    Stage("inverted_residual", 2, 112, 1, 3, 6, se="mobilenet_v3", act="hardswish"),  # 480, 672
    Stage("inverted_residual", 3, 160, 2, 5, 6, se="mobilenet_v3", act="hardswish"),  # 7: 672, 960
)

MOBILENET_V3_LARGE = register_baseline(Baseline(
    name="mobilenet_v3_large",
    genome=_SPACE.genome_from_stages(16, _V3_STAGES, head_width=960, activation="hardswish",
                                     head_fc=1280),
    space_options={"layout": "mobilenet_v3", "bn_eps": 0.001, "bn_momentum": 0.01},
    torchvision="mobilenet_v3_large",
    doc="MobileNetV3-Large (Howard et al. 2019): SE and hard-swish inverted residuals, "
        "torchvision's mobilenet_v3_large",
))

# EfficientNet-B0: expansion t, kernel k, stride s, channels c, blocks n (Tan & Le, Table 1).
_B0_SETTING = (
    (1, 3, 1, 16, 1),  # 112
    (6, 3, 2, 24, 2),  # 56
    (6, 5, 2, 40, 2),  # 28
    (6, 3, 2, 80, 3),  # 14
    (6, 5, 1, 112, 3),  # 14
    (6, 5, 2, 192, 4),  # 7
    (6, 3, 1, 320, 1),  # 7
)

EFFICIENTNET_B0 = register_baseline(Baseline(
    name="efficientnet_b0",
    genome=_SPACE.genome_from_stages(
        32, [Stage("inverted_residual", n, c, s, k, t, se="efficientnet")
             for t, k, s, c, n in _B0_SETTING],
        head_width=1280, activation="silu"),
    space_options={"layout": "efficientnet"},
    torchvision="efficientnet_b0",
    doc="EfficientNet-B0 (Tan & Le 2019): MBConv with SE and SiLU, torchvision's "
        "efficientnet_b0",
))

SHUFFLENET_V2 = register_baseline(Baseline(
    name="shufflenet_v2_x1_0",
    genome=_SPACE.genome_from_stages(
        24, [None, None, None,
             Stage("shuffle", 4, 116, 2),  # stage2: 28x28
             Stage("shuffle", 4, 232, 2),  # stage3.0-3: 14x14
             Stage("shuffle", 4, 232, 1),  # stage3.4-7
             Stage("shuffle", 4, 464, 2)],  # stage4: 7x7
        head_width=1024, activation="relu", stem_pool=True),
    space_options={"layout": "shufflenet_v2", "dropout": 0.0},
    torchvision="shufflenet_v2_x1_0",
    doc="ShuffleNetV2 x1.0 (Ma et al. 2018): channel split, shuffle units 4-8-4 at "
        "116/232/464, torchvision's shufflenet_v2_x1_0",
))
