"""What a classical channel's transceiver needs to keep working: its rate class, the receiver's
sensitivity, the margin its operator wants above it, and whether it can change wavelength.

A classical channel of a topology names its rate class (``10G``, ``100G``) and may give its own
``receiver_sensitivity_dbm``, ``required_margin_db`` and ``tunable``; what it leaves out comes from
the class's defaults below, each with its provenance. The *floor* of a channel, the lowest launch
power it may run at, is ``sensitivity + span loss + margin`` (:func:`power_floor_dbm`): a controller
that lowers classical power to make room for a quantum channel never goes below it.

Defaults (``../shared/reference/optical.md``, from transceiver datasheets and engineering practice):

    class  sensitivity  margin  tunable  what
    10G    -24 dBm      3 dB    no       NRZ DWDM pluggable (SFP+/XFP) with an APD receiver, BER 1e-12
    100G   -20 dBm      3 dB    yes      coherent DP-QPSK (CFP2-DCO), unamplified receiver range
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "C_BAND_NM",
    "RateClass",
    "Transceiver",
    "TransceiverClass",
    "power_floor_dbm",
    "transceiver_class",
]

#: The C band a tunable transceiver covers, nm (ITU-T G.694.1 grid, 1528–1568 nm).
C_BAND_NM = (1528.0, 1568.0)


class RateClass(StrEnum):
    """The line rate of a classical channel's transceiver."""

    G10 = "10G"
    G100 = "100G"


@dataclass(frozen=True)
class TransceiverClass:
    """The defaults of a rate class.

    Attributes:
        rate_class: the class.
        receiver_sensitivity_dbm: the lowest received power that keeps the target bit error rate, dBm.
        required_margin_db: the engineering margin kept above it (ageing, repair splices), dB.
        tunable: whether its laser tunes across :data:`C_BAND_NM`.
        source: where the figures come from.
    """

    rate_class: RateClass
    receiver_sensitivity_dbm: float
    required_margin_db: float
    tunable: bool
    source: str


_CLASSES = {
    RateClass.G10: TransceiverClass(
        RateClass.G10,
        receiver_sensitivity_dbm=-24.0,
        required_margin_db=3.0,
        tunable=False,
        source=(
            "10G DWDM SFP+/XFP (NRZ) with an APD receiver: about -24 dBm at BER 1e-12; fixed-wavelength "
            "parts are the common case; 3 dB engineering margin (reference/optical.md)"
        ),
    ),
    RateClass.G100: TransceiverClass(
        RateClass.G100,
        receiver_sensitivity_dbm=-20.0,
        required_margin_db=3.0,
        tunable=True,
        source=(
            "100G coherent DP-QPSK (e.g. CFP2-DCO): receiver range about -20 to 0 dBm unamplified, "
            "tunable across the C band; 3 dB engineering margin (reference/optical.md)"
        ),
    ),
}


def transceiver_class(rate_class: RateClass) -> TransceiverClass:
    """The defaults of ``rate_class``."""
    return _CLASSES[rate_class]


@dataclass(frozen=True)
class Transceiver:
    """A channel's transceiver with every figure resolved (its own, or its class's default).

    Attributes:
        rate_class: its class.
        receiver_sensitivity_dbm: dBm.
        required_margin_db: dB.
        tunable: whether it can move to another grid channel of :data:`C_BAND_NM`.
        defaults: the names of the figures taken from the class's defaults.
    """

    rate_class: RateClass
    receiver_sensitivity_dbm: float
    required_margin_db: float
    tunable: bool
    defaults: tuple[str, ...] = ()


def power_floor_dbm(transceiver: Transceiver, span_loss_db: float) -> float:
    """The lowest launch power a channel may run at, dBm: its receiver's sensitivity, plus the loss
    between transmitter and receiver (fibre, connectors, multiplexers), plus the required margin.

    Args:
        transceiver: the channel's transceiver.
        span_loss_db: the span's loss, dB.
    """
    return transceiver.receiver_sensitivity_dbm + span_loss_db + transceiver.required_margin_db
