"""Inception-v3, Inception-v4 and Inception-ResNet-v2 as fixed genomes of ``inception``.

* Inception-v3 (Szegedy et al. 2016, "Rethinking the Inception architecture"): torchvision's
  ``inception_v3`` exactly, without its auxiliary head (a training-time classifier on the
  17x17 grid, 3,326,696 parameters): 23,834,568 parameters, torchvision's ``state_dict`` (with
  ``aux_logits=False``) loads by key, the same logits, at its design input 299x299. Groups: 3
  InceptionA (pool features 32, 64, 64), InceptionB, 4 InceptionC (c7 = 128, 160, 160, 192),
  InceptionD, 2 InceptionE; 50% dropout.
* Inception-v4 (Szegedy et al. 2017, Fig. 9): its stem, 4 x Inception-A, Reduction-A, 7 x
  Inception-B, Reduction-B, 3 x Inception-C (42.7M parameters in the reference
  implementations: 42,679,816).
* Inception-ResNet-v2 (Fig. 15, with TF-slim's stem, as every released model has it):
  Inception-v3's stem and Mixed_5b, 10 x Block35, Mixed_6a, 20 x Block17, Mixed_7a, 10 x
  Block8 (the last without ReLU), a 1x1 conv to 1536 (55.8M parameters: 55,843,464).

The module widths are the papers' (see :mod:`search_spaces.inception`); the width slots of the
genome carry the two widths Inception-v3 varies and are otherwise filled canonically.
"""

from __future__ import annotations

from nas.core.space import Baseline, register_baseline
from search_spaces.inception import UNUSED, inception_genome

_V3 = inception_genome(
    {"3": [UNUSED._replace(pool_proj=p) for p in (32, 64, 64)],  # InceptionA pool_features
     "4": [UNUSED._replace(n3x3_reduce=c) for c in (128, 160, 160, 192)],  # InceptionC c7
     "5": [UNUSED] * 2},
    batch_norm=True, kinds={"3": "v3", "4": "v3", "5": "v3"},
    reductions={"4": "v3", "5": "v3"})

INCEPTION_V3 = register_baseline(Baseline(
    name="inception_v3", genome=_V3,
    space_options={"stem": "inception_v3", "dropout": 0.5},
    torchvision="inception_v3", torchvision_kwargs={"aux_logits": False},
    input_shape=(3, 299, 299), family="inception",
    doc="Inception-v3 (Szegedy et al. 2016), torchvision's inception_v3 without the "
        "auxiliary head (27,161,264 parameters with it)",
))

INCEPTION_V4 = register_baseline(Baseline(
    name="inception_v4",
    genome=inception_genome({"3": [UNUSED], "4": [UNUSED], "5": [UNUSED]}, batch_norm=True,
                            kinds={"3": "v4", "4": "v4", "5": "v4"},
                            reductions={"4": "v4", "5": "v4"},
                            counts={"3": 4, "4": 7, "5": 3}),
    space_options={"stem": "inception_v4", "dropout": 0.2},
    input_shape=(3, 299, 299), family="inception", paper_params=42_700_000,
    doc="Inception-v4 (Szegedy et al. 2017): 4 x A, 7 x B, 3 x C with Reduction-A/B",
))

INCEPTION_RESNET_V2 = register_baseline(Baseline(
    name="inception_resnet_v2",
    genome=inception_genome({"3": [UNUSED], "4": [UNUSED], "5": [UNUSED]}, batch_norm=True,
                            kinds={"3": "resnet", "4": "resnet", "5": "resnet"},
                            reductions={"4": "resnet", "5": "resnet"},
                            counts={"3": 10, "4": 20, "5": 10}),
    space_options={"stem": "inception_resnet_v2", "dropout": 0.2},
    input_shape=(3, 299, 299), family="inception", paper_params=55_800_000,
    doc="Inception-ResNet-v2 (Szegedy et al. 2017): 10 x Block35, 20 x Block17, 10 x Block8",
))
