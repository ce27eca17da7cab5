"""A node agent's view as Prometheus metrics, read from its datastore and its last device readings at
each scrape.

    sdqkd_agent_info{node,qkdn_id}                          1, naming the node
    sdqkd_agent_link_skr_bits_per_second{link,type}         ``qkdl_performance/skr``, bit/s
    sdqkd_agent_link_eskr_bits_per_second{link,type}        ``eskr``: less what the key relay uses here
    sdqkd_agent_link_status{link,type,status}               1 for the link's ``qkdl_status``, 0 for the others
    sdqkd_agent_link_snr{link}                              the receiver's SNR (linear), PHYS links making key
    sdqkd_agent_link_excess_noise_snu{link}                 excess noise at the channel input, SNU
    sdqkd_agent_link_raman_excess_noise_snu{link}           its Raman part, SNU
    sdqkd_agent_interface_status{interface,status}          1 for a module's ``qkdi_status``, 0 for the others
    sdqkd_agent_notifications_total{notification}           notifications sent on the event stream
    sdqkd_agent_restconf_write_duration_seconds{operation,code}  (histogram: the datastore's writes, by
                                                            method and status, from the RESTCONF app)

``link`` is the ``qkdl_id`` the controller chose, ``type`` ``PHYS`` or ``VIRT``. CV-QKD has no QBER:
its error figures are the excess noise and the SNR. The noise gauges are absent for a link whose module
reports none.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from uuid import UUID

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from sdqkd.agent.node import NodeAgent
from sdqkd.etsi015 import QKD_NODE, InterfaceStatus, LinkStatus

__all__ = ["AgentCollector"]


def _name(identityref: object) -> str:
    """``etsi-qkd-node-types:ACTIVE`` → ``ACTIVE`` (RFC 7951 identityref without its module)."""
    return str(identityref).rpartition(":")[2]


class AgentCollector(Collector):
    """The node's links, interfaces and notifications, computed at each scrape."""

    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[Metric]:
        agent = self.agent
        info = InfoMetricFamily("sdqkd_agent", "the node whose SD-QKD agent this is")
        info.add_metric([], {"node": agent.node_id, "qkdn_id": str(agent.qkdn_id)})
        node: Mapping[str, Any] = agent.datastore.tree().get(QKD_NODE, {})
        notifications = CounterMetricFamily(
            "sdqkd_agent_notifications",
            "notifications the agent sent on its RESTCONF event stream, by name",
            labels=["notification"],
        )
        for name, count in sorted(agent.stream.published.items()):
            notifications.add_metric([name.partition(":")[2]], float(count))
        yield from (info, *self._links(node), self._interfaces(node), notifications)

    def _links(self, node: Mapping[str, Any]) -> Iterator[Metric]:
        labels = ["link", "type"]
        skr = GaugeMetricFamily(
            "sdqkd_agent_link_skr_bits_per_second",
            "the link's secret key rate (qkdl_performance/skr), bit/s",
            labels=labels,
        )
        eskr = GaugeMetricFamily(
            "sdqkd_agent_link_eskr_bits_per_second",
            "the link's effective secret key rate after the key relay's use at this node (eskr), bit/s",
            labels=labels,
        )
        status = GaugeMetricFamily(
            "sdqkd_agent_link_status",
            "1 for the link's qkdl_status (ACTIVE, PASSIVE, PENDING, OFF), 0 for the others",
            labels=[*labels, "status"],
        )
        snr = GaugeMetricFamily(
            "sdqkd_agent_link_snr", "the receiver's signal-to-noise ratio, linear", labels=["link"]
        )
        noise = GaugeMetricFamily(
            "sdqkd_agent_link_excess_noise_snu",
            "excess noise of the quantum channel at its input, SNU",
            labels=["link"],
        )
        raman = GaugeMetricFamily(
            "sdqkd_agent_link_raman_excess_noise_snu",
            "excess noise from Raman scattering of the fibre's classical channels, SNU",
            labels=["link"],
        )
        for entry in node.get("qkd_links", {}).get("qkd_link", []):
            link_id, kind = str(entry["qkdl_id"]), _name(entry.get("qkdl_type", "PHYS"))
            performance = entry.get("qkdl_performance")
            if performance is not None:
                skr.add_metric([link_id, kind], float(performance.get("skr", 0)))
                eskr.add_metric([link_id, kind], float(performance.get("eskr", 0)))
            if "qkdl_status" in entry:
                current = _name(entry["qkdl_status"])
                for candidate in LinkStatus:
                    status.add_metric([link_id, kind, candidate.value], 1.0 if candidate == current else 0.0)
            qkdl_id = _uuid(link_id)
            reading = self.agent.performance.get(qkdl_id) if qkdl_id is not None else None
            if reading is not None:
                if reading.snr is not None:
                    snr.add_metric([link_id], reading.snr)
                if reading.excess_noise_snu is not None:
                    noise.add_metric([link_id], reading.excess_noise_snu)
                if reading.raman_excess_noise_snu is not None:
                    raman.add_metric([link_id], reading.raman_excess_noise_snu)
        yield from (skr, eskr, status, snr, noise, raman)

    def _interfaces(self, node: Mapping[str, Any]) -> Metric:
        status = GaugeMetricFamily(
            "sdqkd_agent_interface_status",
            "1 for the QKD interface's (module's) qkdi_status (ENABLED, DISABLED, FAILED), 0 for the others",
            labels=["interface", "status"],
        )
        for entry in node.get("qkd_interfaces", {}).get("qkd_interface", []):
            current = _name(entry.get("qkdi_status", ""))
            for candidate in InterfaceStatus:
                status.add_metric(
                    [str(entry["qkdi_id"]), candidate.value], 1.0 if candidate == current else 0.0
                )
        return status


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
