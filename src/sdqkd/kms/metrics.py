"""A KME's figures as Prometheus metrics, read from the KME and its store at each scrape.

    sdqkd_kme_info{kme}                                         1, naming the KME
    sdqkd_kme_keys_served_total{operation,master_sae,slave_sae} keys handed to SAEs (enc_keys, dec_keys)
    sdqkd_kme_pool_blocks{link,owner,state}                     256-bit blocks in a link's pool
    sdqkd_kme_pool_target_blocks                                ready blocks the supply aims for per link
    sdqkd_kme_keys_awaiting_slaves{link}                        keys held until every slave fetched them
    sdqkd_kme_blocks_used_total{link,use}                       blocks consumed (keys, relay, peer_relay)
    sdqkd_kme_local_keys_total                                  keys made for SAEs of this KME only
    sdqkd_kme_relay_keys_total{virtual_link,direction}          relayed keys (out, in, forwarded)
    sdqkd_kme_relay_blocks_used_total{virtual_link}             link blocks the relay hops consumed
    sdqkd_kme_relay_failures_total{virtual_link}                relays from here that no hop delivered
    sdqkd_kme_relay_hops_refused_total{virtual_link}            incoming hops that did not open
    sdqkd_kme_etsi014_request_duration_seconds{operation,code}  (histogram, recorded by the app)

``owner`` is ``self`` (blocks this KME pulled as master: ``pending`` until the peer confirms, then
``ready`` to hand out) or ``peer`` (blocks held for the peer KME's keys, ``ready``). Keys served count
since the KME started; the pool and relay counters come from the store, so they survive a restart.
No key material and no key ID is ever a label or a value.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from sdqkd.kms.kme import Kme
from sdqkd.kms.store import LOCAL_SCOPE

__all__ = ["KmeCollector", "etsi014_operation"]

_ETSI014_PREFIX = "/api/v1/keys/"
_ETSI014_OPERATIONS = frozenset({"status", "enc_keys", "dec_keys"})

_BLOCKS_USED = {"keys": "blocks_used_for_keys", "relay": "blocks_used_for_relay",
                "peer_relay": "peer_blocks_used_for_relay"}  # fmt: skip
_RELAYED = {"out": "keys_relayed_out", "in": "keys_relayed_in", "forwarded": "keys_forwarded"}


def etsi014_operation(method: str, path: str) -> str | None:
    """The ETSI GS QKD 014 operation a request (any ``method``) to ``path`` is (``status``,
    ``enc_keys``, ``dec_keys``), or None for any other path (timed requests are labelled by
    operation, never by SAE ID)."""
    if not path.startswith(_ETSI014_PREFIX):
        return None
    operation = path.rsplit("/", 1)[-1]
    return operation if operation in _ETSI014_OPERATIONS else None


class KmeCollector(Collector):
    """The KME's pools, the keys it served and its relays, computed at each scrape."""

    def __init__(self, kme: Kme) -> None:
        self.kme = kme

    def collect(self) -> Iterator[Metric]:
        kme, store = self.kme, self.kme.store
        info = InfoMetricFamily("sdqkd_kme", "the KME this endpoint is")
        info.add_metric([], {"kme": kme.id})
        served = CounterMetricFamily(
            "sdqkd_kme_keys_served",
            "keys handed to SAEs since the KME started, by ETSI 014 operation and SAE pair "
            "(enc_keys: to the master; dec_keys: to a slave)",
            labels=["operation", "master_sae", "slave_sae"],
        )
        for (operation, master, slave), count in sorted(kme.keys_served.items()):
            served.add_metric([operation, master, slave], float(count))
        pool = GaugeMetricFamily(
            "sdqkd_kme_pool_blocks",
            "256-bit key blocks in a link's pool (owner self: this KME's to hand out, pending until "
            "the peer confirms; owner peer: held for the peer KME's keys)",
            labels=["link", "owner", "state"],
        )
        target = GaugeMetricFamily(
            "sdqkd_kme_pool_target_blocks", "ready blocks of its own the KME keeps per link"
        )
        target.add_metric([], float(kme.config.pool_target_blocks))
        awaiting = GaugeMetricFamily(
            "sdqkd_kme_keys_awaiting_slaves",
            "keys stored until every slave SAE fetched them",
            labels=["link"],
        )
        used = CounterMetricFamily(
            "sdqkd_kme_blocks_used",
            "key blocks of a link consumed: for SAEs' keys, for relay hops sent, for relay hops received",
            labels=["link", "use"],
        )
        for levels in kme.levels():
            link = levels.link_id
            pool.add_metric([link, "self", "ready"], float(levels.ready_self))
            pool.add_metric([link, "self", "pending"], float(levels.pending_self))
            pool.add_metric([link, "peer", "ready"], float(levels.held_for_peer))
            awaiting.add_metric([link], float(levels.keys_awaiting_slaves))
            counters = store.counters(link)
            for use, name in _BLOCKS_USED.items():
                used.add_metric([link, use], float(counters.get(name, 0)))
        local_levels = store.levels(LOCAL_SCOPE)
        awaiting.add_metric([LOCAL_SCOPE], float(local_levels.keys_awaiting_slaves))
        local = CounterMetricFamily(
            "sdqkd_kme_local_keys", "keys made for SAEs that are all attached to this KME"
        )
        local.add_metric([], float(store.counters(LOCAL_SCOPE).get("keys_local", 0)))
        yield from (info, served, pool, target, awaiting, used, local)
        yield from self._relays()

    def _relays(self) -> Iterator[Metric]:
        keys = CounterMetricFamily(
            "sdqkd_kme_relay_keys",
            "keys relayed over a virtual link: sent from here (out), stored here for slaves (in), "
            "passed on as an intermediate KME (forwarded)",
            labels=["virtual_link", "direction"],
        )
        blocks = CounterMetricFamily(
            "sdqkd_kme_relay_blocks_used",
            "physical link blocks the virtual link's relay hops consumed here",
            labels=["virtual_link"],
        )
        failures = CounterMetricFamily(
            "sdqkd_kme_relay_failures",
            "relays started here over the virtual link that were not delivered (503 to the SAE or the "
            "next path tried)",
            labels=["virtual_link"],
        )
        refused = CounterMetricFamily(
            "sdqkd_kme_relay_hops_refused",
            "relay hops received for the virtual link that did not open (MAC or sizes wrong)",
            labels=["virtual_link"],
        )
        for virtual_id in sorted(self.kme.virtual_links):
            counters = self.kme.store.counters(virtual_id)
            for direction, name in _RELAYED.items():
                keys.add_metric([virtual_id, direction], float(counters.get(name, 0)))
            blocks.add_metric([virtual_id], float(counters.get("blocks_used", 0)))
            failures.add_metric([virtual_id], float(counters.get("relay_failures", 0)))
            refused.add_metric([virtual_id], float(counters.get("hops_refused", 0)))
        yield from (keys, blocks, failures, refused)
