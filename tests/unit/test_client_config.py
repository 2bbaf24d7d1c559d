"""kubeward.client.load_config: where the config comes from, and a clear error for each way a
kubeconfig can be wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeward.client import KubeConfigError, load_config, make_http_client, user_agent
from kubeward.client.config import ExecV1Auth


def good(**overrides: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "prod", "cluster": {"server": "https://prod.example:6443"}},
            {"name": "dev", "cluster": {"server": "http://127.0.0.1:8080"}},
        ],
        "users": [{"name": "alice", "user": {"token": "abc"}}],
        "contexts": [
            {"name": "prod", "context": {"cluster": "prod", "user": "alice"}},
            {"name": "dev", "context": {"cluster": "dev", "user": "alice", "namespace": "team"}},
        ],
        "current-context": "prod",
    }
    cfg.update(overrides)
    return cfg


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in (
        "KUBECONFIG",
        "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_SERVICE_PORT",
        "KUBEWARD_SERVICE_ACCOUNT_DIR",
    ):
        monkeypatch.delenv(var, raising=False)


def write(tmp_path: Path, cfg: Any, name: str = "config") -> Path:
    path = tmp_path / name
    path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg))
    return path


def test_current_context_and_explicit_context(tmp_path: Path) -> None:
    path = write(tmp_path, good())
    prod = load_config(path)
    assert (prod.server, prod.context_name, prod.namespace) == (
        "https://prod.example:6443",
        "prod",
        "default",
    )
    dev = load_config(path, "dev")
    assert (dev.server, dev.namespace, dev.user_name) == ("http://127.0.0.1:8080", "team", "alice")
    assert dev.source == f"kubeconfig {path}"


def test_kubeconfig_env_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(write(tmp_path, good())))
    assert load_config().context_name == "prod"


def test_kubeconfig_env_with_several_files_asks_for_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = write(tmp_path, good(), "a"), write(tmp_path, good(), "b")
    monkeypatch.setenv("KUBECONFIG", f"{a}:{b}")
    with pytest.raises(KubeConfigError, match=r"KUBECONFIG lists 2 files.*--kubeconfig"):
        load_config()


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError) as err:
        load_config(tmp_path / "nope")
    assert f"kubeconfig {tmp_path / 'nope'} not found" in str(err.value)
    assert "--kubeconfig" in str(err.value)


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("clusters: [\n  - name: x\n   bad", "not valid YAML"),
        ("- just\n- a list\n", "not a kubeconfig mapping"),
        (yaml.safe_dump({"contexts": [], "users": []}), "'clusters' list is missing"),
        (
            yaml.safe_dump(good(clusters=[{"name": "prod", "cluster": {"server": ["x"]}}])),
            "wrong type",
        ),
    ],
)
def test_unparseable_file_says_why(tmp_path: Path, content: str, why: str) -> None:
    path = write(tmp_path, content)
    with pytest.raises(KubeConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert f"kubeconfig {path} cannot be read" in text and why in text
    assert "kubectl config view" in text


def test_unknown_context_lists_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError) as err:
        load_config(write(tmp_path, good()), "staging")
    assert 'context "staging" not found' in str(err.value)
    assert "available: dev, prod" in str(err.value) and "--context" in str(err.value)


def test_no_current_context(tmp_path: Path) -> None:
    cfg = good()
    del cfg["current-context"]
    with pytest.raises(KubeConfigError, match=r"no current-context.*--context NAME"):
        load_config(write(tmp_path, cfg))


def test_context_naming_a_missing_cluster_or_user(tmp_path: Path) -> None:
    cfg = good(contexts=[{"name": "prod", "context": {"cluster": "gone", "user": "alice"}}])
    with pytest.raises(KubeConfigError, match='names cluster "gone"'):
        load_config(write(tmp_path, cfg))
    cfg = good(contexts=[{"name": "prod", "context": {"cluster": "prod", "user": "bob"}}])
    with pytest.raises(KubeConfigError, match='names user "bob"'):
        load_config(write(tmp_path, cfg))


def test_anonymous_context_gets_a_client(tmp_path: Path) -> None:
    cfg = good(contexts=[{"name": "prod", "context": {"cluster": "prod"}}])
    config = load_config(write(tmp_path, cfg))
    assert config.user_name == "(anonymous)"
    client = make_http_client(config)
    assert client.auth is None


def test_legacy_oidc_auth_provider_points_to_exec_plugins(tmp_path: Path) -> None:
    provider = {"name": "oidc", "config": {"idp-issuer-url": "https://issuer", "id-token": "x"}}
    cfg = good(users=[{"name": "alice", "user": {"auth-provider": provider}}])
    with pytest.raises(KubeConfigError) as err:
        load_config(write(tmp_path, cfg))
    assert 'legacy auth-provider "oidc"' in str(err.value)
    assert "kubelogin" in str(err.value) and "exec" in str(err.value)


def test_unknown_exec_api_version(tmp_path: Path) -> None:
    exec_spec = {"apiVersion": "client.authentication.k8s.io/v2", "command": "x"}
    cfg = good(users=[{"name": "alice", "user": {"exec": exec_spec}}])
    with pytest.raises(KubeConfigError, match=r"client\.authentication\.k8s\.io/v1\b"):
        load_config(write(tmp_path, cfg))


def test_exec_user_gets_v1_capable_auth(tmp_path: Path) -> None:
    exec_spec = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": "get-token",
        "args": ["--cluster", "prod"],
        "env": [{"name": "REGION", "value": "eu"}],
    }
    cfg = good(users=[{"name": "alice", "user": {"exec": exec_spec}}])
    client = make_http_client(load_config(write(tmp_path, cfg)))
    assert isinstance(client.auth, ExecV1Auth)
    command, env = client.auth._prepare()
    assert command == ["get-token", "--cluster", "prod"] and env["REGION"] == "eu"
    assert '"apiVersion":"client.authentication.k8s.io/v1"' in env["KUBERNETES_EXEC_INFO"]


def test_missing_certificate_file_is_a_config_error(tmp_path: Path) -> None:
    cluster = {"server": "https://x:6443", "certificate-authority": "missing-ca.crt"}
    cfg = good(clusters=[{"name": "prod", "cluster": cluster}])
    with pytest.raises(KubeConfigError, match="certificate-authority"):
        make_http_client(load_config(write(tmp_path, cfg)))


def test_http_client_has_base_url_and_user_agent(tmp_path: Path) -> None:
    client = make_http_client(load_config(write(tmp_path, good()), "dev"), agent="kubeward-x")
    assert str(client.base_url).rstrip("/") == "http://127.0.0.1:8080"
    assert client.headers["User-Agent"] == user_agent("kubeward-x")
    assert user_agent().startswith("kubeward-collector/")


def test_in_cluster_without_pod_env(tmp_path: Path) -> None:
    with pytest.raises(KubeConfigError, match="KUBERNETES_SERVICE_HOST"):
        load_config(in_cluster=True, service_account_dir=tmp_path)


def test_in_cluster_without_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    (tmp_path / "namespace").write_text("x")
    with pytest.raises(KubeConfigError) as err:
        load_config(service_account_dir=tmp_path)  # chosen from the env, then fails clearly
    assert "token, ca.crt missing" in str(err.value)
    assert "automountServiceAccountToken" in str(err.value)


def test_in_cluster_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    for name, text in (("token", "sa-token"), ("namespace", "kubeward"), ("ca.crt", "x")):
        (tmp_path / name).write_text(text)
    config = load_config(service_account_dir=tmp_path)
    assert config.server == "https://[fd00::1]:443" and config.namespace == "kubeward"
    user = config.single.user
    assert user is not None and user.token_file == str(tmp_path / "token")
    # Forbidding in-cluster falls back to the default kubeconfig path.
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(KubeConfigError, match=r"\.kube/config not found"):
        load_config(in_cluster=False, service_account_dir=tmp_path)
