"""``kubeward collect`` fails fast and clearly: a bad kubeconfig, an unreachable server, a bad
--listen and a port in use each give a message naming the fix and a non-zero exit (RBAC
refusing the lists: test_collect_rbac.py, against the simulator's authorizer)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from e2e.test_collect_support import collect_command, write_kubeconfig
from kubeward.collect.cli import collect_app
from simproc import SimProcess

pytestmark = pytest.mark.e2e


def run(kubeconfig: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = collect_command(kubeconfig, "--listen", "127.0.0.1:0", "--no-store", *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_missing_kubeconfig(tmp_path: Path) -> None:
    result = run(tmp_path / "nope.kubeconfig")
    assert result.returncode == 1
    assert "nope.kubeconfig not found" in result.stderr
    assert "--kubeconfig" in result.stderr


def test_a_kubeconfig_that_is_not_one_through_the_typer_app(tmp_path: Path) -> None:
    bad = tmp_path / "bad.kubeconfig"
    bad.write_text("clusters: [unclosed\n")
    result = CliRunner().invoke(collect_app, ["--kubeconfig", str(bad), "--no-store"])
    assert result.exit_code == 1
    assert "cannot be read" in result.output and "not valid YAML" in result.output


def test_an_unreachable_server(tmp_path: Path) -> None:
    port = free_port()
    kubeconfig = write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{port}", "t")
    result = run(kubeconfig)
    assert result.returncode == 1
    assert f"cannot reach the API server at http://127.0.0.1:{port}" in result.stderr
    assert "Fix:" in result.stderr


def test_a_bad_listen_address(tmp_path: Path) -> None:
    result = run(tmp_path / "unused", "--listen", "localhost")
    assert result.returncode == 2
    assert "--listen" in result.stderr and "HOST:PORT" in result.stderr


def test_a_port_in_use(sim: SimProcess) -> None:
    kubeconfig = sim.kubeconfig
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cmd = collect_command(kubeconfig, "--listen", f"127.0.0.1:{port}", "--no-store")
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
