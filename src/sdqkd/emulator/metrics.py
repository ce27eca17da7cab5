"""The emulated plant's figures as Prometheus metrics, read from the emulator at each scrape.

    sdqkd_link_skr_bits_per_second{link,transmitter,receiver,fibre}   secret key rate now, bit/s
    sdqkd_link_active{link,transmitter,receiver,fibre}                1 while the pair makes key
    sdqkd_link_excess_noise_snu{...}                                  excess noise at the channel input, SNU
    sdqkd_link_raman_excess_noise_snu{...}                            its Raman part (classical channels)
    sdqkd_link_loss_db{...}                                           loss of the quantum channel, dB
    sdqkd_link_keys_available{...}                                    keys waiting in the modules' buffer
    sdqkd_link_keys_delivered_total{...}                              keys the modules delivered to KMEs
    sdqkd_module_state{module,node,state}                             1 for the module's state, else 0
    sdqkd_fibre_cut{fibre}                                            1 while the fibre is cut
    sdqkd_switch_port_connected{switch,port}                          1 for the port the common port is on
    sdqkd_emulator_time_scale                                         world seconds per real second

With the ``protocol`` engine, per pair, what its post-processing blocks measured
(:class:`~sdqkd.emulator.protocol.ProtocolFigures`):

    sdqkd_link_protocol_efficiency{link,transmitter,receiver,fibre}   β of the last reconciled block
    sdqkd_link_protocol_mean_efficiency{...}                          mean β over the blocks
    sdqkd_link_protocol_frame_error_rate{...}                         FER of the last reconciled block
    sdqkd_link_protocol_mean_frame_error_rate{...}                    frames dropped / frames, all blocks
    sdqkd_link_protocol_blocks{...}, ..._aborted_blocks{...}          blocks run, and those without key
    sdqkd_link_protocol_key_bits{...}                                 final key bits the blocks made
    sdqkd_link_protocol_key_rate_bits_per_second{...}                 key bits per world second achieved
    sdqkd_link_protocol_block_symbols{...}                            symbols per block
    sdqkd_link_protocol_realtime_fraction{...}                        link time / compute time of the
                                                                      last block, at most 1

Pairs are the transmitter-receiver pairs whose configurations name each other (the emulator's
``/api/v1/links``); ``link`` is the topology's QKD link of that pair, or ``TX~RX`` for a pair the
topology does not list. The noise and loss gauges are absent for a pair that cannot be evaluated (no
channel set). Excess noise is in shot-noise units (dimensionless, the CV-QKD convention).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sdqkd.emulator.engine import Emulator, ModuleState
from sdqkd.emulator.world import PairState

__all__ = ["EmulatorCollector"]

_PAIR_LABELS = ["link", "transmitter", "receiver", "fibre"]
_STATES: tuple[ModuleState, ...] = get_args(ModuleState)
_PROTOCOL_GAUGES = [  # (figure, metric name, help)
    ("efficiency", "efficiency", "reconciliation efficiency beta measured by the last reconciled block"),
    ("mean_efficiency", "mean_efficiency", "mean reconciliation efficiency beta over the pair's blocks"),
    ("frame_error_rate", "frame_error_rate", "LDPC frame error rate of the last reconciled block"),
    ("mean_frame_error_rate", "mean_frame_error_rate", "frames dropped over frames attempted, all blocks"),
    ("blocks", "blocks", "post-processing blocks the pair ran to the end"),
    ("aborted", "aborted_blocks", "blocks that made no key"),
    ("key_bits", "key_bits", "final key bits the pair's blocks made"),
    ("key_rate_world_bps", "key_rate_bits_per_second", "key bits per world second the blocks achieved"),
    ("block_symbols", "block_symbols", "symbols per post-processing block"),
    ("realtime_fraction", "realtime_fraction", "link time over compute time of the last block, at most 1"),
]


class EmulatorCollector(Collector):
    """Links, modules, fibres and switches of the emulated network, computed at each scrape."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def _link_of(self, pair: PairState) -> str:
        for link in self.emulator.world.topology.qkd_links:
            if (link.transmitter, link.receiver) == pair.key:
                return link.id
        return f"{pair.transmitter}~{pair.receiver}"

    def collect(self) -> Iterator[Metric]:
        yield from self._pairs()
        yield from self._plant()

    def _pairs(self) -> Iterator[Metric]:
        emulator = self.emulator

        def gauge(name: str, documentation: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, documentation, labels=_PAIR_LABELS)

        skr = gauge("sdqkd_link_skr_bits_per_second", "secret key rate the pair makes now, bit/s")
        active = gauge("sdqkd_link_active", "1 while the pair makes key, 0 when it does not")
        noise = gauge(
            "sdqkd_link_excess_noise_snu", "total excess noise of the quantum channel at its input, SNU"
        )
        raman = gauge(
            "sdqkd_link_raman_excess_noise_snu",
            "excess noise from spontaneous Raman scattering of the fibre's classical channels, SNU",
        )
        loss = gauge("sdqkd_link_loss_db", "end-to-end loss of the quantum channel, dB")
        available = gauge("sdqkd_link_keys_available", "keys waiting in the pair's buffer for its KMEs")
        delivered = CounterMetricFamily(
            "sdqkd_link_keys_delivered",
            "keys the pair's modules delivered over ETSI 014 since the emulator started",
            labels=_PAIR_LABELS,
        )
        size_bits = emulator.limits.key_size_bits
        for pair in emulator.pairs():
            labels = [self._link_of(pair), pair.transmitter, pair.receiver, pair.fibre]
            skr.add_metric(labels, pair.rate_bps)
            active.add_metric(labels, 1.0 if pair.active else 0.0)
            if pair.budget is not None:
                noise.add_metric(labels, pair.budget.total_excess_noise_snu)
                raman.add_metric(labels, pair.budget.raman_noise_snu)
                loss.add_metric(labels, pair.budget.loss_db)
            keys = emulator.keys.get(pair.key)
            available.add_metric(labels, float(keys.stored_keys(size_bits)) if keys else 0.0)
            delivered.add_metric(labels, float(keys.delivered_keys) if keys else 0.0)
        yield from (skr, active, noise, raman, loss, available, delivered)
        if emulator.protocol is not None:
            yield from self._protocol()

    def _protocol(self) -> Iterator[Metric]:
        emulator = self.emulator
        assert emulator.protocol is not None
        gauges = {
            name: GaugeMetricFamily(f"sdqkd_link_protocol_{metric}", documentation, labels=_PAIR_LABELS)
            for name, metric, documentation in _PROTOCOL_GAUGES
        }
        for pair in emulator.pairs():
            labels = [self._link_of(pair), pair.transmitter, pair.receiver, pair.fibre]
            figures = emulator.protocol.figures_of(pair.key).as_json(emulator.time_scale)
            for name, gauge in gauges.items():
                if figures[name] is not None:
                    gauge.add_metric(labels, float(figures[name]))
        yield from gauges.values()

    def _plant(self) -> Iterator[Metric]:
        emulator, world = self.emulator, self.emulator.world
        modules = GaugeMetricFamily(
            "sdqkd_module_state",
            "1 for the state the QKD module is in (up, down, unpaired, disabled, failed), 0 for the others",
            labels=["module", "node", "state"],
        )
        for module in world.topology.qkd_modules:
            state, _ = emulator.module_state(module.id)
            for candidate in _STATES:
                modules.add_metric([module.id, module.node, candidate], 1.0 if candidate == state else 0.0)
        cut = GaugeMetricFamily("sdqkd_fibre_cut", "1 while the fibre is cut, 0 when whole", labels=["fibre"])
        for fibre in world.topology.fibres:
            cut.add_metric([fibre.id], 1.0 if fibre.id in world.cut_fibres else 0.0)
        ports = GaugeMetricFamily(
            "sdqkd_switch_port_connected",
            "1 for the output port the optical switch's common port is cross-connected to, 0 for the "
            "others (all 0: open)",
            labels=["switch", "port"],
        )
        for switch in world.topology.switches:
            for port in switch.ports:
                ports.add_metric([switch.id, port.id], 1.0 if port.id == switch.connected_port else 0.0)
        scale = GaugeMetricFamily("sdqkd_emulator_time_scale", "world seconds that pass per real second")
        scale.add_metric([], emulator.time_scale)
        yield from (modules, cut, ports, scale)
