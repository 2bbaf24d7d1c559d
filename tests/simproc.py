"""Start ``kubeward sim`` as a real process for end-to-end tests, and talk to it over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml


@dataclass
class SimProcess:
    proc: subprocess.Popen[bytes]
    kubeconfig: Path
    server: str
    token: str
    ca_file: Path | None
    log_file: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.server,
            verify=self.ssl_context(),
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
            **kwargs,
        )  # type: ignore[arg-type]

    def ssl_context(self) -> ssl.SSLContext | bool:
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else False

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_sim(tmp: Path, *args: str, timeout: float = 60) -> SimProcess:
    kubeconfig = tmp / "sim.kubeconfig"
    log_file = tmp / "sim.log"
    cmd = [
        sys.executable,
        "-m",
        "kubeward.cli",
        "sim",
        "--port",
        "0",
        "--kubeconfig-out",
        str(kubeconfig),
        *args,
    ]
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
    deadline = time.monotonic() + timeout
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"simulator did not start:\n{log_file.read_text()}")
        time.sleep(0.05)
    cfg = yaml.safe_load(kubeconfig.read_text())
    cluster = cfg["clusters"][0]["cluster"]
    ca_file = None
    if "certificate-authority-data" in cluster:
        ca_file = kubeconfig.parent / "sim-tls" / "ca.crt"
    sim = SimProcess(
        proc, kubeconfig, cluster["server"], cfg["users"][0]["user"]["token"], ca_file, log_file
    )
    with httpx.Client(verify=sim.ssl_context()) as c:
        while True:
            try:
                if c.get(f"{sim.server}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                sim.stop()
                raise RuntimeError(f"simulator not ready:\n{log_file.read_text()}")
            time.sleep(0.05)
    return sim


def grant_cluster_role(sim: SimProcess, role: str, user: str) -> None:
    """Bind ``role`` to ``user`` cluster-wide (the simulator authorizes with RBAC: users of a
    --token-auth-file outside system:masters get only what bindings grant)."""
    name = f"{role}-{user.replace(':', '-')}"
    body = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
    }
    with httpx.Client(verify=sim.ssl_context()) as c:
        response = c.post(
            f"{sim.server}/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            json=body,
            headers={"Authorization": f"Bearer {sim.token}"},
        )
        response.raise_for_status()


def eventually(check: Callable[[], Any], timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


async def until(check: Callable[[], Any], timeout: float = 10) -> Any:
    """``eventually`` for in-process tests: poll without blocking the simulator's loop."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
