"""sdqkd — a software-defined quantum key distribution network.

The package tree follows the planes of an SD-QKD network (see ``docs/architecture.md``):
``physics`` (pure link models) → ``topology`` (what the network is made of) → ``planning``
(link budgets of a topology) → ``cli`` (the command line).
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
