"""Who is asking: the simulator's authenticators and impersonation.

As kube-apiserver configured with ``--token-auth-file`` and service-account tokens:
- static bearer tokens map to a user and groups (the simulator's admin token is one,
  in ``system:masters``);
- service-account tokens are JWTs the TokenRequest API (``kubectl create token``) issues. They
  are signed with a key of this server process, name the account and its UID, and stop working
  at their expiry (simulated time, as every timestamp the cluster shows) or once the account is
  deleted or recreated;
- every authenticated user is also in ``system:authenticated``;
- ``Impersonate-User`` / ``Impersonate-Group`` (``kubectl --as``) are authorized as the
  ``impersonate`` verb on users, groups and serviceaccounts.
"""

from __future__ import annotations

import base64
import csv
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt

from kubeward.kube import rbac
from kubeward.kube import status as st
from kubeward.kube.rbac import Attributes
from kubeward.sim.clock import SimClock
from kubeward.sim.store.store import Store

# kube-apiserver's default --service-account-issuer and --api-audiences
ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"  # tokens the tokens controller puts in Secrets
TOKEN_SECRET_TYPE = "kubernetes.io/service-account-token"
_LEGACY = "kubernetes.io/serviceaccount/"
AUDIENCES = (ISSUER,)
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600  # TokenRequest refuses shorter tokens
MAX_TOKEN_SECONDS = 1 << 32
_ALGORITHM = "HS256"  # a per-process secret: only this server ever checks its tokens


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict, compare=False, hash=False)

    def authenticated(self) -> User:
        """The user with ``system:authenticated`` added, as kube-apiserver adds it."""
        groups = tuple(dict.fromkeys([*self.groups, rbac.AUTHENTICATED]))
        return User(self.name, groups, self.uid, self.extra)

    def info(self) -> dict[str, Any]:
        """authentication/v1 UserInfo."""
        out: dict[str, Any] = {"username": self.name, "groups": list(self.groups)}
        if self.uid:
            out["uid"] = self.uid
        if self.extra:
            out["extra"] = self.extra
        return out


def read_token_file(path: Path) -> dict[str, User]:
    """kube-apiserver's ``--token-auth-file``: CSV lines ``token,user,uid[,"group1,group2"]``."""
    users: dict[str, User] = {}
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"--token-auth-file {path}: {exc.strerror}") from exc
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or row[0].startswith("#"):
            continue
        if len(row) < 3 or not row[0].strip() or not row[1].strip():
            raise ValueError(
                f'--token-auth-file {path}:{number}: expected token,user,uid[,"group1,group2"]'
            )
        groups = tuple(g.strip() for g in row[3].split(",") if g.strip()) if len(row) > 3 else ()
        users[row[0].strip()] = User(row[1].strip(), groups, row[2].strip())
    return users


class ServiceAccountTokens:
    """Issues and checks service-account JWTs (the TokenRequest API's tokens)."""

    def __init__(self, store: Store, clock: SimClock, key: bytes | None = None) -> None:
        self.store = store
        self.clock = clock
        self._key = key or secrets.token_bytes(32)
        self.ca_pem: bytes | None = None  # the serving CA, for token Secrets' ca.crt (TLS)

    def issue_legacy(self, namespace: str, account: str, account_uid: str, secret: str) -> str:
        """The never-expiring token of a ``kubernetes.io/service-account-token`` Secret."""
        claims = {
            "iss": LEGACY_ISSUER,
            f"{_LEGACY}namespace": namespace,
            f"{_LEGACY}secret.name": secret,
            f"{_LEGACY}service-account.name": account,
            f"{_LEGACY}service-account.uid": account_uid,
            "sub": rbac.service_account_user(namespace, account),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def issue(
        self,
        namespace: str,
        account: dict[str, Any],
        seconds: int,
        audiences: Sequence[str],
        bound: dict[str, Any] | None = None,
    ) -> tuple[str, float]:
        """A token for ``account`` valid ``seconds`` of simulated time: (token, expiry as
        seconds since the epoch)."""
        now = int(self.clock.now().timestamp())
        meta = account.get("metadata") or {}
        private: dict[str, Any] = {
            "namespace": namespace,
            "serviceaccount": {"name": meta.get("name"), "uid": meta.get("uid")},
        }
        if bound:
            private[bound["kind"].lower()] = {"name": bound["name"], "uid": bound.get("uid", "")}
        claims = {
            "aud": list(audiences),
            "exp": now + seconds,
            "iat": now,
            "nbf": now,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "sub": rbac.service_account_user(namespace, str(meta.get("name"))),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), float(now + seconds)

    def authenticate(
        self, token: str, audiences: Sequence[str] = AUDIENCES
    ) -> tuple[User | None, str]:
        """The service account a token speaks for, or None and why not (None and "" when it is
        not a token of this server at all)."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                # Time is checked on the simulated clock below, not the machine's.
                options={
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                },
            )
        except jwt.PyJWTError:
            return None, ""
        if claims.get("iss") == LEGACY_ISSUER:
            return self._legacy(token, claims)
        if claims.get("iss") != ISSUER:
            return None, ""
        if not set(claims.get("aud") or ()) & set(audiences):
            return None, "token audiences is invalid for the target audiences"
        if int(claims.get("exp") or 0) <= self.clock.now().timestamp():
            return None, "service account token has expired"
        private = claims.get("kubernetes.io") or {}
        namespace = private.get("namespace") or ""
        account = private.get("serviceaccount") or {}
        name = account.get("name") or ""
        stored = self.store.get(("", "serviceaccounts"), f"{namespace}/{name}")
        if stored is None:
            return None, f'serviceaccounts "{name}" not found'
        if stored.uid != account.get("uid"):
            return None, (
                f"service account UID ({account.get('uid')}) does not match claim ({stored.uid})"
            )
        for kind in ("pod", "secret"):
            bound = private.get(kind)
            if bound and self._bound_gone(kind, namespace, bound):
                return None, f'{kind}s "{bound.get("name")}" not found'
        return _account_user(namespace, name, str(stored.uid)), ""

    def _legacy(self, token: str, claims: dict[str, Any]) -> tuple[User | None, str]:
        """A Secret's token works while that Secret holds it and its account is the same."""
        namespace = str(claims.get(f"{_LEGACY}namespace") or "")
        name = str(claims.get(f"{_LEGACY}service-account.name") or "")
        secret_name = claims.get(f"{_LEGACY}secret.name")
        secret = self.store.get(("", "secrets"), f"{namespace}/{secret_name}")
        data = (secret.decode().get("data") or {}) if secret is not None else {}
        if secret is None or _b64(data.get("token")) != token:
            return None, "token has been invalidated"
        stored = self.store.get(("", "serviceaccounts"), f"{namespace}/{name}")
        if stored is None or stored.uid != claims.get(f"{_LEGACY}service-account.uid"):
            return None, f'serviceaccounts "{name}" not found'
        return _account_user(namespace, name, str(stored.uid)), ""

    def _bound_gone(self, kind: str, namespace: str, bound: dict[str, Any]) -> bool:
        stored = self.store.get(("", f"{kind}s"), f"{namespace}/{bound.get('name')}")
        return stored is None or stored.uid != bound.get("uid")


def _account_user(namespace: str, name: str, uid: str) -> User:
    return User(
        rbac.service_account_user(namespace, name), rbac.service_account_groups(namespace), uid
    )


def _b64(value: Any) -> str:
    try:
        return base64.b64decode(str(value or "")).decode()
    except (ValueError, UnicodeDecodeError):
        return ""


Authorize = Callable[[User, Attributes], bool]


def impersonate(headers: Any, user: User, allowed: Authorize) -> User:
    """Impersonate-User/-Group headers (``kubectl --as``, ``--as-group``): each asked-for
    identity must be granted to ``user`` (verb ``impersonate``), as WithImpersonation checks."""
    target = headers.get("impersonate-user", "")
    groups = list(headers.getlist("impersonate-group"))
    uid = headers.get("impersonate-uid", "")
    if not target:
        if groups or uid:
            raise st.bad_request(
                f"requested {groups} without impersonating a user (add Impersonate-User)"
            )
        return user
    account = rbac.split_service_account(target)
    if account is not None:
        attrs = Attributes(
            "impersonate", "", "serviceaccounts", namespace=account[0], name=account[1]
        )
    else:
        attrs = Attributes("impersonate", "", "users", name=target)
    # Only the groups asked for are checked: a service account's own are implied.
    checks = [attrs] + [Attributes("impersonate", "", "groups", name=g) for g in groups]
    if account is not None and not groups:
        groups = list(rbac.service_account_groups(account[0]))
    if uid:
        checks.append(Attributes("impersonate", "authentication.k8s.io", "uids", name=uid))
    for check in checks:
        if not allowed(user, check):
            raise st.forbidden_error(
                f'{check.resource} "{check.name}" is forbidden: '
                + rbac.forbidden_reason(user.name, check),
                check.resource,
                check.group,
                check.name,
            )
    return User(target, tuple(groups), uid).authenticated()
