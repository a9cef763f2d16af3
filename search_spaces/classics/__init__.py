"""The hand-designed classics as fixed genomes of our spaces (one module per family).

Importing this package registers every baseline (``nas baselines`` lists them).
"""

from search_spaces.classics import (
    alexnet_vgg,
    darts_cells,
    densenets,
    googlenet,
    inceptions,
    lenet_zfnet,
    mobilenets,
    nasnets,
    resnets,
)

__all__ = ["alexnet_vgg", "darts_cells", "densenets", "googlenet", "inceptions", "lenet_zfnet",
           "mobilenets", "nasnets", "resnets"]
