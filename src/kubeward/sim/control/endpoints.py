"""The Endpoints and EndpointSlice controllers: which pod IPs back each Service.

As kube-controller-manager 1.31: a Service with a selector gets an Endpoints object of the same
name (ready pods in ``addresses``, unready ones in ``notReadyAddresses``, terminating pods left
out) and EndpointSlices ``<service>-<random>`` of at most 100 endpoints with ready / serving /
terminating conditions, node name and zone. Named target ports are resolved per pod. Services
without a selector are left to their owners.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import LabelSelector
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.control.podcontrol import pods_matching_selectors
from kubeward.sim.store.objects import StoredObject, StoreEvent

ENDPOINTS = REGISTRY.get("", "v1", "endpoints")
SLICES = REGISTRY.get("discovery.k8s.io", "v1", "endpointslices")
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER = "endpointslice-controller.k8s.io"
TRIGGER = "endpoints.kubernetes.io/last-change-trigger-time"
MAX_PER_SLICE = 100
ZONE = "topology.kubernetes.io/zone"


class EndpointsController(Controller):
    name = "endpoints-controller"

    def __init__(self, api: ObjectAPI) -> None:
        super().__init__(api.store)
        self.api = api
        self._selectors: dict[str, dict[str, LabelSelector]] = defaultdict(dict)  # ns -> svc
        self._slices: dict[str, set[str]] = defaultdict(set)  # "ns/svc" -> slice keys
        self._zones: dict[str, str] = {}  # node -> zone

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == ("", "services"):
            if event.type == "DELETED":
                self._selectors[obj.namespace].pop(obj.name, None)
            else:
                selector = (obj.decode().get("spec") or {}).get("selector")
                if selector:
                    self._selectors[obj.namespace][obj.name] = LabelSelector.from_set(selector)
                else:
                    self._selectors[obj.namespace].pop(obj.name, None)
            return [obj.key]
        if event.storage_key == ("", "nodes"):
            zone = obj.labels.get(ZONE)
            if zone and event.type != "DELETED":
                self._zones[obj.name] = zone
            return []
        if event.storage_key == ("discovery.k8s.io", "endpointslices"):
            svc = obj.labels.get(SERVICE_NAME)
            if svc and obj.labels.get(MANAGED_BY) == CONTROLLER:
                if event.type == "DELETED":
                    self._slices[f"{obj.namespace}/{svc}"].discard(obj.key)
                else:
                    self._slices[f"{obj.namespace}/{svc}"].add(obj.key)
            return []
        if event.storage_key == ("", "pods"):
            return pods_matching_selectors(self._selectors, event)
        return []

    def reconcile(self, key: Hashable) -> None:
        ns, name = str(key).split("/", 1)
        svc_obj = self.store.get(("", "services"), str(key))
        selector = self._selectors.get(ns, {}).get(name)
        if svc_obj is None or selector is None:
            self._remove(ns, name, managed_endpoints=svc_obj is None)
            return
        svc = svc_obj.decode()
        objects = self.store.resource(("", "pods")).objects
        pods = [
            p.decode()
            for k in objects.irange(f"{ns}/", f"{ns}/\uffff")
            if selector.matches((p := objects[k]).labels) and _has_ip(p)
        ]
        self._sync_endpoints(svc, pods)
        self._sync_slices(svc, pods)

    # -- Endpoints ------------------------------------------------------------------------------

    def _sync_endpoints(self, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        assert ENDPOINTS is not None
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
        subsets: dict[tuple[Any, ...], dict[str, Any]] = {}
        for pod in sorted(pods, key=lambda p: p["status"]["podIP"]):
            if pod["metadata"].get("deletionTimestamp") and not publish:
                continue
            ports = _ports(svc, pod)
            port_key = tuple(sorted((p.get("name", ""), p["port"], p["protocol"]) for p in ports))
            subset = subsets.setdefault(port_key, {"ports": ports})
            field = "addresses" if publish or _ready(pod) else "notReadyAddresses"
            subset.setdefault(field, []).append(_address(pod, svc))
        desired = [subsets[k] for k in sorted(subsets)]
        current = self.store.get(ENDPOINTS.storage_key, f"{ns}/{name}")
        body: dict[str, Any] = {
            "metadata": {
                "name": name,
                "labels": dict(svc["metadata"].get("labels") or {}),
                "annotations": {TRIGGER: self.api.clock.timestamp()},
            },
            "subsets": desired,
        }
        if current is None:
            self.api.create(ENDPOINTS, ns, body)
            return
        old = current.decode()
        if (
            old.get("subsets", []) == desired
            and (old["metadata"].get("labels") or {}) == body["metadata"]["labels"]
        ):
            return
        old["subsets"] = desired
        old["metadata"]["labels"] = body["metadata"]["labels"]
        old["metadata"].setdefault("annotations", {})[TRIGGER] = self.api.clock.timestamp()
        self.api.update(ENDPOINTS, ns, name, old)

    # -- EndpointSlices -------------------------------------------------------------------------

    def _sync_slices(self, svc: dict[str, Any], pods: list[dict[str, Any]]) -> None:
        assert SLICES is not None
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        endpoints = [
            _slice_endpoint(p, svc, self._zones)
            for p in sorted(pods, key=lambda p: p["status"]["podIP"])
        ]
        ports = _ports(svc, pods[0]) if pods else _ports(svc, None)
        chunks = [endpoints[i : i + MAX_PER_SLICE] for i in range(0, len(endpoints), MAX_PER_SLICE)]
        chunks = chunks or [[]]
        existing = sorted(self._slices.get(f"{ns}/{name}", ()))
        for i, chunk in enumerate(chunks):
            if i < len(existing):
                current = self.store.get(SLICES.storage_key, existing[i])
                if current is None:
                    continue
                body = current.decode()
                if body.get("endpoints") == chunk and body.get("ports") == ports:
                    continue
                body["endpoints"], body["ports"] = chunk, ports
                self.api.update(SLICES, ns, current.name, body)
            else:
                self.api.create(
                    SLICES,
                    ns,
                    {
                        "metadata": {
                            "generateName": f"{name}-",
                            "labels": {
                                **(svc["metadata"].get("labels") or {}),
                                SERVICE_NAME: name,
                                MANAGED_BY: CONTROLLER,
                            },
                            "ownerReferences": [
                                {
                                    "apiVersion": "v1",
                                    "kind": "Service",
                                    "name": name,
                                    "uid": svc["metadata"]["uid"],
                                    "controller": True,
                                    "blockOwnerDeletion": True,
                                }
                            ],
                        },
                        "addressType": "IPv4",
                        "endpoints": chunk,
                        "ports": ports,
                    },
                )
        for key in existing[len(chunks) :]:
            self._delete(SLICES, key)

    def _remove(self, ns: str, name: str, managed_endpoints: bool) -> None:
        assert ENDPOINTS is not None and SLICES is not None
        if managed_endpoints:
            self._delete(ENDPOINTS, f"{ns}/{name}")
        for key in list(self._slices.get(f"{ns}/{name}", ())):
            self._delete(SLICES, key)

    def _delete(self, rt: Any, key: str) -> None:
        ns, name = key.split("/", 1)
        try:
            self.api.delete(rt, ns, name, DeleteOptions())
        except st.StatusError as exc:
            if exc.code != 404:
                raise


def _has_ip(pod: StoredObject) -> bool:
    phase = pod.fields.get("status.phase", "")
    return phase not in ("Succeeded", "Failed") and b'"podIP"' in pod.raw


def _ready(pod: dict[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or ()
    )


def _address(pod: dict[str, Any], svc: dict[str, Any]) -> dict[str, Any]:
    meta, spec = pod["metadata"], pod.get("spec") or {}
    out: dict[str, Any] = {
        "ip": pod["status"]["podIP"],
        "nodeName": spec.get("nodeName", ""),
        "targetRef": {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        },
    }
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
        out["hostname"] = spec["hostname"]
    return out


def _slice_endpoint(
    pod: dict[str, Any], svc: dict[str, Any], zones: dict[str, str]
) -> dict[str, Any]:
    ready = _ready(pod)
    terminating = bool(pod["metadata"].get("deletionTimestamp"))
    address = _address(pod, svc)
    out: dict[str, Any] = {
        "addresses": [address["ip"]],
        "conditions": {
            "ready": ready and not terminating,
            "serving": ready,
            "terminating": terminating,
        },
        "targetRef": address["targetRef"],
    }
    if address["nodeName"]:
        out["nodeName"] = address["nodeName"]
    zone = zones.get(address["nodeName"])
    if zone:
        out["zone"] = zone
    if "hostname" in address:
        out["hostname"] = address["hostname"]
    return out


def _ports(svc: dict[str, Any], pod: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Service ports with targetPort resolved against the pod's named container ports."""
    named: dict[str, int] = {}
    if pod is not None:
        for c in (pod.get("spec") or {}).get("containers") or ():
            for p in c.get("ports") or ():
                if p.get("name"):
                    named[p["name"]] = p["containerPort"]
    out = []
    for sp in (svc.get("spec") or {}).get("ports") or ():
        target = sp.get("targetPort", sp.get("port"))
        port = named.get(target) if isinstance(target, str) else target
        if port is None:
            continue
        entry: dict[str, Any] = {"port": port, "protocol": sp.get("protocol", "TCP")}
        if sp.get("name"):
            entry["name"] = sp["name"]
        out.append(entry)
    return out
