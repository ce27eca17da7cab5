"""Ordered Proof of Transit for applications: the names of :mod:`sdqkd.opot` (the scheme's mathematics,
which the controller shares to generate profiles), where applications and their users look for them."""

from sdqkd import opot as _opot
from sdqkd.opot import *  # noqa: F403 - the same names as sdqkd.opot

__all__ = list(_opot.__all__)
