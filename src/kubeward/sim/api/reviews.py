"""Requests that are answered rather than stored: access reviews, whoami, tokens.

- authorization.k8s.io/v1 SelfSubjectAccessReview (``kubectl auth can-i``),
  SubjectAccessReview, LocalSubjectAccessReview and SelfSubjectRulesReview
  (``kubectl auth can-i --list``), answered by the RBAC authorizer;
- authentication.k8s.io/v1 SelfSubjectReview (``kubectl auth whoami``) and TokenReview;
- the ``serviceaccounts/token`` subresource (TokenRequest, ``kubectl create token``).
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeward.kube import rbac
from kubeward.kube import status as st
from kubeward.kube.rbac import Attributes
from kubeward.sim.api.authn import (
    AUDIENCES,
    DEFAULT_TOKEN_SECONDS,
    MAX_TOKEN_SECONDS,
    MIN_TOKEN_SECONDS,
    ServiceAccountTokens,
    User,
)
from kubeward.sim.api.authz import RBACAuthorizer
from kubeward.sim.clock import format_time
from kubeward.sim.store.store import Store

AUTHZ = "authorization.k8s.io"
AUTHN = "authentication.k8s.io"


def _body(obj: Any, kind: str, group: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise st.bad_request(f"the body of a {kind} must be a JSON object")
    out = copy.deepcopy(obj)
    out["apiVersion"] = f"{group}/v1"
    out["kind"] = kind
    meta = out.get("metadata")
    out["metadata"] = {**(meta if isinstance(meta, dict) else {}), "creationTimestamp": None}
    return out


def _spec(review: dict[str, Any]) -> dict[str, Any]:
    spec = review.get("spec")
    return spec if isinstance(spec, dict) else {}


def _invalid(kind: str, group: str, errors: list[st.FieldError]) -> st.StatusError:
    return st.invalid_object(kind, group, "", errors)


def _attributes(spec: dict[str, Any], kind: str) -> Attributes:
    """The request a review asks about: exactly one of resourceAttributes and
    nonResourceAttributes (ValidateSubjectAccessReviewSpec)."""
    res, non = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    res = res if isinstance(res, dict) else None
    non = non if isinstance(non, dict) else None
    if bool(res) == bool(non):
        raise _invalid(
            kind,
            AUTHZ,
            [
                st.invalid(
                    "spec.resourceAttributes",
                    res,
                    "exactly one of nonResourceAttributes or resourceAttributes must be specified",
                )
            ],
        )
    if non:
        return Attributes(str(non.get("verb") or ""), path=str(non.get("path") or ""))
    assert res is not None
    return Attributes(
        str(res.get("verb") or ""),
        str(res.get("group") or ""),
        str(res.get("resource") or ""),
        str(res.get("subresource") or ""),
        str(res.get("namespace") or ""),
        str(res.get("name") or ""),
    )


def _decide(
    authz: RBACAuthorizer, user: str, groups: tuple[str, ...], attrs: Attributes
) -> dict[str, Any]:
    decision = authz.authorize(user, groups, attrs)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def self_subject_access_review(authz: RBACAuthorizer, user: User, obj: Any) -> dict[str, Any]:
    review = _body(obj, "SelfSubjectAccessReview", AUTHZ)
    attrs = _attributes(_spec(review), "SelfSubjectAccessReview")
    review["status"] = _decide(authz, user.name, user.groups, attrs)
    return review


def subject_access_review(authz: RBACAuthorizer, obj: Any, namespace: str = "") -> dict[str, Any]:
    """SubjectAccessReview, or LocalSubjectAccessReview when ``namespace`` is set."""
    kind = "LocalSubjectAccessReview" if namespace else "SubjectAccessReview"
    review = _body(obj, kind, AUTHZ)
    spec = _spec(review)
    user = str(spec.get("user") or "")
    groups = tuple(g for g in spec.get("groups") or () if isinstance(g, str))
    if not user and not groups:
        raise _invalid(
            kind,
            AUTHZ,
            [st.invalid("spec.user", user, "at least one of user or group must be specified")],
        )
    attrs = _attributes(spec, kind)
    if namespace:
        if not attrs.is_resource:
            raise _invalid(
                kind,
                AUTHZ,
                [
                    st.invalid(
                        "spec.nonResourceAttributes",
                        spec.get("nonResourceAttributes"),
                        "disallowed on this kind of request",
                    )
                ],
            )
        if attrs.namespace != namespace:
            raise _invalid(
                kind,
                AUTHZ,
                [
                    st.invalid(
                        "spec.resourceAttributes.namespace",
                        attrs.namespace,
                        "must match metadata.namespace",
                    )
                ],
            )
        review["metadata"]["namespace"] = namespace
    review["status"] = _decide(authz, user, groups, attrs)
    return review


def self_subject_rules_review(authz: RBACAuthorizer, user: User, obj: Any) -> dict[str, Any]:
    review = _body(obj, "SelfSubjectRulesReview", AUTHZ)
    namespace = str(_spec(review).get("namespace") or "")
    rules, errors = authz.rules_for(user.name, user.groups, namespace)
    resource_rules, non_resource_rules = [], []
    for rule in rules:
        if rule.get("nonResourceURLs"):
            non_resource_rules.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
        else:
            out = {
                key: rule[key]
                for key in ("verbs", "apiGroups", "resources", "resourceNames")
                if rule.get(key)
            }
            out.setdefault("verbs", [])
            resource_rules.append(out)
    review["status"] = {
        "resourceRules": resource_rules,
        "nonResourceRules": non_resource_rules,
        "incomplete": bool(errors),
        **({"evaluationError": ", ".join(errors)} if errors else {}),
    }
    return review


def self_subject_review(user: User, obj: Any) -> dict[str, Any]:
    review = _body(obj if obj is not None else {}, "SelfSubjectReview", AUTHN)
    review["status"] = {"userInfo": user.info()}
    return review


def token_review(tokens: ServiceAccountTokens, static: dict[str, User], obj: Any) -> dict[str, Any]:
    review = _body(obj, "TokenReview", AUTHN)
    spec = _spec(review)
    token = str(spec.get("token") or "")
    audiences = [a for a in spec.get("audiences") or () if isinstance(a, str)] or list(AUDIENCES)
    user, error = static.get(token), ""
    if user is None and token:
        user, error = tokens.authenticate(token, audiences)
    if user is None:
        review["status"] = {
            "authenticated": False,
            "user": {},
            "error": error or "invalid bearer token",
        }
    else:
        review["status"] = {
            "authenticated": True,
            "user": user.authenticated().info(),
            "audiences": audiences,
        }
    return review


def token_request(
    store: Store, tokens: ServiceAccountTokens, namespace: str, name: str, obj: Any
) -> dict[str, Any]:
    """``POST .../serviceaccounts/<name>/token``: a token for the account."""
    request = _body(obj if obj is not None else {}, "TokenRequest", AUTHN)
    account = store.get(("", "serviceaccounts"), f"{namespace}/{name}")
    if account is None:
        raise st.not_found("serviceaccounts", "", name)
    spec = request.setdefault("spec", {}) if isinstance(request.get("spec"), dict) else {}
    request["spec"] = spec
    seconds = spec.get("expirationSeconds")
    if seconds is None:
        seconds = DEFAULT_TOKEN_SECONDS
    errors = []
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        errors.append(st.invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < MIN_TOKEN_SECONDS:
        errors.append(
            st.invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
            )
        )
    elif seconds > MAX_TOKEN_SECONDS:
        errors.append(
            st.invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    bound = spec.get("boundObjectRef")
    bound_ref = None
    if bound is not None:
        bound_ref = _bound_object(store, namespace, bound, errors)
    if errors:
        raise _invalid("TokenRequest", AUTHN, errors)
    spec["expirationSeconds"] = seconds
    spec["audiences"] = [a for a in spec.get("audiences") or () if isinstance(a, str)] or list(
        AUDIENCES
    )
    token, expiry = tokens.issue(namespace, account.decode(), seconds, spec["audiences"], bound_ref)
    request["metadata"].update(name=name, namespace=namespace)
    request["status"] = {
        "token": token,
        "expirationTimestamp": format_time(datetime.fromtimestamp(expiry, UTC)),
    }
    return request


def _bound_object(
    store: Store, namespace: str, bound: Any, errors: list[st.FieldError]
) -> dict[str, Any] | None:
    """A token bound to a Pod or Secret stops working when that object goes."""
    if not isinstance(bound, dict):
        errors.append(st.invalid("spec.boundObjectRef", bound, "must be an object"))
        return None
    kind = bound.get("kind")
    if kind not in ("Pod", "Secret"):
        errors.append(st.not_supported("spec.boundObjectRef.kind", kind, ["Pod", "Secret"]))
        return None
    name = str(bound.get("name") or "")
    stored = store.get(("", f"{str(kind).lower()}s"), f"{namespace}/{name}")
    if stored is None:
        raise st.not_found(f"{str(kind).lower()}s", "", name)
    if bound.get("uid") and bound["uid"] != stored.uid:
        raise st.conflict(
            f"{str(kind).lower()}s",
            "",
            name,
            f"the UID in the bound object reference ({bound['uid']}) does not match the UID in "
            f"record. The object might have been deleted and then recreated",
        )
    bound["uid"] = stored.uid
    return {"kind": kind, "name": name, "uid": stored.uid}


def denial(user: User, attrs: Attributes, reason: str) -> st.StatusError:
    """The 403 of the authorization filter (responsewriters.ForbiddenStatusError)."""
    message = rbac.forbidden_reason(user.name, attrs)
    if reason:
        message = f"{message}: {reason}"
    if not attrs.is_resource:
        return st.forbidden_error(f"forbidden: {message}")
    resource = f"{attrs.resource}.{attrs.group}" if attrs.group else attrs.resource
    head = f'{resource} "{attrs.name}"' if attrs.name else resource
    return st.forbidden_error(
        f"{head} is forbidden: {message}", attrs.resource, attrs.group, attrs.name
    )
