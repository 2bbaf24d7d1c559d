"""Config and auth paths of kubeward.client against the simulator over HTTPS: kubeconfig with
CA data, exec credential plugins (v1beta1 and v1), in-cluster service account, and the clear
errors for bad credentials, bad TLS and an unreachable server."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeward.client import (
    ApiClient,
    ClusterUnreachable,
    Informer,
    KubeConfigError,
    Resource,
    Unauthorized,
    connect,
    load_config,
)
from simproc import SimProcess

pytestmark = pytest.mark.e2e


def _kubeconfig(sim: SimProcess) -> dict[str, Any]:
    return dict(yaml.safe_load(sim.kubeconfig.read_text()))


def _write(tmp_path: Path, cfg: dict[str, Any], name: str = "kubeconfig") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def _with_user(sim: SimProcess, user: dict[str, Any]) -> dict[str, Any]:
    cfg = _kubeconfig(sim)
    cfg["users"][0]["user"] = user
    return cfg


async def test_kubeconfig_with_ca_data_lists_over_tls(sim: SimProcess) -> None:
    assert sim.server.startswith("https://")
    api = await connect(str(sim.kubeconfig))
    async with api:
        assert api.config.server == sim.server
        inf = Informer(api, Resource.lookup("v1", "namespaces"))
        inf.start()
        try:
            await inf.wait_synced(10)
            assert "default" in inf.store
        finally:
            await inf.stop()


def _exec_plugin(tmp_path: Path, token: str) -> Path:
    script = tmp_path / "plugin.py"
    script.write_text(
        "import json, os, sys\n"
        "open(sys.argv[1], 'w').write(os.environ.get('KUBERNETES_EXEC_INFO', ''))\n"
        "info = json.loads(os.environ['KUBERNETES_EXEC_INFO'])\n"
        "print(json.dumps({'apiVersion': info['apiVersion'], 'kind': 'ExecCredential',\n"
        f"                  'status': {{'token': {token!r}}}}}))\n"
    )
    return script


@pytest.mark.parametrize(
    "version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
)
async def test_exec_credential_plugin(sim: SimProcess, tmp_path: Path, version: str) -> None:
    seen = tmp_path / "exec-info.json"
    exec_spec = {
        "apiVersion": version,
        "command": sys.executable,
        "args": [str(_exec_plugin(tmp_path, sim.token)), str(seen)],
        "interactiveMode": "Never",
    }
    path = _write(tmp_path, _with_user(sim, {"exec": exec_spec}))
    async with await connect(path) as api:
        assert (await api.version())["major"] == "1"
    info = json.loads(seen.read_text())
    assert info["apiVersion"] == version and info["spec"]["interactive"] is False


async def test_failing_exec_plugin_names_the_user_and_the_fix(
    sim: SimProcess, tmp_path: Path
) -> None:
    exec_spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "kubeward-no-such-credential-plugin",
        "installHint": "install it with: apt-get install no-such-plugin",
    }
    path = _write(tmp_path, _with_user(sim, {"exec": exec_spec}))
    with pytest.raises(KubeConfigError) as err:
        await connect(path)
    text = str(err.value)
    assert "obtaining credentials for user" in text
    assert "apt-get install no-such-plugin" in text


async def test_wrong_token_is_unauthorized_with_a_fix(sim: SimProcess, tmp_path: Path) -> None:
    path = _write(tmp_path, _with_user(sim, {"token": "not-the-token"}))
    # As kube-apiserver, the simulator authenticates every request that carries a token, so
    # connect()'s GET /version already fails: a hopeless credential is reported before any LIST.
    with pytest.raises(Unauthorized) as err:
        await connect(path)
    text = str(err.value)
    assert err.value.code == 401
    assert sim.server in text and 'user "' in text and "rejected the credentials" in text
    assert "Fix:" in text


async def test_unknown_ca_fails_tls_verification_clearly(sim: SimProcess, tmp_path: Path) -> None:
    cfg = _kubeconfig(sim)
    del cfg["clusters"][0]["cluster"]["certificate-authority-data"]
    with pytest.raises(ClusterUnreachable) as err:
        await connect(_write(tmp_path, cfg))
    assert "TLS verification" in str(err.value) and "certificate-authority" in str(err.value)

    cfg["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True
    async with await connect(_write(tmp_path, cfg, "insecure")) as api:
        assert await api.version()


async def test_unreachable_server_names_the_address(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the client connects
    server = f"http://127.0.0.1:{port}"
    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "ctx",
    }
    with pytest.raises(ClusterUnreachable) as err:
        await connect(_write(tmp_path, cfg))
    text = str(err.value)
    assert f"cannot reach the API server at {server}" in text and 'context "ctx"' in text


async def test_in_cluster_service_account(
    sim: SimProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert sim.ca_file is not None
    sa = tmp_path / "serviceaccount"
    sa.mkdir()
    (sa / "token").write_text(sim.token)
    (sa / "namespace").write_text("kube-system")
    (sa / "ca.crt").write_bytes(sim.ca_file.read_bytes())
    host, port = sim.server.removeprefix("https://").rsplit(":", 1)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)

    cfg = load_config(service_account_dir=sa)  # picked because the pod env is set
    assert cfg.source.startswith("in-cluster") and cfg.namespace == "kube-system"
    async with ApiClient(cfg) as api:
        assert (await api.version())["major"] == "1"

    # An explicit kubeconfig still wins over the pod's identity, as with kubectl.
    assert load_config(sim.kubeconfig, service_account_dir=sa).source.startswith("kubeconfig")


CONFIGMAPS = Resource.lookup("v1", "configmaps")


async def test_exec_plugin_is_rerun_when_its_cached_token_is_rejected(
    sim: SimProcess, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    script = tmp_path / "rotating.py"
    # First run hands out a token the server rejects (an expired one), later runs a good one.
    script.write_text(
        "import json, sys\n"
        "calls = open(sys.argv[1], 'a+'); calls.write('x'); calls.seek(0); n = len(calls.read())\n"
        f"token = 'expired' if n == 1 else {sim.token!r}\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1beta1',\n"
        "                  'kind': 'ExecCredential', 'status': {'token': token}}))\n"
    )
    exec_spec = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": sys.executable,
        "args": [str(script), str(calls)],
    }
    async with ApiClient(
        load_config(_write(tmp_path, _with_user(sim, {"exec": exec_spec})))
    ) as api:
        with pytest.raises(Unauthorized):
            await api.list_page(CONFIGMAPS, "default", {})
        # The cached token is rejected again: the plugin runs again and the request is retried.
        page = await api.list_page(CONFIGMAPS, "default", {})
    assert page["kind"] == "ConfigMapList" and calls.read_text() == "xx"


async def test_token_file_is_reread_when_rejected(sim: SimProcess, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("old-rotated-away")
    path = _write(tmp_path, _with_user(sim, {"tokenFile": str(token_file)}))
    async with ApiClient(load_config(path)) as api:
        with pytest.raises(Unauthorized):
            await api.list_page(CONFIGMAPS, "default", {})
        token_file.write_text(sim.token)  # the kubelet rotated the projected token
        page = await api.list_page(CONFIGMAPS, "default", {})
    assert page["kind"] == "ConfigMapList"
