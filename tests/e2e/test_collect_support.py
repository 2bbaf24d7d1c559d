"""Helpers for the collector's end-to-end tests (no tests here): run ``kubeward collect`` as a
real process, scrape it, parse expositions, find promtool, write kubeconfigs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

Labels = frozenset[tuple[str, str]]
Series = dict[tuple[str, Labels], float]

_SERVING = re.compile(r"serving (http://\S+/metrics) workers=(\S+)")


def promtool() -> str:
    """Debian's promtool: $KUBEWARD_PROMTOOL, else PATH, else /usr/bin/promtool."""
    path = os.environ.get("KUBEWARD_PROMTOOL") or shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).exists():
        pytest.fail(
            "promtool not found: run scripts/install-prometheus.sh (installs the Debian package "
            "prometheus; make test does) or set KUBEWARD_PROMTOOL"
        )
    return path


def promtool_check(text: str) -> None:
    result = subprocess.run(
        [promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"promtool check metrics: {result.stdout}{result.stderr}"


def write_kubeconfig(path: Path, server: str, token: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": {"token": token}}],
                "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "ctx",
            }
        )
    )
    return path


def collect_command(kubeconfig: Path | None, *args: str) -> list[str]:
    """The collector's command line; without a kubeconfig it finds its config itself."""
    where = ["--kubeconfig", str(kubeconfig)] if kubeconfig is not None else []
    return [sys.executable, "-m", "kubeward.collect.cli", *where, *args]


@dataclass
class Collector:
    proc: subprocess.Popen[bytes]
    url: str
    workers: list[str]
    out: Path
    err: Path

    def scrape(self, url: str | None = None) -> str:
        response = httpx.get(url or self.url, timeout=30)
        assert response.status_code == 200, response.text
        return response.text

    def ready(self) -> bool:
        try:
            return httpx.get(self.url.replace("/metrics", "/readyz"), timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"collector not ready:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def start_collector(
    tmp: Path,
    kubeconfig: Path | None,
    *args: str,
    workers: int = 1,
    name: str = "collect",
    env: dict[str, str] | None = None,
) -> Collector:
    """``kubeward collect`` on free loopback ports; returns once it serves /metrics. ``env``
    replaces the environment (default: this process's)."""
    out, err = tmp / f"{name}.out", tmp / f"{name}.err"
    cmd = collect_command(
        kubeconfig, "--listen", "127.0.0.1:0", "--workers", str(workers), "-v", *args
    )
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            cmd, stdout=o, stderr=e, env={**(env or os.environ), "PYTHONUNBUFFERED": "1"}
        )
    deadline = time.monotonic() + 60
    while True:
        found = _SERVING.search(out.read_text())
        if found:
            return Collector(proc, found[1], found[2].split(","), out, err)
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"collector did not start:\n{out.read_text()}{err.read_text()}")
        time.sleep(0.05)


def parse(text: str) -> Series:
    out: Series = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        v
        for (n, ls), v in parse(text).items()
        if n == name and all((k, val) in ls for k, val in labels.items())
    )
