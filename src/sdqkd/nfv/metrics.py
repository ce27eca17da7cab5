"""A service manager's processes as Prometheus metrics, read from its supervisor at each scrape.

    sdqkd_nfv_info{node}                      1, naming the node the manager runs on
    sdqkd_nfv_processes{kind,state}           processes of a kind in each state
    sdqkd_nfv_process_state{process,kind,state}  1 for the state the process is in, 0 for the others
    sdqkd_nfv_process_restarts_total{process,kind}  times the manager restarted it (since it was put)

States are the supervisor's: ``starting``, ``running``, ``restarting``, ``failed`` (a crash loop),
``stopped``. Process arguments (which may name files and peers) are not labels.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import get_args

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from sdqkd.nfv.supervisor import State, Supervisor

__all__ = ["SupervisorCollector"]

_STATES: tuple[State, ...] = get_args(State)


class SupervisorCollector(Collector):
    """Processes by kind and state, and their restarts, computed at each scrape."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        processes = self.supervisor.list()
        info = InfoMetricFamily("sdqkd_nfv", "the node whose service manager this is")
        info.add_metric([], {"node": self.supervisor.site.node_id})
        by_state = GaugeMetricFamily(
            "sdqkd_nfv_processes", "processes of a kind in each state", labels=["kind", "state"]
        )
        counts = Counter((p.kind, p.state) for p in processes)
        for kind in sorted({p.kind for p in processes}):
            for state in _STATES:
                by_state.add_metric([kind, state], float(counts[(kind, state)]))
        state_of = GaugeMetricFamily(
            "sdqkd_nfv_process_state",
            "1 for the state the process is in, 0 for the others",
            labels=["process", "kind", "state"],
        )
        restarts = CounterMetricFamily(
            "sdqkd_nfv_process_restarts",
            "times the manager restarted the process after it died, since it was put",
            labels=["process", "kind"],
        )
        for process in processes:
            for state in _STATES:
                state_of.add_metric([process.id, process.kind, state], 1.0 if process.state == state else 0.0)
            restarts.add_metric([process.id, process.kind], float(process.restarts))
        yield from (info, by_state, state_of, restarts)
