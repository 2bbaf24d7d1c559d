"""Which cluster, as which user: kubeconfig, contexts, in-cluster service account, auth plugins.

Everything here is lightkube's machinery (``KubeConfig``, ``SingleConfig`` and the httpx auth
classes of ``lightkube.config.client_adapter``). kubeward only chooses the source, turns
lightkube's terse exceptions into messages that name the fix, and adds the one thing lightkube
lacks: exec plugins speaking ``client.authentication.k8s.io/v1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import msgspec
import orjson
import yaml
from lightkube.config.client_adapter import ExecAuth, user_auth
from lightkube.config.kubeconfig import SERVICE_ACCOUNT, KubeConfig, SingleConfig
from lightkube.config.models import User, UserExec
from lightkube.core.exceptions import ConfigError

from kubeward.client.errors import KubeConfigError

DEFAULT_KUBECONFIG = "~/.kube/config"
SERVICE_ACCOUNT_DIR = SERVICE_ACCOUNT

EXEC_V1 = "client.authentication.k8s.io/v1"
EXEC_V1BETA1 = "client.authentication.k8s.io/v1beta1"
EXEC_V1ALPHA1 = "client.authentication.k8s.io/v1alpha1"
EXEC_VERSIONS = (EXEC_V1, EXEC_V1BETA1, EXEC_V1ALPHA1)


@dataclass(frozen=True)
class ClusterConfig:
    """One resolved cluster + user, and where it came from (for error messages)."""

    single: SingleConfig
    source: str

    @property
    def server(self) -> str:
        return self.single.cluster.server

    @property
    def context_name(self) -> str:
        return self.single.context_name

    @property
    def user_name(self) -> str:
        return self.single.context.user or "(anonymous)"

    @property
    def namespace(self) -> str:
        return self.single.namespace


class ExecV1Auth(ExecAuth):
    """lightkube's exec-plugin auth, accepting ``client.authentication.k8s.io/v1`` too.

    v1 (GA since Kubernetes 1.22) prints the same ``ExecCredential`` ``status.token`` as
    v1beta1, so lightkube's runner works unchanged once it is told the older version; the
    plugin still sees the version it asked for in ``KUBERNETES_EXEC_INFO``, as client-go sets it.
    """

    def __init__(self, spec: UserExec) -> None:
        self.requested_version = spec.apiVersion
        if spec.apiVersion == EXEC_V1:
            spec = msgspec.structs.replace(spec, apiVersion=EXEC_V1BETA1)
        super().__init__(spec)

    def _prepare(self) -> tuple[list[str], dict[str, str]]:
        command, env = super()._prepare()
        info = {
            "apiVersion": self.requested_version,
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        }
        env["KUBERNETES_EXEC_INFO"] = orjson.dumps(info).decode()
        return command, env


def load_config(
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    *,
    in_cluster: bool | None = None,
    service_account_dir: str | os.PathLike[str] | None = None,
) -> ClusterConfig:
    """Resolve the cluster to talk to.

    Order, as kubectl/client-go: an explicit ``kubeconfig`` path; else ``$KUBECONFIG``; else the
    pod's service account when running in a cluster (``KUBERNETES_SERVICE_HOST`` set); else
    ``~/.kube/config``. ``in_cluster=True`` forces the service account, ``False`` forbids it.
    The service account's files are read from ``service_account_dir``, else
    ``$KUBEWARD_SERVICE_ACCOUNT_DIR`` (a token mounted elsewhere), else the pod's mount.
    """
    service_account_dir = (
        service_account_dir or os.environ.get("KUBEWARD_SERVICE_ACCOUNT_DIR") or SERVICE_ACCOUNT_DIR
    )
    if in_cluster:
        return _in_cluster(Path(service_account_dir))
    if kubeconfig is None:
        kubeconfig = _kubeconfig_from_env()
    if kubeconfig is None and in_cluster is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster(Path(service_account_dir))
    path = Path(kubeconfig or DEFAULT_KUBECONFIG).expanduser()
    return _from_file(path, context)


def _kubeconfig_from_env() -> str | None:
    paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if len(paths) > 1:
        # kubectl merges the list; lightkube reads one file, and a silent partial merge would
        # pick the wrong cluster. Better to ask.
        raise KubeConfigError(
            f"KUBECONFIG lists {len(paths)} files ({os.pathsep.join(paths)}); kubeward reads "
            "one. Fix: pass --kubeconfig with the file that has your context, or merge them "
            "with `kubectl config view --flatten > merged.kubeconfig`."
        )
    return paths[0] if paths else None


def _from_file(path: Path, context: str | None) -> ClusterConfig:
    if not path.is_file():
        raise KubeConfigError(
            f"kubeconfig {path} not found. Fix: pass --kubeconfig PATH (or set KUBECONFIG) to "
            "an existing kubeconfig file, or run inside a pod to use its service account."
        )
    try:
        kc = KubeConfig.from_file(path)
    except yaml.YAMLError as exc:
        raise _unparseable(path, f"it is not valid YAML ({_first_line(exc)})") from exc
    except KeyError as exc:
        raise _unparseable(path, f"the {exc.args[0]!r} list is missing") from exc
    except msgspec.ValidationError as exc:
        raise _unparseable(path, f"a field has the wrong type ({exc})") from exc
    except (TypeError, AttributeError, ConfigError) as exc:
        raise _unparseable(path, f"it is not a kubeconfig mapping ({exc})") from exc
    return ClusterConfig(_select(kc, path, context), f"kubeconfig {path}")


def _select(kc: KubeConfig, path: Path, context: str | None) -> SingleConfig:
    name = context or kc.current_context
    available = ", ".join(sorted(kc.contexts)) or "none"
    if not name:
        raise KubeConfigError(
            f"kubeconfig {path} sets no current-context. Fix: pass --context NAME "
            f"(available: {available}) or run `kubectl config use-context NAME`."
        )
    ctx = kc.contexts.get(name)
    if ctx is None:
        raise KubeConfigError(
            f'context "{name}" not found in kubeconfig {path} (available: {available}). '
            "Fix: pass --context with one of those names."
        )
    if ctx.cluster not in kc.clusters:
        raise KubeConfigError(
            f'context "{name}" in {path} names cluster "{ctx.cluster}", which the file does '
            "not define. Fix: add it under clusters: or correct the context."
        )
    if ctx.user and ctx.user not in kc.users:
        raise KubeConfigError(
            f'context "{name}" in {path} names user "{ctx.user}", which the file does not '
            "define. Fix: add it under users: or correct the context."
        )
    single = kc.get(name)
    assert single is not None  # get() returns None only with a default, which we never pass
    if single.user is None:
        # An anonymous context: lightkube's adapter expects a user object.
        single = single._replace(user=User())
    _check_auth(single, path)
    return single


def _check_auth(single: SingleConfig, path: Path) -> None:
    """Fail at load time, not at the first request, on auth kubeward cannot perform."""
    user = single.user
    assert user is not None
    if user.auth_provider is not None and not (user.token or user.exec or user.token_file):
        provider = str(user.auth_provider.get("name", "?"))
        raise KubeConfigError(
            f'user "{single.context.user}" in {path} uses the legacy auth-provider '
            f'"{provider}", which kubeward (like kubectl since 1.26 for gcp/azure) does not '
            "support. Fix: use an exec credential plugin instead, e.g. kubelogin for OIDC "
            "(`kubectl oidc-login setup`), gke-gcloud-auth-plugin or kubelogin for AKS."
        )
    if user.exec is not None and user.exec.apiVersion not in EXEC_VERSIONS:
        raise KubeConfigError(
            f'user "{single.context.user}" in {path}: exec plugin apiVersion '
            f'"{user.exec.apiVersion}" is not one of {", ".join(EXEC_VERSIONS)}. '
            "Fix: set exec.apiVersion to client.authentication.k8s.io/v1."
        )


def _in_cluster(sa_dir: Path) -> ClusterConfig:
    if not os.environ.get("KUBERNETES_SERVICE_HOST") or not os.environ.get(
        "KUBERNETES_SERVICE_PORT"
    ):
        raise KubeConfigError(
            "in-cluster config needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, "
            "which Kubernetes sets in every pod. Fix: run inside a pod, or pass --kubeconfig."
        )
    missing = [f for f in ("token", "namespace", "ca.crt") if not (sa_dir / f).is_file()]
    if missing:
        raise KubeConfigError(
            f"in-cluster config: {', '.join(missing)} missing from {sa_dir}. Fix: mount the "
            "service account token (automountServiceAccountToken: true) or pass --kubeconfig."
        )
    try:
        kc = KubeConfig.from_service_account(sa_dir)
    except ConfigError as exc:
        raise KubeConfigError(f"in-cluster config from {sa_dir}: {exc}") from exc
    single = kc.get()
    assert single is not None
    return ClusterConfig(single, f"in-cluster service account {sa_dir}")


def auth_for(single: SingleConfig) -> object:
    """The httpx auth object for the user: lightkube's, with exec v1 support added."""
    user = single.user
    if user is not None and user.exec is not None and user.token is None and not user.token_file:
        return ExecV1Auth(user.exec)
    return user_auth(user) if user is not None else None


def _unparseable(path: Path, why: str) -> KubeConfigError:
    return KubeConfigError(
        f"kubeconfig {path} cannot be read: {why}. Fix: check the file with "
        f"`kubectl config view --kubeconfig {path}` or regenerate it."
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
