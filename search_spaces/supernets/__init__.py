"""The supernets of the cell spaces (weight sharing; see :mod:`nas.core.supernet`).

One module per space, beside the space it shares its op descriptions with; importing this
package registers them all (``nas.core.supernet.supernet_spaces()`` lists them).
"""

from search_spaces.supernets import darts, nasbench201, nasnet

__all__ = ["darts", "nasbench201", "nasnet"]
