"""Ordered Proof of Transit (draft-ietf-sfc-proof-of-transit): the scheme's mathematics and its profiles.

A contract of two planes (DESIGN §1): the controller generates a path's profiles and hands each node its
:class:`NodeShare`; the OPoT data path (:mod:`sdqkd.apps.opot_path`) and the node's service manager read
them. Pure: no I/O. :mod:`sdqkd.apps.opot` offers the same names to applications.
"""

from sdqkd.opot.scheme import (
    DEFAULT_PRIME,
    MIN_KEY_BYTES,
    MIN_PRIME_BITS,
    Mask,
    NodeProfile,
    NodeShare,
    PathProfile,
    PotField,
    RandomSource,
    VerifierProfile,
    check_prime,
    cml_update,
    derive_mask,
    generate_profiles,
    is_prime,
    lpc,
    new_rnd,
    node_update,
    opot_ingress,
    opot_transit,
    opot_verify,
    verify_cml,
)

__all__ = [
    "DEFAULT_PRIME",
    "MIN_KEY_BYTES",
    "MIN_PRIME_BITS",
    "Mask",
    "NodeProfile",
    "NodeShare",
    "PathProfile",
    "PotField",
    "RandomSource",
    "VerifierProfile",
    "check_prime",
    "cml_update",
    "derive_mask",
    "generate_profiles",
    "is_prime",
    "lpc",
    "new_rnd",
    "node_update",
    "opot_ingress",
    "opot_transit",
    "opot_verify",
    "verify_cml",
]
