"""The root CA certificate publisher: every namespace has a ConfigMap ``kube-root-ca.crt`` whose
``ca.crt`` is the CA that signed the API server's certificate, as kube-controller-manager's
root-ca-cert-publisher keeps it. Pods read it to verify ``kubernetes.default.svc`` (it is part
of the service-account token volume since 1.22). A deleted one is made again, an edited one put
back. The simulator has a CA only when it serves TLS (``kubeward sim --tls``, the default);
without one there is nothing to publish."""

from __future__ import annotations

from collections.abc import Hashable

from kubeward.kube.registry import REGISTRY
from kubeward.kube.status import StatusError
from kubeward.sim.api.authn import ServiceAccountTokens
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.store.objects import StoreEvent

NAMESPACES = ("", "namespaces")
CONFIGMAPS = ("", "configmaps")
_CONFIGMAP = REGISTRY.get("", "v1", "configmaps")
NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. No other usage is "
    "guaranteed across distributions of Kubernetes clusters."
)


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"
    watches = (NAMESPACES, CONFIGMAPS)

    def __init__(self, api: ObjectAPI, tokens: ServiceAccountTokens) -> None:
        super().__init__(api.store)
        self.api = api
        self.tokens = tokens  # holds the serving CA, set when the server starts

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        obj = event.obj
        if event.storage_key == NAMESPACES:
            return [obj.name] if event.type != "DELETED" and not obj.deleting else []
        return [obj.namespace] if obj.name == NAME and event.type != "ADDED" else []

    def reconcile(self, key: Hashable) -> None:
        assert _CONFIGMAP is not None
        ca = self.tokens.ca_pem
        namespace = self.store.get(NAMESPACES, str(key))
        if ca is None or namespace is None or namespace.deleting:
            return
        data = {"ca.crt": ca.decode()}
        current = self.store.get(CONFIGMAPS, f"{key}/{NAME}")
        if current is None:
            body = {
                "metadata": {"name": NAME, "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                "data": data,
            }
            try:
                self.api.create(_CONFIGMAP, str(key), body)
            except StatusError as exc:
                # As kube-controller-manager: a namespace that went away or is being
                # terminated needs no certificate. Anything else (a quota) is retried.
                if exc.code != 404 and not _namespace_terminating(exc):
                    raise
            return
        configmap = current.decode()
        meta = configmap["metadata"]
        annotations = meta.get("annotations") or {}
        if configmap.get("data") == data and annotations.get(DESCRIPTION_ANNOTATION):
            return
        configmap["data"] = data
        meta["annotations"] = {**annotations, DESCRIPTION_ANNOTATION: DESCRIPTION}
        self.api.update(_CONFIGMAP, str(key), NAME, configmap)


def _namespace_terminating(exc: StatusError) -> bool:
    causes = (exc.details or {}).get("causes") or []
    return any(cause.get("reason") == "NamespaceTerminating" for cause in causes)
