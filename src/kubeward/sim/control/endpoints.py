"""The Endpoints and EndpointSlice controllers: which pod IPs back each Service.

As kube-controller-manager 1.31: a Service with a selector gets an Endpoints object of the same
name (ready pods in ``addresses``, unready ones in ``notReadyAddresses``, terminating pods left
out unless ``publishNotReadyAddresses``; at most 1000 addresses, then the over-capacity
annotation) and EndpointSlices ``<service>-<random>`` of at most 100 endpoints, one group of
slices per resolved port set, with ready / serving / terminating conditions, node name and zone.
Endpoints keep the slice they are in (as the real reconciler, to limit churn). Named target
ports are resolved per pod. Services without a selector are left to their owners, except the
``kubernetes`` Service, whose Endpoints and EndpointSlice the API server keeps.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY, ResourceType
from kubeward.kube.selectors import LabelSelector
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.control.selected import SelectedPods
from kubeward.sim.store.objects import StoreEvent

ENDPOINTS = REGISTRY.get("", "v1", "endpoints")
SLICES = REGISTRY.get("discovery.k8s.io", "v1", "endpointslices")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror"
HEADLESS = "service.kubernetes.io/headless"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"
OVER_CAPACITY = "endpoints.kubernetes.io/over-capacity"
MAX_ENDPOINTS = 1000  # per Endpoints object
MAX_PER_SLICE = 100  # --max-endpoints-per-slice default
BATCH_SECONDS = 0.5  # sim seconds
ZONE = "topology.kubernetes.io/zone"
# The API server's own address behind the ``kubernetes`` Service (one simulated control plane).
APISERVER_IP = "172.18.0.2"
APISERVER_SERVICE = "default/kubernetes"

Port = tuple[str, int, str, str]  # name, port, protocol, appProtocol ("" when unset)


@dataclass(frozen=True, slots=True)
class PodEndpoint:
    """What the controllers need of a selected pod."""

    name: str
    namespace: str
    uid: str
    ip: str
    node: str
    ready: bool
    terminating: bool
    terminal: bool
    hostname: str
    subdomain: str
    container_ports: tuple[tuple[str, int, str], ...]  # name, containerPort, protocol

    @classmethod
    def of(cls, pod: dict[str, Any]) -> PodEndpoint:
        meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
        return cls(
            meta["name"],
            meta.get("namespace", ""),
            meta.get("uid", ""),
            status.get("podIP") or "",
            spec.get("nodeName") or "",
            any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or ()
            ),
            bool(meta.get("deletionTimestamp")),
            status.get("phase") in ("Succeeded", "Failed"),
            spec.get("hostname") or "",
            spec.get("subdomain") or "",
            tuple(
                (p["name"], p.get("containerPort", 0), p.get("protocol", "TCP"))
                for c in spec.get("containers") or ()
                for p in c.get("ports") or ()
                if p.get("name")
            ),
        )

    def in_endpoints(self, include_terminating: bool) -> bool:
        """endpointutil.ShouldPodBeInEndpoints."""
        if self.terminal or not self.ip:
            return False
        return include_terminating or not self.terminating

    def target_ref(self) -> dict[str, str]:
        return {"kind": "Pod", "namespace": self.namespace, "name": self.name, "uid": self.uid}


class EndpointsController(Controller):
    """Both controllers in one: they share the selection and are triggered by the same events
    (two informers' worth of work for one index)."""

    name = "endpoints-controller"
    watches = (
        ("", "pods"),
        ("", "services"),
        ("", "nodes"),
        ("discovery.k8s.io", "endpointslices"),
        ("", "endpoints"),
    )

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self.selected: SelectedPods[PodEndpoint] = SelectedPods(api.store, PodEndpoint.of)
        self._slices: dict[str, set[str]] = {}  # service key -> managed slice keys
        self._zones: dict[str, str] = {}  # node -> zone
        self._batched: set[str] = set()  # services with a sync due at the end of the batch

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj, kind = event.obj, event.storage_key
        if kind == ("", "pods"):
            for key in self.selected.observe(event):
                self._batch(str(key))
            return []
        if kind == ("", "services"):
            selector = (obj.decode().get("spec") or {}).get("selector")
            if event.type == "DELETED" or not selector:
                self.selected.remove(obj.namespace, obj.name)
            else:
                self.selected.set_selector(
                    obj.namespace, obj.name, LabelSelector.from_set(selector)
                )
            return [obj.key]
        if kind == ("", "nodes"):
            zone = obj.labels.get(ZONE)
            if zone and event.type != "DELETED":
                self._zones[obj.name] = zone
            else:
                self._zones.pop(obj.name, None)
            return []
        if kind == ("discovery.k8s.io", "endpointslices"):
            svc = obj.labels.get(SERVICE_NAME)
            if svc and obj.labels.get(MANAGED_BY) == CONTROLLER:
                keys = self._slices.setdefault(f"{obj.namespace}/{svc}", set())
                if event.type == "DELETED":
                    keys.discard(obj.key)
                    return [f"{obj.namespace}/{svc}"]  # deleted by someone else: put back
                keys.add(obj.key)
            elif obj.key == APISERVER_SERVICE and event.type == "DELETED":
                return [APISERVER_SERVICE]
            return []
        if kind == ("", "endpoints") and event.type == "DELETED":
            return [obj.key]
        return []

    def _batch(self, svc_key: str) -> None:
        """Pod changes reach a Service's sync at most once per batch period (the controllers'
        --endpoint-updates-batch-period): a sync costs O(endpoints), a rollout of a large
        Deployment changes many pods per second."""
        if svc_key in self._batched:
            return
        try:
            self.api.clock.call_later(BATCH_SECONDS, self._flush, svc_key)
        except RuntimeError:  # no running loop yet (bootstrap): the run loop picks it up
            self.enqueue(svc_key)
            return
        self._batched.add(svc_key)

    def _flush(self, svc_key: str) -> None:
        self._batched.discard(svc_key)
        self.enqueue(svc_key)

    def reconcile(self, key: Hashable) -> None:
        svc_key = str(key)
        ns, name = svc_key.split("/", 1)
        svc_obj = self.store.get(("", "services"), svc_key)
        if svc_key == APISERVER_SERVICE and svc_obj is not None:
            self._sync_apiserver(svc_obj.decode())
            return
        if svc_obj is None:
            self._remove(ns, name)
            return
        if self.selected.selector(svc_key) is None:
            return  # no selector: whoever made the Service manages its endpoints
        svc = svc_obj.decode()
        pods = sorted(self.selected.members(svc_key).values(), key=lambda p: (p.ip, p.name))
        # Pods of one template share their container ports: resolve each port set once.
        ports: dict[tuple[tuple[str, int, str], ...], tuple[Port, ...]] = {}
        for p in pods:
            if p.container_ports not in ports:
                ports[p.container_ports] = tuple(_ports(svc, p))
        self._sync_endpoints(svc, pods, ports)
        self._sync_slices(svc, pods, ports)

    # -- Endpoints ------------------------------------------------------------------------------

    def _sync_endpoints(
        self, svc: dict[str, Any], pods: list[PodEndpoint], resolved: dict[Any, tuple[Port, ...]]
    ) -> None:
        assert ENDPOINTS is not None
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        publish = bool(spec.get("publishNotReadyAddresses"))
        headless = spec.get("clusterIP") == "None"
        groups: dict[tuple[Port, ...], dict[str, list[dict[str, Any]]]] = {}
        for pod in pods:
            if not pod.in_endpoints(publish):
                continue
            ports = resolved[pod.container_ports]
            if not ports and not (headless and not spec.get("ports")):
                continue  # no port of the Service resolves on this pod
            group = groups.setdefault(ports, {"addresses": [], "notReadyAddresses": []})
            field = "addresses" if publish or pod.ready else "notReadyAddresses"
            group[field].append(_address(pod, svc))
        groups, truncated = _truncate(groups)
        subsets = []
        for port_key, addrs in sorted(groups.items()):
            subset: dict[str, Any] = {k: v for k, v in addrs.items() if v}
            if port_key:
                subset["ports"] = [_endpoints_port(p) for p in port_key]
            subsets.append(subset)
        labels = {**(meta.get("labels") or {}), SKIP_MIRROR: "true"}
        if headless:
            labels[HEADLESS] = ""
        current = self.store.get(ENDPOINTS.storage_key, f"{ns}/{name}")
        if current is None:
            body: dict[str, Any] = {"metadata": {"name": name, "labels": labels}}
            if subsets:
                body["subsets"] = subsets
        else:
            body = current.decode()
            old_annotations = body["metadata"].get("annotations") or {}
            if (
                (body.get("subsets") or []) == subsets
                and (body["metadata"].get("labels") or {}) == labels
                and (OVER_CAPACITY in old_annotations) == truncated
            ):
                return
            body["metadata"]["labels"] = labels
            body["subsets"] = subsets
        annotations = body["metadata"].setdefault("annotations", {})
        annotations[TRIGGER] = self.api.clock.timestamp()
        if truncated:
            annotations[OVER_CAPACITY] = "truncated"
        else:
            annotations.pop(OVER_CAPACITY, None)
        if current is None:
            self.api.create(ENDPOINTS, ns, body)
        else:
            self.api.update(ENDPOINTS, ns, name, body)

    # -- EndpointSlices -------------------------------------------------------------------------

    def _sync_slices(
        self, svc: dict[str, Any], pods: list[PodEndpoint], resolved: dict[Any, tuple[Port, ...]]
    ) -> None:
        """Endpoints stay in the slice that has them; new ones fill free room, then new slices;
        emptied slices go, except one placeholder while the Service has no endpoints."""
        assert SLICES is not None
        meta, spec = svc["metadata"], svc.get("spec") or {}
        ns, name = meta["namespace"], meta["name"]
        publish = bool(spec.get("publishNotReadyAddresses"))
        desired: dict[tuple[Port, ...], dict[str, dict[str, Any]]] = {}
        for pod in pods:
            if pod.in_endpoints(True):
                desired.setdefault(resolved[pod.container_ports], {})[pod.name] = (
                    self._slice_endpoint(pod, svc, publish)
                )
        labels = {**(meta.get("labels") or {}), SERVICE_NAME: name, MANAGED_BY: CONTROLLER}
        if spec.get("clusterIP") == "None":
            labels[HEADLESS] = ""
        existing = []
        for key in sorted(self._slices.get(f"{ns}/{name}", ())):
            obj = self.store.get(SLICES.storage_key, key)
            if obj is not None and not obj.deleting:
                existing.append(obj.decode())
        placed: set[tuple[tuple[Port, ...], str]] = set()
        plans: list[tuple[dict[str, Any], tuple[Port, ...], list[dict[str, Any]]]] = []
        for body in existing:
            ports = tuple(_slice_port_key(p) for p in body.get("ports") or ())
            wanted = desired.get(ports, {})
            kept = []
            for ep in body.get("endpoints") or ():
                pod_name = (ep.get("targetRef") or {}).get("name", "")
                if pod_name in wanted and (ports, pod_name) not in placed:
                    placed.add((ports, pod_name))
                    kept.append(wanted[pod_name])
            plans.append((body, ports, kept))
        for ports, endpoints in desired.items():
            new = [ep for pod_name, ep in endpoints.items() if (ports, pod_name) not in placed]
            for _, group_ports, kept in plans:
                if group_ports == ports and new:
                    room = MAX_PER_SLICE - len(kept)
                    kept.extend(new[:room])
                    new = new[room:]
            for i in range(0, len(new), MAX_PER_SLICE):
                plans.append(({}, ports, new[i : i + MAX_PER_SLICE]))
        if not desired:
            # A placeholder: one slice without endpoints or ports stands for "no endpoints".
            for body, _, _ in plans[1:]:
                self._delete(SLICES, f"{ns}/{body['metadata']['name']}")
            plans = [(plans[0][0] if plans else {}, (), [])]
        for body, ports, kept in plans:
            if body and not kept and desired:
                self._delete(SLICES, f"{ns}/{body['metadata']['name']}")
                continue
            slice_ports = [_slice_port(p) for p in ports]
            if body:
                old_labels = body["metadata"].get("labels") or {}
                if (
                    body.get("endpoints") == kept
                    and (body.get("ports") or []) == slice_ports
                    and old_labels == labels
                ):
                    continue
                body["metadata"]["labels"] = labels
                body["metadata"].setdefault("annotations", {})[TRIGGER] = self.api.clock.timestamp()
                body["endpoints"], body["ports"] = kept, slice_ports
                self.api.update(SLICES, ns, body["metadata"]["name"], body)
                continue
            self.api.create(
                SLICES,
                ns,
                {
                    "metadata": {
                        "generateName": f"{name}-",
                        "labels": labels,
                        "annotations": {TRIGGER: self.api.clock.timestamp()},
                        "ownerReferences": [
                            {
                                "apiVersion": "v1",
                                "kind": "Service",
                                "name": name,
                                "uid": meta["uid"],
                                "controller": True,
                                "blockOwnerDeletion": True,
                            }
                        ],
                    },
                    "addressType": "IPv4",
                    "endpoints": kept,
                    "ports": slice_ports,
                },
            )

    def _slice_endpoint(
        self, pod: PodEndpoint, svc: dict[str, Any], publish: bool
    ) -> dict[str, Any]:
        # "ready" is never true for a terminating pod unless publishNotReadyAddresses.
        out: dict[str, Any] = {
            "addresses": [pod.ip],
            "conditions": {
                "ready": publish or (pod.ready and not pod.terminating),
                "serving": pod.ready,
                "terminating": pod.terminating,
            },
        }
        if _sets_hostname(pod, svc):
            out["hostname"] = pod.hostname
        out["targetRef"] = pod.target_ref()
        if pod.node:
            out["nodeName"] = pod.node
            zone = self._zones.get(pod.node)
            if zone:
                out["zone"] = zone
        return out

    # -- the API server's own Service -----------------------------------------------------------

    def _sync_apiserver(self, svc: dict[str, Any]) -> None:
        """What the API server's endpoint reconciler keeps: Endpoints and an EndpointSlice, both
        named ``kubernetes``, with its address and the Service's https target port."""
        assert ENDPOINTS is not None and SLICES is not None
        port: dict[str, Any] = next(iter((svc.get("spec") or {}).get("ports") or ()), {})
        target = port.get("targetPort", 6443)
        number = target if isinstance(target, int) else 6443
        ep_port = {"name": port.get("name", "https"), "port": number, "protocol": "TCP"}
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        if self.store.get(ENDPOINTS.storage_key, APISERVER_SERVICE) is None:
            self.api.create(
                ENDPOINTS,
                ns,
                {
                    "metadata": {"name": name, "labels": {SKIP_MIRROR: "true"}},
                    "subsets": [{"addresses": [{"ip": APISERVER_IP}], "ports": [ep_port]}],
                },
            )
        if self.store.get(SLICES.storage_key, APISERVER_SERVICE) is None:
            self.api.create(
                SLICES,
                ns,
                {
                    "metadata": {"name": name, "labels": {SERVICE_NAME: name}},
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [APISERVER_IP], "conditions": {"ready": True}}],
                    "ports": [ep_port],
                },
            )

    # -- removal ----------------------------------------------------------------------------------

    def _remove(self, ns: str, name: str) -> None:
        """A deleted Service: its Endpoints and slices go (the garbage collector would take the
        slices too, through their owner reference)."""
        assert ENDPOINTS is not None and SLICES is not None
        self._delete(ENDPOINTS, f"{ns}/{name}")
        for key in list(self._slices.get(f"{ns}/{name}", ())):
            self._delete(SLICES, key)

    def _delete(self, rt: ResourceType, key: str) -> None:
        ns, name = key.split("/", 1)
        try:
            self.api.delete(rt, ns, name, DeleteOptions())
        except st.StatusError as exc:
            if exc.code != 404:
                raise


def _sets_hostname(pod: PodEndpoint, svc: dict[str, Any]) -> bool:
    """endpointutil.ShouldSetHostname: a pod naming the Service as its subdomain."""
    meta = svc["metadata"]
    return (
        bool(pod.hostname)
        and pod.subdomain == meta["name"]
        and pod.namespace == meta.get("namespace")
    )


def _address(pod: PodEndpoint, svc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ip": pod.ip}
    if _sets_hostname(pod, svc):
        out["hostname"] = pod.hostname
    if pod.node:
        out["nodeName"] = pod.node
    out["targetRef"] = pod.target_ref()
    return out


def _ports(svc: dict[str, Any], pod: PodEndpoint) -> list[Port]:
    """The Service's ports resolved on the pod (podutil.FindPort): a named targetPort is the
    pod's container port of that name and protocol; ports that do not resolve are left out."""
    out: list[Port] = []
    for sp in (svc.get("spec") or {}).get("ports") or ():
        protocol = sp.get("protocol", "TCP")
        target = sp.get("targetPort", sp.get("port"))
        number: int | None
        if isinstance(target, str):
            number = next(
                (
                    n
                    for cname, n, proto in pod.container_ports
                    if (cname, proto) == (target, protocol)
                ),
                None,
            )
        else:
            number = target
        if number is None:
            continue
        out.append((sp.get("name", ""), number, protocol, sp.get("appProtocol", "")))
    return sorted(out)


def _endpoints_port(port: Port) -> dict[str, Any]:
    name, number, protocol, app = port
    out: dict[str, Any] = {"port": number, "protocol": protocol}
    if name:
        out["name"] = name
    if app:
        out["appProtocol"] = app
    return out


def _slice_port(port: Port) -> dict[str, Any]:
    name, number, protocol, app = port
    out: dict[str, Any] = {"name": name, "port": number, "protocol": protocol}
    if app:
        out["appProtocol"] = app
    return out


def _slice_port_key(port: dict[str, Any]) -> Port:
    return (
        port.get("name") or "",
        port.get("port", 0),
        port.get("protocol", "TCP"),
        port.get("appProtocol", ""),
    )


def _truncate(
    groups: dict[tuple[Port, ...], dict[str, list[dict[str, Any]]]],
) -> tuple[dict[tuple[Port, ...], dict[str, list[dict[str, Any]]]], bool]:
    """At most 1000 addresses per Endpoints: ready ones first, the room shared between subsets
    in proportion to their size (as the controller's truncateEndpoints)."""
    total = sum(len(g["addresses"]) + len(g["notReadyAddresses"]) for g in groups.values())
    if total <= MAX_ENDPOINTS:
        return groups, False
    ready = sum(len(g["addresses"]) for g in groups.values())
    out: dict[tuple[Port, ...], dict[str, list[dict[str, Any]]]] = {}
    if ready >= MAX_ENDPOINTS:
        budget_ready, budget_unready = MAX_ENDPOINTS, 0
    else:
        budget_ready, budget_unready = ready, MAX_ENDPOINTS - ready
    unready = total - ready
    for ports, g in groups.items():
        keep_ready = len(g["addresses"]) * budget_ready // ready if ready else 0
        keep_unready = len(g["notReadyAddresses"]) * budget_unready // unready if unready else 0
        out[ports] = {
            "addresses": g["addresses"][:keep_ready],
            "notReadyAddresses": g["notReadyAddresses"][:keep_unready],
        }
    return out, True
