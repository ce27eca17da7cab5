"""Ordered Proof of Transit (draft-ietf-sfc-proof-of-transit): the scheme's mathematics and its profiles.

A contract of two planes (DESIGN §1): the controller generates a path's profiles and hands each node its
:class:`NodeShare`; the OPoT data path (:mod:`sdqkd.apps.opot_path`) and the node's service manager read
them. Pure: no I/O. :mod:`sdqkd.apps.opot` offers the same names to applications.
"""

from sdqkd.opot import scheme as _scheme
from sdqkd.opot.scheme import *  # noqa: F403 - the package's names are the scheme's

__all__ = list(_scheme.__all__)
