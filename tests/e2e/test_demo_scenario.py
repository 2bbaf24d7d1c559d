"""The built-in demo scenario, run at 60x in a real simulator process, produces every fault it
declares. Everything is observed through the API, as a user (or kubeward) would see it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from simproc import start_sim

pytestmark = pytest.mark.e2e

SPEED = 60  # the demo's first 20 simulated minutes take 20 real seconds


def items(http: httpx.Client, path: str) -> list[dict[str, Any]]:
    return http.get(path).json()["items"]


def observe(http: httpx.Client, seen: dict[str, Any]) -> None:
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
    for node in items(http, "/api/v1/nodes"):
        conditions = {c["type"]: c for c in node["status"]["conditions"]}
        if conditions["Ready"]["status"] == "Unknown":
            seen.setdefault("not_ready", node["metadata"]["name"])
        if conditions.get("KernelDeadlock", {}).get("status") == "True":
            seen.setdefault("kernel_deadlock", node["metadata"]["name"])
        if conditions.get("GPUXidError", {}).get("status") == "True":
            seen.setdefault("gpu_xid", node["metadata"]["name"])
    for job in items(http, "/apis/batch/v1/jobs"):
        if any(c["type"] == "Complete" for c in (job.get("status") or {}).get("conditions") or ()):
            seen.setdefault("job_complete", job["metadata"]["name"])
    rescales = http.get(
        "/api/v1/namespaces/shop/events", params={"fieldSelector": "reason=SuccessfulRescale"}
    ).json()["items"]
    if rescales:
        seen.setdefault("hpa_rescale", rescales[0]["message"])
    checkout = http.get("/apis/apps/v1/namespaces/shop/deployments/checkout").json()
    if checkout["metadata"].get("generation", 1) > 1:
        seen.setdefault(
            "bad_rollout", checkout["spec"]["template"]["spec"]["containers"][0]["image"]
        )


def test_demo_produces_each_declared_fault(tmp_path: Path) -> None:
    sim = start_sim(tmp_path, "--scenario", "demo", "--speed", str(SPEED))
    wanted = {
        "oomkilled",
        "crashloop",
        "bad_image",
        "not_ready",
        "kernel_deadlock",
        "gpu_xid",
        "job_complete",
        "hpa_rescale",
        "bad_rollout",
    }
    seen: dict[str, Any] = {}
    try:
        with sim.client() as http:
            deadline = time.monotonic() + 22 * 60 / SPEED + 15
            while not wanted <= seen.keys() and time.monotonic() < deadline:
                observe(http, seen)
                time.sleep(0.25)
    finally:
        sim.stop()
    assert wanted <= seen.keys(), f"missing {sorted(wanted - seen.keys())}; saw {seen}"
    assert seen["oomkilled"].startswith("shop/search-")
    assert seen["crashloop"].startswith("shop/checkout-")
    assert seen["bad_image"].startswith("shop/recommendations-")
    assert seen["not_ready"].startswith("general-")
    assert seen["kernel_deadlock"].startswith("highmem-")
    assert seen["gpu_xid"].startswith("gpu-")
    assert seen["bad_rollout"] == "registry.example.com/shop/checkout:3.1.0-rc1"
    assert seen["hpa_rescale"].startswith("New size: ")
