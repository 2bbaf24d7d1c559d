"""CoreDNS as the outage showed it: it answers from the cache its watches keep, so it rides
out a short API-server outage; once its watches have been broken for longer than its cache
window, lookups of cluster names fail with SERVFAIL.

(With the ``serve_stale`` option CoreDNS would keep answering from stale data instead: the
outage is hidden, and clients may be sent to pod IPs that no longer exist.)
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from kubeward.sim.load.clients import SyntheticClient
from kubeward.sim.load.spec import CoreDNSSpec

SERVER, ZONE = "dns://:53", "cluster.local."


class CoreDNSModel:
    def __init__(self, spec: CoreDNSSpec, client: SyntheticClient) -> None:
        self.spec = spec
        self.client = client
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "coredns_dns_requests",
            "Counter of DNS requests made per zone, protocol and family.",
            ["server", "zone", "proto", "family", "type"],
            registry=self.registry,
        )
        self.responses = Counter(
            "coredns_dns_responses",
            "Counter of response status codes.",
            ["server", "zone", "rcode", "plugin"],
            registry=self.registry,
        )
        self.app_lookups = Counter(
            "kubeward_sim_app_dns_lookups",
            "Service-name lookups made by the simulated applications, by result.",
            ["result"],
            registry=self.registry,
        )
        self.failure_seconds = 0.0  # simulated seconds with every replica failing
        self.first_failure: float | None = None
        self._last = 0.0
        self._carry = 0.0
        self.registry.register(_OutageCollector(self))

    def healthy_replicas(self, now: float) -> list[bool]:
        window = self.spec.cache_window
        out = []
        # An informer that never synced counts as broken since its start.
        for informers in self.client.informers:
            ok = all(
                inf.synced or (inf.broken_since is not None and now - inf.broken_since < window)
                for inf in informers
            )
            out.append(ok)
        return out

    def tick(self, now: float) -> None:
        dt, self._last = now - self._last, now
        if dt <= 0:
            return
        replicas = self.healthy_replicas(now)
        if not replicas:
            return
        if not any(replicas):
            self.failure_seconds += dt
            if self.first_failure is None:
                self.first_failure = now
        queries = self.spec.queries_per_second * dt + self._carry
        whole = int(queries)
        self._carry = queries - whole
        per_replica, extra = divmod(whole, len(replicas))
        for i, healthy in enumerate(replicas):
            n = per_replica + (1 if i < extra else 0)
            if not n:
                continue
            rcode = "NOERROR" if healthy else "SERVFAIL"
            self.requests.labels(SERVER, ZONE, "udp", "1", "A").inc(n)
            self.responses.labels(SERVER, ZONE, rcode, "kubernetes").inc(n)
            self.app_lookups.labels("ok" if healthy else "failed").inc(n)


class _OutageCollector(Collector):
    """The model's own tally of total DNS outage, for replays to read over HTTP."""

    def __init__(self, model: CoreDNSModel) -> None:
        self.model = model

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "kubeward_sim_dns_outage_seconds",
            "Simulated seconds during which every CoreDNS replica answered SERVFAIL.",
            value=self.model.failure_seconds,
        )
