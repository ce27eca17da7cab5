"""The controller's optical layer: the shared fibres' classical and quantum channels, the
``protect-qkd`` policy that keeps the QKD links at target, admission of classical channels, and the
scheduling of switched transmitters (docs/optical.md)."""

from __future__ import annotations

__all__: list[str] = []
