"""Driving real kubectl binaries (Debian's, and the one on PATH) against a simulator."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from simproc import SimProcess, eventually

ROOT = Path(__file__).resolve().parents[1]


def _debian_kubectl() -> str:
    path = os.environ.get("KUBEWARD_KUBECTL") or str(
        ROOT / ".kubeward/tools/kubernetes-client/usr/bin/kubectl"
    )
    if not Path(path).exists() and Path("/usr/bin/kubectl").exists():
        out = subprocess.run(["dpkg", "-s", "kubernetes-client"], capture_output=True)
        if out.returncode == 0:
            path = "/usr/bin/kubectl"
    if not Path(path).exists():
        pytest.fail(
            "Debian's kubectl not found: run scripts/install-kubectl.sh (make test "
            "does) or set KUBEWARD_KUBECTL"
        )
    return path


def _kubectls() -> list[pytest.param]:
    params = [pytest.param("debian", id="debian-kubectl")]
    other = shutil.which("kubectl")
    if other and os.path.realpath(other) != os.path.realpath(_debian_kubectl()):
        params.append(pytest.param(other, id="path-kubectl"))
    return params


def chosen_kubectl(request: pytest.FixtureRequest, sim: SimProcess, home: Path) -> Kubectl:
    """The kubectl a fixture parametrized with ``_kubectls()`` stands for, against ``sim``."""
    binary = _debian_kubectl() if request.param == "debian" else request.param
    return Kubectl(binary, sim, home)


class Kubectl:
    def __init__(self, binary: str, sim: SimProcess, home: Path) -> None:
        self.binary, self.sim, self.home = binary, sim, home

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "KUBECONFIG": str(self.sim.kubeconfig),
        }
        proc = subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            env=env,
            input=input,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def popen(self, *args: str) -> subprocess.Popen[str]:
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(self.home),
            "KUBECONFIG": str(self.sim.kubeconfig),
        }
        return subprocess.Popen(
            [self.binary, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )


def service_account_token(kubectl: Kubectl, namespace: str, account: str) -> dict[str, bytes]:
    """The decoded data of a token Secret for an existing ``account`` once the simulator's
    tokens controller has filled it in: ``token``, ``namespace`` and ``ca.crt``, what a pod
    gets mounted (Debian's kubectl 1.20 has no ``kubectl create token``)."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{account}-token",
            "namespace": namespace,
            "annotations": {"kubernetes.io/service-account.name": account},
        },
        "type": "kubernetes.io/service-account-token",
    }
    kubectl("apply", "-f", "-", input=json.dumps(secret))

    def filled() -> dict[str, str] | None:
        got = json.loads(
            kubectl("get", "secret", f"{account}-token", "-n", namespace, "-o", "json").stdout
        )
        return got.get("data") if "token" in (got.get("data") or {}) else None

    data = eventually(filled)
    return {key: base64.b64decode(value) for key, value in data.items()}


def kubeconfig_with_token(sim: SimProcess, token: bytes | str, path: Path) -> Path:
    """The simulator's kubeconfig (its server and CA) with ``token`` as the user's."""
    config = yaml.safe_load(sim.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": token if isinstance(token, str) else token.decode()}
    path.write_text(yaml.safe_dump(config))
    return path


def own_namespace(kubectl: Kubectl, request: pytest.FixtureRequest, prefix: str) -> Iterator[str]:
    """A namespace of one test on the shared simulator (named after the test), deleted without
    waiting afterwards: a fixture's body, ``yield from own_namespace(...)``."""
    name = f"{prefix}-{abs(hash(request.node.nodeid)) % 10**8}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false")
