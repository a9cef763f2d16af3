"""Weight-sharing search as an evaluator: the ``supernet`` evaluator and its methods.

- :mod:`~nas.evaluators.supernet.config`: the options and the methods' names (no torch);
- :mod:`~nas.evaluators.supernet.trainer`: one training loop for spos, enas, darts and gdas,
  on one rank or many, with its checkpoints;
- :mod:`~nas.evaluators.supernet.distributed`: that loop on Ray Train workers (data-parallel);
- :mod:`~nas.evaluators.supernet.scoring`: a path's score, the derived genomes, collapse;
- :mod:`~nas.evaluators.supernet.evaluator`: the evaluator that puts them in a search.
"""

from nas.evaluators.supernet.config import ARCH_METHODS, METHODS, SupernetConfig
from nas.evaluators.supernet.evaluator import SupernetEvaluator, check_space, collapse_lines

__all__ = ["ARCH_METHODS", "METHODS", "SupernetConfig", "SupernetEvaluator", "check_space",
           "collapse_lines"]
