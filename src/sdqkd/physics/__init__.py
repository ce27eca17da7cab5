"""Pure models of a CV-QKD link: fibre loss, GG02 key rate (asymptotic and finite-size), the
PLOB/TGW bounds and Raman noise from co-propagating classical channels.

No I/O, no state: functions of numpy arrays, vectorised. Formulas and sources are in each
module's docstring.
"""

from __future__ import annotations

from sdqkd.physics.bounds import plob_bound, tgw_bound
from sdqkd.physics.channel import Detection, loss_db, snr, transmittance, transmittance_from_loss_db
from sdqkd.physics.covariance import covariance_matrix_gg02, symplectic_eigenvalues
from sdqkd.physics.finite_size import FiniteSizeSecurity, privacy_amplification_penalty, worst_case_channel
from sdqkd.physics.gg02 import (
    DetectorModel,
    equivalent_untrusted_channel,
    holevo_bound,
    holevo_g,
    key_bits_per_symbol,
    mutual_information,
)
from sdqkd.physics.keyrate import KeyRateResult, evaluate_key_rate
from sdqkd.physics.noise import NoiseBudget, noise_budget
from sdqkd.physics.raman import (
    RamanModel,
    backward_raman_power_w,
    forward_raman_power_w,
    raman_excess_noise_snu,
    raman_photons_per_mode,
)

__all__ = [
    "Detection",
    "DetectorModel",
    "FiniteSizeSecurity",
    "KeyRateResult",
    "NoiseBudget",
    "RamanModel",
    "backward_raman_power_w",
    "covariance_matrix_gg02",
    "equivalent_untrusted_channel",
    "evaluate_key_rate",
    "forward_raman_power_w",
    "holevo_bound",
    "holevo_g",
    "key_bits_per_symbol",
    "loss_db",
    "mutual_information",
    "noise_budget",
    "plob_bound",
    "privacy_amplification_penalty",
    "raman_excess_noise_snu",
    "raman_photons_per_mode",
    "snr",
    "symplectic_eigenvalues",
    "tgw_bound",
    "transmittance",
    "transmittance_from_loss_db",
    "worst_case_channel",
]
