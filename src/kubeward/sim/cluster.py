"""A simulated cluster: store, object API, controllers, and the scenario's initial objects."""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Iterable
from typing import Protocol

from kubeward.kube import rbac
from kubeward.kube.priority import SYSTEM_PRIORITY_CLASSES
from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.admission import DEFAULT_CLASS_ANNOTATION
from kubeward.sim.api.authn import ServiceAccountTokens
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.clock import SimClock, SimTimer
from kubeward.sim.control.clusterroleaggregation import ClusterRoleAggregationController
from kubeward.sim.control.cronjob import CronJobController
from kubeward.sim.control.daemonset import DaemonSetController
from kubeward.sim.control.deployment import DeploymentController
from kubeward.sim.control.disruption import DisruptionController
from kubeward.sim.control.endpoints import EndpointsController
from kubeward.sim.control.gc import GarbageCollector
from kubeward.sim.control.hpa import HPAController
from kubeward.sim.control.job import JobController
from kubeward.sim.control.namespace import NamespaceController
from kubeward.sim.control.nodelifecycle import NodeLifecycleController
from kubeward.sim.control.podcontrol import PodsByOwner
from kubeward.sim.control.podgc import PodGC
from kubeward.sim.control.replicaset import ReplicaSetController
from kubeward.sim.control.resourcequota import ResourceQuotaController
from kubeward.sim.control.rootcacert import RootCACertPublisher
from kubeward.sim.control.scheduler import Scheduler
from kubeward.sim.control.serviceaccounttokens import ServiceAccountTokensController
from kubeward.sim.control.statefulset import StatefulSetController
from kubeward.sim.control.volumes import VolumeController
from kubeward.sim.csi import DEFAULT_CLASS, PROVISIONER
from kubeward.sim.faults import FaultTimeline
from kubeward.sim.load.bootstrap import create_defaults as create_default_flow_control
from kubeward.sim.nodes.factory import node_objects
from kubeward.sim.nodes.kubelet_node import KubeletNodes
from kubeward.sim.nodes.kubelet_pods import KubeletPods
from kubeward.sim.nodes.state import ClusterState
from kubeward.sim.nodes.usage import UsageModel
from kubeward.sim.scenarios.model import Scenario
from kubeward.sim.scenarios.workloads import Manifest, delayed_manifests, manifests
from kubeward.sim.store.store import DEFAULT_WINDOW, Store

log = logging.getLogger("kubeward.sim")


class Runnable(Protocol):
    """A control loop: a controller, the scheduler, a kubelet fleet."""

    name: str

    async def run(self) -> None: ...


SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")


class SimCluster:
    def __init__(
        self,
        scenario: Scenario,
        clock: SimClock | None = None,
        watch_window: int = DEFAULT_WINDOW,
        simulate: bool = True,
    ) -> None:
        """``simulate=False`` runs the API server alone (with the garbage collector, namespace
        and resourcequota controllers only): nothing schedules or runs pods. Benchmarks of the
        API server use it."""
        self.scenario = scenario
        self.clock = clock or SimClock()
        self.store = Store([rt.storage_key for rt in REGISTRY.storage_types()], watch_window)
        self.api = ObjectAPI(self.store, self.clock)
        # Machine state behind the API (kubelets down, node problems, image caches).
        self.state = ClusterState()
        self.quotas = ResourceQuotaController(self.api)
        self.role_aggregation = ClusterRoleAggregationController(self.api)
        # Service-account tokens: issued by the API server, put in Secrets by a controller.
        self.tokens = ServiceAccountTokens(self.store, self.clock)
        # Controllers subscribe before the first write so their indexes see every object.
        self.controllers: list[Runnable] = [
            GarbageCollector(self.api),
            NamespaceController(self.api),
            self.quotas,
            self.role_aggregation,
            ServiceAccountTokensController(self.api, self.tokens),
            RootCACertPublisher(self.api, self.tokens),
        ]
        self.kubelet_pods: KubeletPods | None = None
        self.usage: UsageModel | None = None
        self.scheduler: Scheduler | None = None
        if simulate:
            self._add_simulation(scenario)
        self._tasks: list[asyncio.Task[None]] = []
        self._later: list[SimTimer] = []
        self.faults = FaultTimeline(self.api, self.state, scenario.faults)

    def _add_simulation(self, scenario: Scenario) -> None:
        """The control plane and kubelets that make the cluster behave like one."""
        self.kubelet_pods = KubeletPods(self.api, self.state)
        kubelet_nodes = KubeletNodes(self.api, self.state)
        kubelet_nodes.restart_hooks.append(self.kubelet_pods.resync_node)
        self.usage = UsageModel(self.store, self.clock)
        self.scheduler = Scheduler(self.api, scoring=scenario.scheduler.scoring)
        pods_by_owner = PodsByOwner(self.store)
        self.controllers += [
            self.kubelet_pods,
            kubelet_nodes,
            NodeLifecycleController(self.api),
            self.scheduler,
            ReplicaSetController(self.api, pods_by_owner),
            DeploymentController(self.api, pods_by_owner),
            JobController(self.api, pods_by_owner),
            DaemonSetController(self.api, pods_by_owner),
            StatefulSetController(self.api, pods_by_owner),
            CronJobController(self.api),
            HPAController(self.api, self.usage),
            EndpointsController(self.api),
            DisruptionController(self.api),
            VolumeController(self.api),
            PodGC(self.api),
        ]

    def bootstrap(self) -> None:
        """The objects a fresh cluster has, then the scenario's nodes."""
        ns_type = REGISTRY.get("", "v1", "namespaces")
        svc_type = REGISTRY.get("", "v1", "services")
        node_type = REGISTRY.get("", "v1", "nodes")
        pc_type = REGISTRY.get("scheduling.k8s.io", "v1", "priorityclasses")
        assert ns_type and svc_type and node_type and pc_type
        for name in SYSTEM_NAMESPACES:
            self.api.create(ns_type, "", {"metadata": {"name": name}})
        for pc in SYSTEM_PRIORITY_CLASSES:  # kube-apiserver's scheduling post-start hook
            self.api.create(pc_type, "", copy.deepcopy(pc))
        create_default_flow_control(self.api)
        self._bootstrap_rbac()
        # What a managed cluster's installer adds: a default class of the simulated CSI driver.
        sc_type = REGISTRY.get("storage.k8s.io", "v1", "storageclasses")
        assert sc_type is not None
        self.api.create(
            sc_type,
            "",
            {
                "metadata": {
                    "name": DEFAULT_CLASS,
                    "annotations": {DEFAULT_CLASS_ANNOTATION: "true"},
                },
                "provisioner": PROVISIONER,
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
                "allowVolumeExpansion": True,
            },
        )
        self.api.create(
            svc_type,
            "default",
            {
                "metadata": {
                    "name": "kubernetes",
                    "labels": {"component": "apiserver", "provider": "kubernetes"},
                },
                "spec": {
                    "ports": [{"name": "https", "port": 443, "targetPort": 6443}],
                    "clusterIP": "10.96.0.1",
                },
            },
        )
        now = self.clock.timestamp()
        for node in node_objects(self.scenario, now):
            self.api.create(node_type, "", node)
        self.create_objects(manifests(self.scenario))
        # The scenario's quotas hold from the first pod on, as quotas made long before would
        # (until its controller has run, a new quota limits nothing).
        for namespace in sorted({q.namespace for q in self.scenario.resource_quotas}):
            self.quotas.reconcile(namespace)
        log.info(
            "event=bootstrapped scenario=%s nodes=%d revision=%d",
            self.scenario.name,
            self.scenario.node_count,
            self.store.revision,
        )

    def _bootstrap_rbac(self) -> None:
        """kube-apiserver's rbac/bootstrap-roles hook: the default ClusterRoles (aggregated
        at once) and ClusterRoleBindings."""
        roles = REGISTRY.get(rbac.GROUP, "v1", "clusterroles")
        bindings = REGISTRY.get(rbac.GROUP, "v1", "clusterrolebindings")
        assert roles and bindings
        for role in rbac.bootstrap_cluster_roles():
            self.api.create(roles, "", role)
        for binding in rbac.bootstrap_cluster_role_bindings():
            self.api.create(bindings, "", binding)
        self.role_aggregation.sync_all()

    def create_objects(self, objects: Iterable[Manifest]) -> None:
        for (group, version, plural), body in objects:
            rt = REGISTRY.get(group, version, plural)
            assert rt is not None, plural
            self.api.create(rt, body["metadata"].get("namespace", ""), body)

    def start(self, delayed: bool = True) -> None:
        """Start controllers, the fault timeline and (``delayed``) the workloads the scenario
        creates later, on the running loop."""
        loop = asyncio.get_running_loop()
        self._tasks.append(loop.create_task(self.clock.govern(), name="clock-governor"))
        self.faults.start()
        for at, objects in delayed_manifests(self.scenario) if delayed else ():
            self._later.append(
                self.clock.call_later(at - self.clock.elapsed(), self.create_objects, objects)
            )
        for c in self.controllers:
            self._tasks.append(loop.create_task(c.run(), name=c.name))

    async def stop(self) -> None:
        for handle in self._later:
            handle.cancel()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
