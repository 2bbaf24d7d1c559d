"""The HorizontalPodAutoscaler controller (autoscaling/v2), CPU and memory Resource metrics.

Kubernetes' algorithm: every 15 s, ``desired = ceil(current * usage / target)`` over the Ready
pods of the target, skipped inside the 10 % tolerance; scale-up limited by the default policies
(the larger of +100 % and +4 pods per 15 s); scale-down to the highest recommendation of the
last 300 s (stabilization window). Metrics come from the usage model in-process, as
metrics-server would deliver them.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import Any

from kubeward.kube import status as st
from kubeward.kube.quantity import parse_quantity
from kubeward.kube.registry import REGISTRY
from kubeward.kube.selectors import SelectorError, label_selector_from_dict
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.events import NORMAL, WARNING, EventRecorder, ObjectRef
from kubeward.sim.nodes.usage import UsageModel

log = logging.getLogger("kubeward.sim.hpa")

HPAS = REGISTRY.get("autoscaling", "v2", "horizontalpodautoscalers")
SYNC_PERIOD = 15.0
TOLERANCE = 0.1
DOWNSCALE_WINDOW = 300.0
_TARGETS = {
    "Deployment": ("apps", "v1", "deployments"),
    "StatefulSet": ("apps", "v1", "statefulsets"),
    "ReplicaSet": ("apps", "v1", "replicasets"),
}
_METRIC_REASON = {
    "cpu": "cpu resource utilization (percentage of request)",
    "memory": "memory resource utilization (percentage of request)",
}


class HPAController:
    name = "horizontal-pod-autoscaler"

    def __init__(self, api: ObjectAPI, usage: UsageModel) -> None:
        self.api = api
        self.usage = usage
        self.recorder = EventRecorder(api, "horizontal-pod-autoscaler")
        self._recommendations: dict[str, deque[tuple[float, int]]] = {}

    async def run(self) -> None:
        while True:
            await self.api.clock.sleep(SYNC_PERIOD)
            for obj in list(
                self.api.store.resource(
                    ("autoscaling", "horizontalpodautoscalers")
                ).objects.values()
            ):
                try:
                    self.sync(obj.decode())
                except st.StatusError as exc:
                    log.info("hpa %s: %s", obj.key, exc.reason)
                except Exception:
                    log.exception("event=hpa_sync_failed hpa=%s", obj.key)

    def sync(self, hpa: dict[str, Any]) -> None:
        assert HPAS is not None
        meta, spec = hpa["metadata"], hpa.get("spec") or {}
        ns = meta["namespace"]
        ref = spec.get("scaleTargetRef") or {}
        path = _TARGETS.get(ref.get("kind", ""))
        rt = REGISTRY.get(*path) if path else None
        hpa_ref = ObjectRef.of(hpa, "HorizontalPodAutoscaler")
        conditions: dict[str, dict[str, Any]] = {
            c["type"]: c for c in (hpa.get("status") or {}).get("conditions") or ()
        }
        now = self.api.clock.timestamp()
        if rt is None:
            self._set(
                conditions,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: "
                f'no matches for kind "{ref.get("kind")}"',
                now,
            )
            return self._write(hpa, conditions, None, None, [])
        try:
            target = self.api.get(rt, ns, ref.get("name", "")).decode()
        except st.StatusError as exc:
            self._set(
                conditions,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {exc.message}",
                now,
            )
            self.recorder.event(hpa_ref, WARNING, "FailedGetScale", exc.message)
            return self._write(hpa, conditions, None, None, [])
        current = int((target.get("spec") or {}).get("replicas", 1))
        self._set(
            conditions,
            "AbleToScale",
            "True",
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now,
        )
        pods = self._ready_pods(ns, target)
        proposals: list[tuple[int, str]] = []
        current_metrics = []
        for metric in spec.get("metrics") or ():
            if metric.get("type") != "Resource":
                continue
            res = metric["resource"]["name"]
            tgt = metric["resource"].get("target") or {}
            measured = self._measure(pods, res)
            if measured is None:
                self._set(
                    conditions,
                    "ScalingActive",
                    "False",
                    "FailedGetResourceMetric",
                    f"the HPA was unable to compute the replica count: failed to get "
                    f"{res} utilization: unable to get metrics for resource {res}: no "
                    f"metrics returned from resource metrics API",
                    now,
                )
                self.recorder.event(
                    hpa_ref,
                    WARNING,
                    "FailedGetResourceMetric",
                    f"failed to get {res} utilization: unable to get metrics for "
                    f"resource {res}: no metrics returned from resource metrics API",
                )
                continue
            used, requested, count = measured
            if tgt.get("type") == "AverageValue":
                avg = used / count
                goal = float(parse_quantity(str(tgt["averageValue"])))
                ratio = avg / goal if goal else 1.0
                current_metrics.append(_metric(res, None, avg))
            else:
                if not requested:
                    self.recorder.event(
                        hpa_ref,
                        WARNING,
                        "FailedGetResourceMetric",
                        f"failed to get {res} utilization: missing request for {res}",
                    )
                    continue
                utilization = round(used / requested * 100)
                ratio = (used / requested * 100) / int(tgt.get("averageUtilization", 80))
                current_metrics.append(_metric(res, utilization, used / count))
            desired = current if abs(ratio - 1.0) <= TOLERANCE else math.ceil(count * ratio)
            proposals.append((desired, res))
        if not proposals:
            return self._write(hpa, conditions, current, current, current_metrics)
        self._set(
            conditions,
            "ScalingActive",
            "True",
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from "
            f"{_METRIC_REASON.get(proposals[0][1], proposals[0][1])}",
            now,
        )
        desired, metric_name = max(proposals)
        desired = self._stabilize(meta["uid"], desired, current)
        lo, hi = int(spec.get("minReplicas", 1)), int(spec["maxReplicas"])
        limited = desired
        if desired > hi:
            limited = hi
            self._set(
                conditions,
                "ScalingLimited",
                "True",
                "TooManyReplicas",
                "the desired replica count is more than the maximum replica count",
                now,
            )
        elif desired < lo:
            limited = lo
            self._set(
                conditions,
                "ScalingLimited",
                "True",
                "TooFewReplicas",
                "the desired replica count is less than the minimum replica count",
                now,
            )
        else:
            self._set(
                conditions,
                "ScalingLimited",
                "False",
                "DesiredWithinRange",
                "the desired count is within the acceptable range",
                now,
            )
        if limited > current:
            limited = min(limited, max(current * 2, current + 4))  # default scale-up policies
        scaled = False
        if limited != current:
            target["spec"]["replicas"] = limited
            self.api.update(rt, ns, ref["name"], target)
            scaled = True
            direction = "above" if limited > current else "below"
            reason = (
                f"{_METRIC_REASON.get(metric_name, metric_name)} {direction} target"
                if direction == "above"
                else "All metrics below target"
            )
            self.recorder.event(
                hpa_ref, NORMAL, "SuccessfulRescale", f"New size: {limited}; reason: {reason}"
            )
            self._set(
                conditions,
                "AbleToScale",
                "True",
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {limited}",
                now,
            )
        else:
            self._set(
                conditions,
                "AbleToScale",
                "True",
                "ReadyForNewScale",
                "recommended size matches current size",
                now,
            )
        self._write(hpa, conditions, current, limited, current_metrics, scaled=scaled)

    def _ready_pods(self, ns: str, target: dict[str, Any]) -> list[str]:
        try:
            selector = label_selector_from_dict((target.get("spec") or {}).get("selector"))
        except SelectorError:
            return []
        return [
            key
            for key, run in self.usage.pods.items()
            if run.namespace == ns and run.ready and selector.matches(run.labels)
        ]

    def _measure(self, keys: list[str], resource: str) -> tuple[float, float, int] | None:
        used = requested = 0.0
        count = 0
        for key in keys:
            usage = self.usage.pod_usage(key)
            if not usage:
                continue
            pod = self.api.store.get(("", "pods"), key)
            if pod is None:
                continue
            count += 1
            used += sum(u.cpu if resource == "cpu" else u.memory for u in usage)
            for c in (pod.decode().get("spec") or {}).get("containers") or ():
                req = ((c.get("resources") or {}).get("requests") or {}).get(resource)
                if req:
                    requested += float(parse_quantity(str(req)))
        if not count:
            return None
        return used, requested, count

    def _stabilize(self, uid: str, desired: int, current: int) -> int:
        """Scale down only to the highest recommendation of the last 5 minutes."""
        now = self.api.clock.elapsed()
        history = self._recommendations.setdefault(uid, deque())
        history.append((now, desired))
        while history and history[0][0] < now - DOWNSCALE_WINDOW:
            history.popleft()
        if desired >= current:
            return desired
        return min(current, max(r for _, r in history))

    def _set(
        self,
        conditions: dict[str, dict[str, Any]],
        type_: str,
        status: str,
        reason: str,
        message: str,
        now: str,
    ) -> None:
        old = conditions.get(type_)
        transition = (
            now if old is None or old.get("status") != status else old["lastTransitionTime"]
        )
        conditions[type_] = {
            "type": type_,
            "status": status,
            "lastTransitionTime": transition,
            "reason": reason,
            "message": message,
        }

    def _write(
        self,
        hpa: dict[str, Any],
        conditions: dict[str, dict[str, Any]],
        current: int | None,
        desired: int | None,
        metrics: list[dict[str, Any]],
        scaled: bool = False,
    ) -> None:
        assert HPAS is not None
        old = hpa.get("status") or {}
        status: dict[str, Any] = {
            "currentReplicas": current if current is not None else old.get("currentReplicas", 0),
            "desiredReplicas": desired if desired is not None else old.get("desiredReplicas", 0),
            "conditions": [
                conditions[t]
                for t in ("AbleToScale", "ScalingActive", "ScalingLimited")
                if t in conditions
            ],
        }
        if metrics:
            status["currentMetrics"] = metrics
        if scaled:
            status["lastScaleTime"] = self.api.clock.timestamp()
        elif old.get("lastScaleTime"):
            status["lastScaleTime"] = old["lastScaleTime"]
        if status == old:
            return
        hpa["status"] = status
        self.api.update(
            HPAS, hpa["metadata"]["namespace"], hpa["metadata"]["name"], hpa, subresource="status"
        )


def _metric(resource: str, utilization: int | None, average: float) -> dict[str, Any]:
    value = f"{round(average * 1000)}m" if resource == "cpu" else f"{int(average)}"
    current: dict[str, Any] = {"averageValue": value}
    if utilization is not None:
        current["averageUtilization"] = utilization
    return {"type": "Resource", "resource": {"name": resource, "current": current}}
