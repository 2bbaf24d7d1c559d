"""The tokens controller (legacy service-account token Secrets): a Secret of type
``kubernetes.io/service-account-token`` annotated with ``kubernetes.io/service-account.name``
gets the account's UID annotation and ``data.token``, ``data.namespace`` and (with TLS)
``data["ca.crt"]``, as kube-controller-manager fills it in; the token works until the Secret
is deleted. Such Secrets of an account that is gone are deleted, as the controller does. This
is how kubectl before 1.24 (Debian's is 1.20) gets a long-lived token for a service account."""

from __future__ import annotations

import base64
from collections.abc import Hashable

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.authn import TOKEN_SECRET_TYPE, ServiceAccountTokens
from kubeward.sim.api.rest import DeleteOptions, ObjectAPI
from kubeward.sim.control.base import Controller
from kubeward.sim.store.objects import StoreEvent

SECRETS = ("", "secrets")
SERVICE_ACCOUNTS = ("", "serviceaccounts")
_SECRET = REGISTRY.get("", "v1", "secrets")
_NAME = "kubernetes.io/service-account.name"
_UID = "kubernetes.io/service-account.uid"
_TYPE_MARK = f'"type":"{TOKEN_SECRET_TYPE}"'.encode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class ServiceAccountTokensController(Controller):
    name = "serviceaccount-tokens-controller"
    watches = (SECRETS, SERVICE_ACCOUNTS)

    def __init__(self, api: ObjectAPI, tokens: ServiceAccountTokens) -> None:
        super().__init__(api.store)
        self.api = api
        self.tokens = tokens

    def keys_for(self, event: StoreEvent) -> list[Hashable]:
        if event.storage_key == SECRETS:
            return [event.obj.key] if _TYPE_MARK in event.obj.raw else []
        if event.type != "DELETED":
            return []
        # An account went away: its token Secrets go too.
        ns = event.obj.namespace
        secrets = self.store.resource(SECRETS).objects
        return [
            key
            for key in secrets.irange(f"{ns}/", f"{ns}/\uffff")
            if _TYPE_MARK in secrets[key].raw
        ]

    def reconcile(self, key: Hashable) -> None:
        assert _SECRET is not None
        current = self.store.get(SECRETS, str(key))
        if current is None:
            return
        secret = current.decode()
        meta = secret["metadata"]
        if secret.get("type") != TOKEN_SECRET_TYPE or meta.get("deletionTimestamp"):
            return
        annotations = meta.get("annotations") or {}
        ns = current.namespace
        account = self.store.get(SERVICE_ACCOUNTS, f"{ns}/{annotations.get(_NAME)}")
        uid = annotations.get(_UID)
        if account is None or (uid and uid != account.uid):
            self.api.delete(_SECRET, ns, current.name, DeleteOptions())
            return
        data = secret.get("data") or {}
        if data.get("token") and uid:
            return
        token = self.tokens.issue_legacy(ns, account.name, str(account.uid), current.name)
        annotations[_UID] = str(account.uid)
        meta["annotations"] = annotations
        data.update(token=_b64(token.encode()), namespace=_b64(ns.encode()))
        if self.tokens.ca_pem:
            data["ca.crt"] = _b64(self.tokens.ca_pem)
        secret["data"] = data
        self.api.update(_SECRET, ns, current.name, secret)
