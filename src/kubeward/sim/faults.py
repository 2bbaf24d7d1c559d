"""The scenario's fault timeline, played on the simulated clock.

Node faults change machine state (``ClusterState``) that kubelets then report; a bad rollout is
a real change to a Deployment through the API, as a person's ``kubectl set image`` would be
(and its repair a ``kubectl rollout undo``). Target nodes are chosen deterministically: sorted
by name, the first ``count`` that match. Overlapping faults on one node are counted, so a node
comes back only when the last fault holding it down is repaired.
"""

from __future__ import annotations

import copy
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from kubeward.kube.registry import REGISTRY
from kubeward.kube.status import StatusError
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.behaviour import ANNOTATION, BehaviourError, behaviour_of
from kubeward.sim.nodes.state import (
    DISK_PRESSURE,
    GPU_XID,
    KERNEL_DEADLOCK,
    MEMORY_PRESSURE,
    ClusterState,
    NodeProblem,
)
from kubeward.sim.scenarios.model import Fault

log = logging.getLogger("kubeward.sim.faults")

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
PROBLEMS: dict[str, NodeProblem] = {
    "kernelDeadlock": KERNEL_DEADLOCK,
    "memoryPressure": MEMORY_PRESSURE,
    "diskPressure": DISK_PRESSURE,
    "gpuXidError": GPU_XID,
}
_CONFLICT_RETRIES = 5


class FaultTimeline:
    def __init__(self, api: ObjectAPI, state: ClusterState, faults: list[Fault]) -> None:
        self.api = api
        self.state = state
        self.faults = faults
        self.fired: list[tuple[float, str]] = []  # (sim time, description), for tests/logs
        # (node, "kubelet" | condition type) -> active faults holding it
        self._holds: Counter[tuple[str, str]] = Counter()

    def start(self) -> None:
        """Arm every fault; call on the running loop, right after the cluster starts."""
        offset = self.api.clock.elapsed()
        for fault in self.faults:
            self.api.clock.call_later(max(fault.at - offset, 0.0), self._fire, fault)

    def _fire(self, fault: Fault) -> None:
        try:
            undo = self._apply(fault)
        except Exception:
            log.exception("event=fault_failed type=%s", fault.type)
            return
        self.fired.append((self.api.clock.elapsed(), fault.type))
        if undo is not None and fault.duration is not None:
            self.api.clock.call_later(fault.duration, self._repair, fault, undo)

    def _repair(self, fault: Fault, undo: Callable[[], None]) -> None:
        try:
            undo()
        except Exception:
            log.exception("event=fault_repair_failed type=%s", fault.type)
            return
        self.fired.append((self.api.clock.elapsed(), f"{fault.type} repaired"))
        log.info("event=fault_repaired type=%s", fault.type)

    def _apply(self, fault: Fault) -> Callable[[], None] | None:
        if fault.type == "imageRegistryOutage":
            registry = fault.registry or ""
            self.state.unreachable_registries.add(registry)
            log.info("event=fault type=imageRegistryOutage registry=%s", registry)
            return lambda: self.state.unreachable_registries.discard(registry)
        if fault.type == "badRollout":
            return self._bad_rollout(fault)
        nodes = self.target_nodes(fault)
        if not nodes:
            log.warning("event=fault_no_nodes type=%s selector=%s", fault.type, fault.node_selector)
            return None
        log.info("event=fault type=%s nodes=%s", fault.type, ",".join(nodes))
        if fault.type in ("nodeNotReady", "zoneOutage"):
            return self._hold(nodes, "kubelet", None)
        return self._hold(nodes, fault.type, PROBLEMS[fault.type])

    def _hold(self, nodes: list[str], what: str, problem: NodeProblem | None) -> Callable[[], None]:
        for n in nodes:
            self._holds[(n, what)] += 1
            machine = self.state.machine(n)
            if problem is None:
                machine.kubelet_stopped = True
            else:
                machine.problems[problem.type] = problem

        def release() -> None:
            for n in nodes:
                self._holds[(n, what)] -= 1
                if self._holds[(n, what)] > 0:
                    continue  # another fault still holds it
                del self._holds[(n, what)]
                machine = self.state.machine(n)
                if problem is None:
                    machine.kubelet_stopped = False
                else:
                    machine.problems.pop(problem.type, None)

        return release

    def target_nodes(self, fault: Fault) -> list[str]:
        """Sorted names of the nodes matching the fault's selector (and zone); the first
        ``nodes.count`` of them when a count is given."""
        selector = fault.node_selector
        chosen = sorted(
            n.name
            for n in self.api.store.resource(("", "nodes")).objects.values()
            if all(n.labels.get(k) == v for k, v in selector.items())
        )
        count = fault.nodes.count if fault.nodes is not None else None
        return chosen[:count] if count else chosen

    def _bad_rollout(self, fault: Fault) -> Callable[[], None]:
        assert fault.deployment is not None
        ns, name = fault.deployment.split("/", 1)
        saved: dict[str, Any] = {}

        def break_template(template: dict[str, Any]) -> None:
            saved["template"] = copy.deepcopy(template)
            container = template["spec"]["containers"][0]
            container["image"] = fault.image or _bumped(container["image"])
            saved["image"] = container["image"]
            try:
                current = behaviour_of({"metadata": template.get("metadata") or {}})
            except BehaviourError:
                current = behaviour_of({})
            broken = current.model_copy(
                update={
                    "crash_after_seconds": fault.crash_after_seconds,
                    "crash_log": fault.crash_log or current.crash_log,
                }
            )
            meta = template.setdefault("metadata", {})
            meta.setdefault("annotations", {})[ANNOTATION] = broken.annotation()

        self._update_template(ns, name, break_template, "kubectl-set")
        log.info(
            "event=fault type=badRollout deployment=%s image=%s", fault.deployment, saved["image"]
        )

        def rollback(template: dict[str, Any]) -> None:
            template.clear()
            template.update(copy.deepcopy(saved["template"]))

        return lambda: self._update_template(ns, name, rollback, "kubectl-rollout")

    def _update_template(
        self, ns: str, name: str, change: Callable[[dict[str, Any]], None], manager: str
    ) -> None:
        """Read-modify-write of the Deployment's pod template, retried on conflicts as kubectl
        does (controllers write the Deployment's status concurrently)."""
        assert DEPLOYMENTS is not None
        for attempt in range(_CONFLICT_RETRIES):
            d = self.api.get(DEPLOYMENTS, ns, name).decode()
            change(d["spec"]["template"])
            try:
                self.api.update(DEPLOYMENTS, ns, name, d, manager=manager)
                return
            except StatusError as exc:
                if exc.code != 409 or attempt == _CONFLICT_RETRIES - 1:
                    raise


def _bumped(image: str) -> str:
    """``app:1.4`` -> ``app:1.4-rc1``: the "new version" a bad rollout ships."""
    return f"{image}-rc1" if ":" in image.rsplit("/", 1)[-1] else f"{image}:rc1"
