"""``kubeward collect`` fails fast and clearly: a bad kubeconfig, an unreachable server, RBAC
refusing the lists (403, from a small loopback API server: the simulator has no RBAC), a bad
--listen and a port in use each give a message naming the fix and a non-zero exit."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from e2e.test_collect_support import collect_command, write_kubeconfig
from kubeward.collect.cli import collect_app

pytestmark = pytest.mark.e2e


def run(kubeconfig: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    cmd = collect_command(kubeconfig, "--listen", "127.0.0.1:0", "--no-store", *args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RbacDenies(BaseHTTPRequestHandler):
    """An API server that knows who you are but lets you list nothing."""

    def do_GET(self) -> None:
        if self.path == "/version":
            self._reply(200, {"major": "1", "minor": "31", "gitVersion": "v1.31.0"})
            return
        resource = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        self._reply(
            403,
            {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "reason": "Forbidden",
                "code": 403,
                "message": f'{resource} is forbidden: User "system:serviceaccount:mon:kw" '
                f'cannot list resource "{resource}" at the cluster scope',
            },
        )

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def denying_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RbacDenies)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


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


def test_rbac_refusing_the_lists(tmp_path: Path, denying_server: str) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kc", denying_server, "t")
    result = run(kubeconfig, "--workers", "2")
    assert result.returncode == 1, result.stdout + result.stderr
    err = " ".join(result.stderr.split())  # Rich may wrap long lines
    assert "Forbidden" in err
    assert "does not allow kubeward to list" in err
    assert 'verbs: ["list", "watch"]' in err  # the rule to grant
    assert "kubeward collect: synced" not in result.stdout


def test_a_bad_listen_address(tmp_path: Path) -> None:
    result = run(tmp_path / "unused", "--listen", "localhost")
    assert result.returncode == 2
    assert "--listen" in result.stderr and "HOST:PORT" in result.stderr


def test_a_port_in_use(tmp_path: Path, denying_server: str) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kc", denying_server, "t")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cmd = collect_command(kubeconfig, "--listen", f"127.0.0.1:{port}", "--no-store")
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
