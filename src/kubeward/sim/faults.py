"""The scenario's fault timeline, played on the simulated clock.

Node faults change machine state (``ClusterState``) that kubelets then report; a bad rollout is
a real change to a Deployment through the API, as a person's ``kubectl set image`` would be.
Target nodes are chosen deterministically: sorted by name, the first ``count`` that match.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.behaviour import ANNOTATION, PodBehaviour, behaviour_of
from kubeward.sim.nodes.state import GPU_XID, KERNEL_DEADLOCK, ClusterState, NodeProblem
from kubeward.sim.scenarios.model import Fault

log = logging.getLogger("kubeward.sim.faults")

DEPLOYMENTS = REGISTRY.get("apps", "v1", "deployments")
ZONE_LABEL = "topology.kubernetes.io/zone"
MEMORY_PRESSURE = NodeProblem(
    "MemoryPressure",
    "True",
    "KubeletHasInsufficientMemory",
    "kubelet has insufficient memory available",
)
DISK_PRESSURE = NodeProblem(
    "DiskPressure", "True", "KubeletHasDiskPressure", "kubelet has disk pressure"
)
_PROBLEMS = {
    "kernelDeadlock": KERNEL_DEADLOCK,
    "memoryPressure": MEMORY_PRESSURE,
    "diskPressure": DISK_PRESSURE,
    "gpuXidError": GPU_XID,
}


class FaultTimeline:
    def __init__(self, api: ObjectAPI, state: ClusterState, faults: list[Fault]) -> None:
        self.api = api
        self.state = state
        self.faults = faults
        self.fired: list[tuple[float, str]] = []  # (sim time, description), for tests/logs

    def start(self) -> None:
        """Arm every fault; call on the running loop, right after the cluster starts."""
        offset = self.api.clock.elapsed()
        for fault in self.faults:
            self.api.clock.call_later(fault.at - offset, self._fire, fault)

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
        undo()
        self.fired.append((self.api.clock.elapsed(), f"{fault.type} repaired"))
        log.info("event=fault_repaired type=%s", fault.type)

    def _apply(self, fault: Fault) -> Callable[[], None] | None:
        if fault.type == "imageRegistryOutage":
            assert fault.registry is not None
            self.state.unreachable_registries.add(fault.registry)
            log.info("event=fault type=imageRegistryOutage registry=%s", fault.registry)
            return lambda: self.state.unreachable_registries.discard(fault.registry or "")
        if fault.type == "badRollout":
            self._bad_rollout(fault)
            return None
        nodes = self.target_nodes(fault)
        log.info("event=fault type=%s nodes=%s", fault.type, ",".join(nodes))
        if fault.type in ("nodeNotReady", "zoneOutage"):
            for n in nodes:
                self.state.machine(n).kubelet_stopped = True

            def restart() -> None:
                for n in nodes:
                    self.state.machine(n).kubelet_stopped = False

            return restart
        problem = _PROBLEMS[fault.type]
        for n in nodes:
            self.state.machine(n).problems[problem.type] = problem

        def clear() -> None:
            for n in nodes:
                self.state.machine(n).problems.pop(problem.type, None)

        return clear

    def target_nodes(self, fault: Fault) -> list[str]:
        nodes = sorted(
            self.api.store.resource(("", "nodes")).objects.values(), key=lambda n: n.name
        )
        if fault.type == "zoneOutage":
            return [n.name for n in nodes if n.labels.get(ZONE_LABEL) == fault.zone]
        target = fault.nodes
        assert target is not None
        chosen = [
            n.name for n in nodes if all(n.labels.get(k) == v for k, v in target.selector.items())
        ]
        return chosen[: target.count] if target.count else chosen

    def _bad_rollout(self, fault: Fault) -> None:
        assert DEPLOYMENTS is not None and fault.deployment is not None
        ns, name = fault.deployment.split("/", 1)
        d = self.api.get(DEPLOYMENTS, ns, name).decode()
        template = d["spec"]["template"]
        container = template["spec"]["containers"][0]
        image = fault.image or _bumped(container["image"])
        container["image"] = image
        try:
            current = behaviour_of({"metadata": template.get("metadata") or {}})
        except ValueError:
            current = PodBehaviour()
        broken = current.model_copy(update={"crash_after_seconds": fault.crash_after_seconds})
        template.setdefault("metadata", {}).setdefault("annotations", {})[ANNOTATION] = json.dumps(
            json.loads(broken.annotation())
        )
        self.api.update(DEPLOYMENTS, ns, name, d, manager="kubectl-set")
        log.info("event=fault type=badRollout deployment=%s image=%s", fault.deployment, image)


def _bumped(image: str) -> str:
    """``app:1.4`` -> ``app:1.4-rc1``: the "new version" a bad rollout ships."""
    return f"{image}-rc1" if ":" in image.rsplit("/", 1)[-1] else f"{image}:rc1"
