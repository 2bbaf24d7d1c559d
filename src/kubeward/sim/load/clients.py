"""Synthetic API clients: the cluster's own components and the scenario's declared clients.

Each client has instances (``count`` of them, or one per node) that send their requests through
the API-server model. A ``watch`` request is an informer as client-go runs it: LIST (from the
watch cache, ``resourceVersion=0``), then WATCH; when the watch ends it lists again, backing off
exponentially (0.8 s doubling to 30 s, with jitter) while the LIST fails. Any other request
repeats every ``interval`` with jitter; after an error it is retried after ``retrySeconds`` when
``relistOnError`` is set, else at the next interval.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from kubeward.sim.load.apf import Identity, Target, service_account_groups
from kubeward.sim.load.cost import selectivity
from kubeward.sim.load.engine import APIServerModel, Request, WatchHandle
from kubeward.sim.load.spec import ClientSpec, CoreDNSSpec, RequestSpec
from kubeward.sim.load.stats import storage_key_for

BACKOFF_INITIAL, BACKOFF_MAX = 0.8, 30.0
K8S_VERSION = "v1.31.0"


def identity(user: str, groups: list[str] | None) -> Identity:
    """The groups authenticators give ``user`` when the scenario names none."""
    if groups is not None:
        return Identity(user, tuple(dict.fromkeys([*groups, "system:authenticated"])))
    derived = list(service_account_groups(user))
    if user.startswith("system:node:"):
        derived.append("system:nodes")
    return Identity(user, (*derived, "system:authenticated"))


def builtin_clients(coredns: CoreDNSSpec) -> list[ClientSpec]:
    """kubelets, kube-proxy, CoreDNS, kube-controller-manager and kube-scheduler, with the
    identities and request patterns they have in a kubeadm cluster."""

    def watch(resource: str, **kw: str) -> dict[str, object]:
        return {"verb": "watch", "resource": resource, **kw}

    specs = [
        {
            "name": "kubelet",
            "user": "system:node:{node}",
            "userAgent": f"kubelet/{K8S_VERSION} (linux/amd64) kubernetes/sim",
            "perNode": True,
            "rampSeconds": 30,  # nodes' components do not all start in the same second
            "system": True,
            "relistOnError": True,
            "requests": [
                {
                    "verb": "update",
                    "resource": "coordination.k8s.io/leases",
                    "namespace": "kube-node-lease",
                    "name": "{node}",
                    "interval": 10,
                },
                {"verb": "patch", "resource": "nodes", "name": "{node}", "interval": 300},
                watch("pods", fieldSelector="spec.nodeName={node}"),
                watch("nodes", fieldSelector="metadata.name={node}"),
                watch("services"),
            ],
        },
        {
            "name": "kube-proxy",
            "user": "system:serviceaccount:kube-system:kube-proxy",
            "userAgent": f"kube-proxy/{K8S_VERSION} (linux/amd64) kubernetes/sim",
            "perNode": True,
            "rampSeconds": 30,
            "system": True,
            "requests": [
                watch("services"),
                watch("discovery.k8s.io/endpointslices"),
                watch("nodes", fieldSelector="metadata.name={node}"),
            ],
        },
        {
            "name": "coredns",
            "user": "system:serviceaccount:kube-system:coredns",
            "userAgent": "coredns/v1.11.3 (linux/amd64) kubernetes/sim",
            "count": coredns.replicas,
            "system": True,
            "requests": [
                watch("services"),
                watch("discovery.k8s.io/endpointslices"),
                watch("namespaces"),
            ],
        },
        {
            "name": "kube-controller-manager",
            "user": "system:kube-controller-manager",
            "userAgent": f"kube-controller-manager/{K8S_VERSION} (linux/amd64) kubernetes/sim",
            "count": 1,
            "system": True,
            "relistOnError": True,
            "requests": [
                {
                    "verb": "update",
                    "resource": "coordination.k8s.io/leases",
                    "namespace": "kube-system",
                    "name": "kube-controller-manager",
                    "interval": 2,
                },
                *(
                    watch(r)
                    for r in (
                        "pods",
                        "nodes",
                        "namespaces",
                        "services",
                        "discovery.k8s.io/endpointslices",
                        "apps/deployments",
                        "apps/replicasets",
                        "apps/daemonsets",
                        "apps/statefulsets",
                        "batch/jobs",
                    )
                ),
            ],
        },
        {
            "name": "kube-scheduler",
            "user": "system:kube-scheduler",
            "userAgent": f"kube-scheduler/{K8S_VERSION} (linux/amd64) kubernetes/sim",
            "count": 1,
            "system": True,
            "relistOnError": True,
            "requests": [
                {
                    "verb": "update",
                    "resource": "coordination.k8s.io/leases",
                    "namespace": "kube-system",
                    "name": "kube-scheduler",
                    "interval": 2,
                },
                watch("pods"),
                watch("nodes"),
            ],
        },
    ]
    return [ClientSpec.model_validate(s) for s in specs]


@dataclass
class ClientStats:
    requests: int = 0
    codes: Counter[int] = field(default_factory=Counter)
    # simulated minute -> [succeeded, requests], for success ratios over a time range
    by_minute: dict[int, list[int]] = field(default_factory=dict)

    @property
    def succeeded(self) -> int:
        return sum(n for code, n in self.codes.items() if 200 <= code < 400)

    def add(self, finished: float, code: int) -> None:
        self.requests += 1
        self.codes[code] += 1
        bucket = self.by_minute.setdefault(int(finished // 60), [0, 0])
        bucket[0] += 200 <= code < 400
        bucket[1] += 1

    def between(self, start: float, end: float) -> tuple[int, int]:
        """(succeeded, requests) that finished in whole minutes within [start, end)."""
        ok = total = 0
        for minute, (good, n) in self.by_minute.items():
            if start <= minute * 60 and (minute + 1) * 60 <= end:
                ok, total = ok + good, total + n
        return ok, total


def _fill(text: str, node: str) -> str:
    return text.replace("{node}", node)


class _Template:
    """What an instance's request always is; ``request()`` stamps a fresh one."""

    def __init__(self, client: SyntheticClient, spec: RequestSpec, node: str, nodes: int) -> None:
        group, plural = spec.group_plural
        self.client = client
        self.spec = spec
        self.node = node
        self.storage_key = storage_key_for(group, plural)
        self.namespace = _fill(spec.namespace, node)
        self.name = _fill(spec.name, node)
        self.selectivity = selectivity(_fill(spec.field_selector, node), self.name, nodes)
        self.has_selector = bool(spec.label_selector or spec.field_selector)
        self.who = identity(_fill(client.spec.user, node), client.spec.groups)
        self.group, self.plural = group, plural
        prefix = f"/apis/{group}/v1" if group else "/api/v1"
        ns = f"/namespaces/{self.namespace}" if self.namespace else ""
        tail = f"/{self.name}" if self.name else ""
        self.path = f"{prefix}{ns}/{plural}{tail}"

    def request(self, verb: str, resource_version: str | None) -> Request:
        query = []
        if resource_version is not None:
            query.append(f"resourceVersion={resource_version}")
        if self.spec.limit and verb == "list":
            query.append(f"limit={self.spec.limit}")
        if verb == "watch":
            query.append("watch=true")
        if self.spec.field_selector:
            query.append("fieldSelector=" + _fill(self.spec.field_selector, self.node))
        uri = self.path + ("?" + "&".join(query) if query else "")
        return Request(
            who=self.who,
            target=Target(verb, True, self.group, self.plural, self.namespace),
            storage_key=self.storage_key,
            user_agent=self.client.spec.user_agent,
            name=self.name if verb not in ("list", "watch") else "",
            resource_version=resource_version,
            limit=self.spec.limit if verb == "list" else 0,
            has_selector=self.has_selector,
            selectivity=self.selectivity,
            uri=uri,
            synthetic=True,
            client=self.client.spec.name,
            system=self.client.spec.system,
            node=self.node,
            on_done=self.client.record,
        )


class _Periodic:
    def __init__(self, model: APIServerModel, template: _Template, start: float) -> None:
        self.model, self.t = model, template
        self.failures = 0
        model.at(start, self.fire)

    def fire(self) -> None:
        request = self.t.request(self.t.spec.verb, self.t.spec.resource_version)
        request.on_done = self.done
        self.model.submit(request)

    def done(self, request: Request, code: int) -> None:
        self.t.client.record(request, code)
        spec = self.t.spec
        rng = self.t.client.rng
        if 200 <= code < 400 or not self.t.client.spec.relist_on_error:
            self.failures = 0
            wait = spec.interval * (1 + spec.jitter * (2 * rng.random() - 1))
        else:  # retry, doubling the delay per failure up to the interval
            self.failures += 1
            delay = self.t.client.spec.retry_seconds * 2 ** min(self.failures - 1, 16)
            wait = min(delay, spec.interval) * (0.5 + rng.random())
        self.model.at(self.model.now + wait, self.fire)


class Informer:
    """LIST then WATCH; relist when the watch ends. ``broken_since`` is when it last lost its
    watch (None while watching)."""

    def __init__(self, model: APIServerModel, template: _Template, start: float) -> None:
        self.model, self.t = model, template
        self.handle: WatchHandle | None = None
        self.synced = False
        self.broken_since: float | None = start
        self.backoff = BACKOFF_INITIAL
        spec = template.spec
        explicit = "resource_version" in spec.model_fields_set
        self.list_rv = spec.resource_version if explicit else "0"
        model.at(start, self.list)

    def list(self) -> None:
        request = self.t.request("list", self.list_rv)
        request.on_done = self._listed
        self.model.submit(request)

    def _listed(self, request: Request, code: int) -> None:
        self.t.client.record(request, code)
        if code != 200:
            self._retry()
            return
        watch = self.t.request("watch", "1")
        watch.on_done = self._watching
        self.model.submit(watch)

    def _watching(self, request: Request, code: int) -> None:
        self.t.client.record(request, code)
        if code != 200 or self.t.storage_key is None:
            self._retry()
            return
        self.handle = self.model.open_watch(self.t.storage_key, self.t.selectivity, self._closed)
        if self.handle is None:
            self._retry()
            return
        self.synced, self.broken_since, self.backoff = True, None, BACKOFF_INITIAL

    def _closed(self) -> None:
        self.handle = None
        self.synced = False
        self.broken_since = self.model.now
        self.model.at(self.model.now + self.t.client.rng.random(), self.list)

    def _retry(self) -> None:
        wait = self.backoff * (1 + self.t.client.rng.random())
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        self.model.at(self.model.now + wait, self.list)


class SyntheticClient:
    def __init__(self, spec: ClientSpec, seed: int) -> None:
        self.spec = spec
        self.rng = random.Random(seed)
        self.stats = ClientStats()
        self.informers: list[list[Informer]] = []  # per instance

    def record(self, request: Request, code: int) -> None:
        self.stats.add(request.finished, code)

    def start(self, model: APIServerModel, nodes: list[str]) -> None:
        spec = self.spec
        instances = nodes if spec.per_node else [str(i) for i in range(spec.count or 0)]
        n = len(instances)
        for i, node in enumerate(instances):
            begin = spec.start_at + (spec.ramp_seconds * i / n if n else 0.0)
            mine = []
            for rspec in spec.requests:
                template = _Template(self, rspec, node if spec.per_node else "", len(nodes))
                offset = self.rng.random() * rspec.interval
                if rspec.verb == "watch":
                    mine.append(Informer(model, template, begin + self.rng.random()))
                else:
                    _Periodic(model, template, begin + offset)
            self.informers.append(mine)
