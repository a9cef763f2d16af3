"""GoogLeNet (Szegedy et al., "Going deeper with convolutions", CVPR 2015) as an inception genome.

The widths are the paper's table as lecture 004 gives it (``#1x1, #3x3 reduce, #3x3,
#5x5 reduce, #5x5, pool proj`` for modules 3a to 5b); the stem and the head are lecture 002's
tables (7x7/2 conv 64, 3x3/2 max pool, 1x1 conv 64, 3x3 conv 192, 3x3/2 max pool; global
average pooling over 7x7, dropout 40%, one linear layer). Convs have biases and no batch norm,
as in the paper.

Left out on purpose: the two auxiliary classifiers (a training-time hack for gradients that
batch norm made unnecessary; they are not part of the network at inference) and the stem's
two local response normalisations (after the first max pool and after the 3x3 conv; they have
no parameters, the lectures' tables leave them out, and later work dropped them).
torchvision's ``googlenet`` is not this network (it adds batch norm, and its "5x5" branch
uses a 3x3 conv), so there is no torchvision counterpart to compare weights with; it is the
separate baseline ``googlenet_torchvision``: batch norm (eps 0.001, convs without bias), 3x3
third branches, max pools in ceil mode without padding (and a 2x2 one before group 5), 20%
dropout, no auxiliary heads: 6,624,904 parameters, torchvision's ``state_dict`` loads by key.
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.inception import InceptionWidths, inception_genome

# The paper's table, one row per module: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
GOOGLENET_MODULES: dict[str, list[InceptionWidths]] = {
    "3": [
        InceptionWidths(64, 96, 128, 16, 32, 32),  # 3a: 192x28 -> 256x28
        InceptionWidths(128, 128, 192, 32, 96, 64),  # 3b: -> 480x28
    ],
    "4": [  # after maxpool3: 480x14
        InceptionWidths(192, 96, 208, 16, 48, 64),  # 4a: -> 512x14
        InceptionWidths(160, 112, 224, 24, 64, 64),  # 4b: -> 512x14
        InceptionWidths(128, 128, 256, 24, 64, 64),  # 4c: -> 512x14
        InceptionWidths(112, 144, 288, 32, 64, 64),  # 4d: -> 528x14
        InceptionWidths(256, 160, 320, 32, 128, 128),  # 4e: -> 832x14
    ],
    "5": [  # after maxpool4: 832x7
        InceptionWidths(256, 160, 320, 32, 128, 128),  # 5a: -> 832x7
        InceptionWidths(384, 192, 384, 48, 128, 128),  # 5b: -> 1024x7
    ],
}

GOOGLENET = register_baseline(Baseline(
    name="googlenet",
    genome=inception_genome(GOOGLENET_MODULES, stem_channels=192, batch_norm=False),
    space_options={"stem": "googlenet"},
    torchvision=None, family="inception",
    doc="GoogLeNet (Szegedy et al. 2015), the paper's table: no auxiliary classifiers, no LRN",
))

GOOGLENET_TORCHVISION = register_baseline(Baseline(
    name="googlenet_torchvision",
    genome=inception_genome(GOOGLENET_MODULES, stem_channels=192, batch_norm=True,
                            branch3_kernel=3),
    space_options={"stem": "googlenet", "pools": "ceil", "dropout": 0.2},
    torchvision="googlenet", torchvision_kwargs={"aux_logits": False}, family="inception",
    doc="GoogLeNet as torchvision builds it: batch norm, 3x3 third branches, ceil-mode "
        "pools, no auxiliary heads",
))
