"""The master's own series (prometheus_client), read from the informers at scrape time.

``kubeward_collector_stale_seconds{resource}`` is how long the collector has been without a
working connection for that kind: 0 while its watch stream is open, else the time since the
stream was last open or the server last sent anything. ``kubeward_collector_lag_seconds``
is the time since the server last sent anything at all (events, bookmarks, a list): on a
healthy but quiet watch it grows up to the bookmark interval and drops back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from kubeward.client import Informer
from kubeward.collect.link import WorkerLink


class Contact:
    """When each informer was last known to be in contact with the API server."""

    def __init__(self, informers: Mapping[str, Informer], clock: Callable[[], float] = time.time):
        self.informers = informers
        self.clock = clock
        self.started = clock()
        self.last_connected: dict[str, float] = {}

    def sample(self) -> None:
        """Record open watches (called every second and at every scrape)."""
        now = self.clock()
        for name, informer in self.informers.items():
            if informer.connected:
                self.last_connected[name] = now

    def stale_seconds(self, name: str) -> float:
        informer = self.informers[name]
        if informer.connected:
            return 0.0
        seen = [
            t
            for t in (self.last_connected.get(name), informer.stats.last_event_time)
            if t is not None
        ]
        return max(0.0, self.clock() - (max(seen) if seen else self.started))


def _per_resource(
    family: CounterMetricFamily | GaugeMetricFamily,
    informers: Mapping[str, Informer],
    value: Callable[[str, Informer], float | None],
) -> CounterMetricFamily | GaugeMetricFamily:
    for name, informer in informers.items():
        v = value(name, informer)
        if v is not None:
            family.add_metric([name], v)
    return family


class CollectorMetrics(Collector):
    def __init__(
        self,
        informers: Mapping[str, Informer],
        contact: Contact,
        applied: Callable[[str], int],
        rejected: Callable[[str], int],
        links: Sequence[WorkerLink],
    ) -> None:
        self.informers, self.contact, self.links = informers, contact, links
        self.applied, self.rejected = applied, rejected

    def collect(self) -> Iterator[Any]:
        inf = self.informers
        self.contact.sample()

        def counter(name: str, help_text: str) -> CounterMetricFamily:
            return CounterMetricFamily(name, help_text, labels=["resource"])

        def gauge(name: str, help_text: str) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, help_text, labels=["resource"])

        requests = CounterMetricFamily(
            "kubeward_collector_requests",
            "HTTP requests sent to the API server, by resource and verb (LIST pages, WATCH "
            "streams), failed ones included.",
            labels=["resource", "verb"],
        )
        for name, informer in inf.items():
            for verb in ("LIST", "WATCH"):
                requests.add_metric([name, verb], informer.stats.requests[verb])
        yield requests
        yield _per_resource(
            counter(
                "kubeward_collector_deltas_applied",
                "Deltas (added/modified/deleted objects) passed on to the workers' state or to "
                "the event store.",
            ),
            inf,
            lambda n, _: self.applied(n),
        )
        yield _per_resource(
            counter(
                "kubeward_collector_rows_rejected",
                "Objects skipped because they could not be turned into rows (malformed).",
            ),
            inf,
            lambda n, _: self.rejected(n),
        )
        yield _per_resource(
            counter(
                "kubeward_collector_watch_restarts",
                "Watches reopened from the last resourceVersion without a relist.",
            ),
            inf,
            lambda _, i: i.stats.restarts,
        )
        yield _per_resource(
            counter("kubeward_collector_relists", "Complete lists after the first one."),
            inf,
            lambda _, i: i.stats.relists,
        )
        yield _per_resource(
            counter(
                "kubeward_collector_retries",
                "Failed requests followed by a backoff (429/503/connection errors ...).",
            ),
            inf,
            lambda _, i: i.stats.errors,
        )
        yield _per_resource(
            counter("kubeward_collector_throttled", "429 Too Many Requests answers."),
            inf,
            lambda _, i: i.stats.throttled,
        )
        yield _per_resource(
            gauge(
                "kubeward_collector_lag_seconds",
                "Seconds since the API server last sent anything for this resource "
                "(events, bookmarks or a list).",
            ),
            inf,
            lambda _, i: i.stale_seconds(),
        )
        yield _per_resource(
            gauge(
                "kubeward_collector_stale_seconds",
                "Seconds since the collector last had a working connection for this "
                "resource; 0 while its watch is open. /metrics keeps serving the last known "
                "state meanwhile.",
            ),
            inf,
            lambda n, _: self.contact.stale_seconds(n),
        )
        yield _per_resource(
            gauge("kubeward_collector_watch_connected", "1 while the watch stream is open."),
            inf,
            lambda _, i: float(i.connected),
        )
        yield _per_resource(
            gauge("kubeward_collector_synced", "1 once the first complete list was received."),
            inf,
            lambda _, i: float(i.synced.is_set()),
        )
        yield _per_resource(
            gauge("kubeward_collector_objects", "Objects known to the informer."),
            inf,
            lambda _, i: len(i.store),
        )
        yield GaugeMetricFamily(
            "kubeward_collector_workers", "Worker processes configured.", value=len(self.links)
        )
        up = GaugeMetricFamily(
            "kubeward_collector_worker_up", "1 while the worker process runs.", labels=["worker"]
        )
        for link in self.links:
            up.add_metric([str(link.index)], 0.0 if link.dead.is_set() else 1.0)
        yield up
