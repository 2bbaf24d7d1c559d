"""The built-in demo scenario, run at 60x in a real simulator process, produces every fault it
declares. Everything is observed through the API (objects and events), as a user (or kubeward)
would see it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from simproc import start_sim

pytestmark = pytest.mark.e2e

SPEED = 60  # the demo's first 20 simulated minutes take 20 real seconds
# Non-virtual nodes: the log-agent DaemonSet does not tolerate the burst pool's taint.
DAEMON_NODES = 50


def items(http: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    return http.get(path, params=params).json()["items"]


def events(http: httpx.Client, reason: str) -> list[dict[str, Any]]:
    return items(http, "/api/v1/events", fieldSelector=f"reason={reason}")


def first(found: list[str], seen: dict[str, Any], key: str) -> None:
    if found:
        seen.setdefault(key, found[0])


def observe_pods(http: httpx.Client, seen: dict[str, Any]) -> None:
    for pod in items(http, "/api/v1/pods"):
        ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
        for cs in (pod.get("status") or {}).get("containerStatuses") or ():
            waiting = (cs.get("state") or {}).get("waiting") or {}
            last = (cs.get("lastState") or {}).get("terminated") or {}
            if last.get("reason") == "OOMKilled" and last.get("exitCode") == 137:
                seen.setdefault("oomkilled", f"{ns}/{name}")
            if waiting.get("reason") == "CrashLoopBackOff":
                seen.setdefault("crashloop", f"{ns}/{name}")
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                seen.setdefault("bad_image", f"{ns}/{name}")


def observe_nodes(http: httpx.Client, seen: dict[str, Any]) -> None:
    for node in items(http, "/api/v1/nodes"):
        name = node["metadata"]["name"]
        conditions = {c["type"]: c for c in node["status"]["conditions"]}
        if conditions["Ready"]["status"] == "Unknown":
            seen.setdefault("not_ready", name)
        if conditions.get("KernelDeadlock", {}).get("status") == "True":
            seen.setdefault("kernel_deadlock", name)
        if conditions.get("GPUXidError", {}).get("status") == "True":
            seen.setdefault("gpu_xid", name)


def observe_workloads(http: httpx.Client, seen: dict[str, Any]) -> None:
    for job in items(http, "/apis/batch/v1/jobs"):
        status = job.get("status") or {}
        name = job["metadata"]["name"]
        if (
            any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in status.get("conditions") or ()
            )
            and name == "index-rebuild"
        ):  # the CronJob's jobs complete too; this is the Job
            seen.setdefault("job_complete", name)
        owners = job["metadata"].get("ownerReferences") or ()
        if any(o["kind"] == "CronJob" and o["name"] == "cache-warmer" for o in owners):
            seen.setdefault("cronjob_job", name)
    checkout = http.get("/apis/apps/v1/namespaces/shop/deployments/checkout").json()
    if checkout["metadata"].get("generation", 1) > 1:
        seen.setdefault(
            "bad_rollout", checkout["spec"]["template"]["spec"]["containers"][0]["image"]
        )
    redis = http.get("/apis/apps/v1/namespaces/platform/statefulsets/redis").json()
    if (redis.get("status") or {}).get("readyReplicas") == 3:
        seen.setdefault("statefulset_ready", "platform/redis")
    agent = http.get("/apis/apps/v1/namespaces/logging/daemonsets/log-agent").json()
    status = agent.get("status") or {}
    if status.get("desiredNumberScheduled") == status.get("numberReady") == DAEMON_NODES:
        seen.setdefault("daemonset_ready", DAEMON_NODES)


def observe_events(http: httpx.Client, seen: dict[str, Any]) -> None:
    def objs(reason: str, kind: str, prefix: str = "", text: str = "") -> list[str]:
        return [
            e["involvedObject"]["name"]
            for e in events(http, reason)
            if e["involvedObject"]["kind"] == kind
            and e["involvedObject"]["name"].startswith(prefix)
            and text in e.get("message", "")
        ]

    first(objs("SuccessfulRescale", "HorizontalPodAutoscaler", "web", "New size: "), seen, "hpa")
    first(
        objs("BackOff", "Pod", "checkout-", "Back-off restarting failed container"),
        seen,
        "ev_backoff",
    )
    first(objs("Failed", "Pod", "recommendations-", "ErrImagePull"), seen, "ev_pull_failed")
    first(objs("NodeNotReady", "Node", "general-"), seen, "ev_node_not_ready")
    first(objs("Completed", "Job", "index-rebuild", "Job completed"), seen, "ev_job_completed")


WANTED = {
    # pods and nodes
    "oomkilled",
    "crashloop",
    "bad_image",
    "not_ready",
    "kernel_deadlock",
    "gpu_xid",
    # workloads
    "job_complete",
    "cronjob_job",
    "bad_rollout",
    "statefulset_ready",
    "daemonset_ready",
    # events
    "hpa",
    "ev_backoff",
    "ev_pull_failed",
    "ev_node_not_ready",
    "ev_job_completed",
}


def test_demo_produces_each_declared_fault(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, "--scenario", "demo", "--speed", str(SPEED))
    seen: dict[str, Any] = {}
    try:
        with sim.client() as http:
            deadline = time.monotonic() + 21 * 60 / SPEED + 15
            while not seen.keys() >= WANTED and time.monotonic() < deadline:
                for observe in (observe_pods, observe_nodes, observe_workloads, observe_events):
                    observe(http, seen)
                time.sleep(0.25)
    finally:
        sim.stop()
    assert seen.keys() >= WANTED, f"missing {sorted(WANTED - seen.keys())}; saw {seen}"
    assert seen["oomkilled"].startswith("shop/search-")
    assert seen["crashloop"].startswith("shop/checkout-")
    assert seen["bad_image"].startswith("shop/recommendations-")
    assert seen["not_ready"] == seen["ev_node_not_ready"] == "general-0"
    assert seen["kernel_deadlock"] == "highmem-0"
    assert seen["gpu_xid"] == "gpu-0"
    assert seen["bad_rollout"] == "registry.example.com/shop/checkout:3.1.0-rc1"
    assert seen["job_complete"] == "index-rebuild"
