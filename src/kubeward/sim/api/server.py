"""The simulator's kube-apiserver: HTTP routing, authentication, content negotiation, watch.

Paths are parsed the way kube-apiserver's RequestInfoFactory does, so every URL a client builds
for the registered resources lands on the same verb, namespace, resource, name and subresource.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml
from prometheus_client import generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from kubeward.aio import wait_event
from kubeward.kube import status as st
from kubeward.kube.apply import manager_from_user_agent
from kubeward.kube.rbac import Attributes
from kubeward.kube.registry import REGISTRY, ResourceRegistry, ResourceType
from kubeward.sim.api import discovery, reviews, subresources
from kubeward.sim.api.authn import ServiceAccountTokens, User, impersonate
from kubeward.sim.api.authz import REQUESTING_USER, Decision
from kubeward.sim.api.metrics_api import MetricsProvider
from kubeward.sim.api.podlogs import PodLogs
from kubeward.sim.api.rest import DeleteOptions, Filter, ListResult, ObjectAPI
from kubeward.sim.api.tables import to_table
from kubeward.sim.load.apf import Target
from kubeward.sim.load.audit import AuditLog, object_ref
from kubeward.sim.load.cost import selectivity
from kubeward.sim.load.engine import CONNECTION_FAILED, WatchHandle
from kubeward.sim.load.engine import Request as ModelRequest
from kubeward.sim.load.metrics import APIServerMetrics, reported_verb, scope_of
from kubeward.sim.load.runner import LoadRunner, http_target, identity_of
from kubeward.sim.nodes.state import ClusterState
from kubeward.sim.store.objects import StoredObject, StoreEvent
from kubeward.sim.store.store import TooOld
from kubeward.sim.store.watch import Watcher

log = logging.getLogger("kubeward.sim.api")

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_JSON = "application/json"
_LIST_CHUNK = 2000  # objects per streamed chunk of a large LIST


@dataclass
class RequestInfo:
    verb: str
    group: str = ""
    version: str = ""
    namespace: str = ""
    resource: str = ""
    name: str = ""
    subresource: str = ""


# cluster-wide, and per node through the API server's node proxy as Prometheus scrapes it
_CADVISOR = re.compile(r"/metrics/cadvisor|/api/v1/nodes/([^/]+)/proxy/metrics/cadvisor")
# the modelled CoreDNS's metrics, through the service proxy of its metrics port
_COREDNS = re.compile(
    r"/api/v1/namespaces/kube-system/services/kube-dns:(?:metrics|9153)/proxy/metrics"
)


@dataclass
class ServerConfig:
    tokens: dict[str, User] = field(default_factory=dict)
    server_address: str = "127.0.0.1:6443"
    bookmark_interval: float = 60.0  # real seconds between watch bookmarks
    min_request_timeout: float = 1800.0  # watch timeout is random in [min, 2*min) when unset
    authorization_mode: str = "RBAC"  # or "AlwaysAllow", as kube-apiserver's flag


def parse_request_info(method: str, path: str, query: dict[str, str]) -> RequestInfo | None:
    """None for non-resource paths."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        if len(parts) < 2:
            return None
        group, version, rest = "", parts[1], parts[2:]
    else:
        if len(parts) < 3:
            return None
        group, version, rest = parts[1], parts[2], parts[3:]
    if not rest:
        return None
    watch = query.get("watch") in ("1", "true")
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    info = RequestInfo(verb="", group=group, version=version)
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest:
        return None
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    if len(rest) > 3:
        return None
    if info.resource == "namespaces" and info.name:
        info.namespace = ""
    method = method.upper()
    if method == "GET":
        info.verb = "watch" if watch else ("get" if info.name else "list")
    elif method == "POST":
        info.verb = "create"
    elif method == "PUT":
        info.verb = "update"
    elif method == "PATCH":
        info.verb = "patch"
    elif method == "DELETE":
        info.verb = "delete" if info.name else "deletecollection"
    else:
        info.verb = method.lower()
    return info


def _attributes(
    method: str, path: str, info: RequestInfo | None, cadvisor: re.Match[str] | None
) -> Attributes:
    """What the authorizer is asked about a request (the filters' RequestInfo)."""
    if cadvisor is not None and cadvisor.group(1):
        return Attributes("get", "", "nodes", "proxy", name=cadvisor.group(1))
    if _COREDNS.fullmatch(path):
        return Attributes("get", "", "services", "proxy", "kube-system", "kube-dns:metrics")
    if info is None:
        return Attributes(method.lower(), path=path)
    # A namespace's own requests are in that namespace (a RoleBinding there may grant them).
    namespace = info.name if info.resource == "namespaces" else info.namespace
    return Attributes(info.verb, info.group, info.resource, info.subresource, namespace, info.name)


def _decision_annotations(decision: Decision | None) -> dict[str, str]:
    """The audit annotations kube-apiserver's authorization filter adds to every request."""
    if decision is None:
        return {}
    return {
        "authorization.k8s.io/decision": "allow" if decision.allowed else "forbid",
        "authorization.k8s.io/reason": decision.reason,
    }


def _status_response(err: st.StatusError) -> Response:
    return Response(
        orjson.dumps(err.to_status()), status_code=err.code, media_type=_JSON, headers=err.headers
    )


def _is_pod_log(info: RequestInfo | None) -> bool:
    return (
        info is not None
        and info.group == ""
        and info.resource == "pods"
        and info.subresource == "log"
        and info.verb == "get"
    )


def _json(body: Any, code: int = 200) -> Response:
    data = body if isinstance(body, bytes) else orjson.dumps(body)
    return Response(data, status_code=code, media_type=_JSON)


def _wants(accept: str, what: str) -> bool:
    return any(f"as={what}" in part.replace(" ", "") for part in accept.split(","))


def _acceptable(accept: str) -> bool:
    if not accept:
        return True
    for part in accept.split(","):
        media = part.split(";")[0].strip()
        if media in ("application/json", "*/*", "application/*", "application/yaml", ""):
            return True
    return False


class APIServer:
    """The ASGI application plus the pieces it serves from."""

    def __init__(
        self,
        api: ObjectAPI,
        config: ServerConfig,
        registry: ResourceRegistry = REGISTRY,
        metrics: MetricsProvider | None = None,
        load: LoadRunner | None = None,
        audit: AuditLog | None = None,
        tokens: ServiceAccountTokens | None = None,
        machines: ClusterState | None = None,
    ) -> None:
        """``tokens``: the cluster's service-account token issuer (its tokens controller
        signs with the same key); a new one if not given. ``machines``: the simulated nodes'
        state, for pod logs (a stopped kubelet serves none); without it every kubelet answers."""
        self.api = api
        self.usage_metrics = metrics
        self.store = api.store
        self.config = config
        self.registry = registry
        # With the load model, every request goes through its APF and capacity first.
        self.load = load
        self.audit = audit
        self.metrics = load.metrics if load is not None else APIServerMetrics()
        self.authz = api.rbac
        self.authz.enabled = config.authorization_mode == "RBAC"
        self.sa_tokens = tokens or ServiceAccountTokens(api.store, api.clock)
        self._watchers: set[Watcher] = set()
        self.logs = PodLogs(api, machines)
        self.app = Starlette(
            routes=[
                Route(
                    "/{path:path}", self.handle, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]
                )
            ]
        )

    def close_watches(self) -> None:
        """End the long-running requests: watches and followed logs."""
        for w in list(self._watchers):
            w.close()
        self.logs.close()

    # -- entry point --------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        query = dict(request.query_params)
        started = time.perf_counter()
        received = self.api.clock.elapsed()
        info = parse_request_info(request.method, path, query)
        user: User | None = None
        admitted: ModelRequest | None = None
        decision: Decision | None = None  # the authorizer's, for the audit annotations
        audit_id = ""  # of the RequestReceived line written here (without the load model)
        try:
            public = path in ("/healthz", "/livez", "/readyz", "/version") or path.startswith(
                ("/healthz/", "/livez/", "/readyz/")
            )
            # Anonymous requests may read the public paths; a bad token is refused everywhere,
            # as kube-apiserver authenticates before it authorizes.
            if public:
                if "authorization" in request.headers:
                    self._authenticate(request)
                if path == "/version":
                    return _json(discovery.version_info())
                return Response(b"ok", media_type="text/plain")
            user = self._authenticate(request)
            # Like kube-apiserver's long-running check: pods/log skips priority and fairness.
            if self.load is not None and not _is_pod_log(info):
                admitted = self._model_request(request, info, query, user)
                await self._admit(admitted)  # the model writes its RequestReceived line
            elif self.audit is not None and self.audit.request_received:
                audit_id = self._audit_received(request, info, user, received)
            cadvisor = _CADVISOR.fullmatch(path)
            attrs = _attributes(request.method, path, info, cadvisor)
            decision = self.authz.authorize(user.name, user.groups, attrs)
            if not decision.allowed:
                raise reviews.denial(user, attrs, decision.reason)
            as_user = REQUESTING_USER.set((user.name, user.groups))
            try:
                if cadvisor is not None and request.method == "GET":
                    response = self._cadvisor(cadvisor.group(1) or "")
                elif _COREDNS.fullmatch(path) and request.method == "GET":
                    response = self._coredns_metrics()
                elif info is None:
                    response = self._non_resource(request, path)
                else:
                    response = await self._resource(request, info, query, user, admitted)
            finally:
                REQUESTING_USER.reset(as_user)
        except st.StatusError as err:
            response = _status_response(err)
        except Exception as exc:  # a bug must not take the server down; report it as k8s does
            log.exception("event=internal_error path=%s", path)
            response = _status_response(st.internal(repr(exc)))
        if admitted is not None and admitted.schema and self.load is not None:
            fs_uid, pl_uid = self.load.flow_uids(admitted)
            response.headers["X-Kubernetes-PF-FlowSchema-UID"] = fs_uid
            response.headers["X-Kubernetes-PF-PriorityLevel-UID"] = pl_uid
        if info is not None:
            apply = request.headers.get("content-type", "").startswith("application/apply-patch")
            self._observe(info, response.status_code, time.perf_counter() - started, apply)
        if self.audit is not None:
            self._audit(
                request,
                info,
                user,
                admitted,
                response.status_code,
                received,
                audit_id,
                _decision_annotations(decision),
            )
        return response

    def _model_request(
        self, request: Request, info: RequestInfo | None, query: dict[str, str], user: User
    ) -> ModelRequest:
        """The request as the load model sees it: who, what, and how much it will read."""
        uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        who = identity_of(user.name, user.groups)
        agent = request.headers.get("user-agent", "")
        if info is None:
            target = Target(request.method.lower(), is_resource=False, path=request.url.path)
            return ModelRequest(who, target, None, user_agent=agent, uri=uri, synthetic=False)
        rt = self.registry.get(info.group, info.version, info.resource)
        storage_key = rt.storage_key if rt is not None and not rt.computed else None
        field_selector = query.get("fieldSelector", "")
        try:
            limit = int(query.get("limit") or 0) if info.verb == "list" else 0
        except ValueError:
            limit = 0  # the handler rejects it with a clear message
        nodes = len(self.store.resource(("", "nodes")).objects)
        return ModelRequest(
            who,
            http_target(info.verb, info.group, info.resource, info.subresource, info.namespace),
            storage_key,
            user_agent=agent,
            version=info.version,
            name=info.name,
            subresource=info.subresource,
            resource_version=query.get("resourceVersion"),
            limit=limit,
            has_selector=bool(query.get("labelSelector") or field_selector),
            selectivity=selectivity(field_selector, info.name, nodes),
            uri=uri,
            synthetic=False,
        )

    async def _admit(self, admitted: ModelRequest) -> None:
        assert self.load is not None
        code = await self.load.admit(admitted)
        if code == 429:
            raise st.too_many_requests("Too many requests, please try again later.")
        if code == CONNECTION_FAILED:
            # A real API server that was OOM-killed refuses connections; HTTP needs a response.
            raise st.StatusError(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request (the simulated "
                "kube-apiserver is restarting after an out-of-memory kill)",
                headers={"Retry-After": "1"},
            )

    def _observe(self, info: RequestInfo, code: int, seconds: float, apply: bool) -> None:
        self.metrics.observe(
            reported_verb(info.verb, apply=apply and info.verb == "patch"),
            info.group,
            info.version,
            info.resource,
            info.subresource,
            scope_of(info.namespace, info.name),
            code,
            seconds,
        )

    def _audit(
        self,
        request: Request,
        info: RequestInfo | None,
        user: User | None,
        admitted: ModelRequest | None,
        code: int,
        received: float,
        audit_id: str,
        annotations: dict[str, str],
    ) -> None:
        assert self.audit is not None
        completed = self.api.clock.elapsed()
        if admitted is not None and self.load is not None:
            self.load.write_audit(
                admitted, code, received=received, completed=completed, annotations=annotations
            )
            return
        clock = self.api.clock
        self.audit.write(
            **_audit_subject(request, info, user),
            code=code,
            received=clock.time_at(received),
            completed=clock.time_at(completed),
            annotations=annotations,
            audit_id=audit_id,
        )

    def _audit_received(
        self, request: Request, info: RequestInfo | None, user: User, received: float
    ) -> str:
        assert self.audit is not None
        audit_id = self.audit.new_id()
        self.audit.write_received(
            audit_id=audit_id,
            **_audit_subject(request, info, user),
            received=self.api.clock.time_at(received),
        )
        return audit_id

    def _authenticate(self, request: Request) -> User:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        user = None
        if scheme.lower() == "bearer" and token:
            user = self.config.tokens.get(token)
            if user is None:
                user, why = self.sa_tokens.authenticate(token)
                if why:  # kube-apiserver logs why; the client only learns "Unauthorized"
                    log.info("event=token_rejected reason=%s", why)
        if user is None:
            raise st.unauthorized()
        return impersonate(request.headers, user.authenticated(), self._allowed)

    def _allowed(self, user: User, attrs: Attributes) -> bool:
        return self.authz.authorize(user.name, user.groups, attrs).allowed

    def _non_resource(self, request: Request, path: str) -> Response:
        if request.method != "GET":
            raise st.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        parts = [p for p in path.split("/") if p]
        doc: dict[str, Any] | None = None
        if parts == ["api"]:
            doc = discovery.api_versions(self.config.server_address)
        elif parts == ["apis"]:
            doc = discovery.api_group_list(self.registry)
        elif len(parts) == 2 and parts[0] == "api":
            doc = discovery.api_resource_list(self.registry, "", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            doc = discovery.api_group(self.registry, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            doc = discovery.api_resource_list(self.registry, parts[1], parts[2])
        elif parts == ["metrics"]:
            return Response(
                generate_latest(self.metrics.registry),
                media_type="text/plain; version=0.0.4; charset=utf-8",
            )
        elif parts == ["openapi", "v2"]:
            return self._openapi_v2(request)
        if doc is None:
            raise st.StatusError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        return _json(doc)

    @staticmethod
    def _openapi_v2(request: Request) -> Response:
        # The simulator publishes no schemas: an empty document tells clients (kubectl's
        # client-side validation) that no kind has a schema, so they skip validation rather than
        # fail; the server validates every write itself.
        if "protobuf" in request.headers.get("accept", ""):
            return Response(
                b"", media_type="application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
            )
        return _json(
            {
                "swagger": "2.0",
                "info": {"title": "Kubernetes", "version": discovery.KUBE_VERSION[2]},
                "paths": {},
                "definitions": {},
            }
        )

    # -- resources ----------------------------------------------------------------------------

    def _cadvisor(self, node: str) -> Response:
        if self.usage_metrics is None:
            raise st.StatusError(503, "ServiceUnavailable", "no usage model is running", {})
        if node and self.store.get(("", "nodes"), node) is None:
            raise st.not_found("nodes", "", node)
        return Response(
            self.usage_metrics.cadvisor(node),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    def _coredns_metrics(self) -> Response:
        coredns = self.load.coredns if self.load is not None else None
        if coredns is None:
            raise st.StatusError(
                503, "ServiceUnavailable", 'no endpoints available for service "kube-dns:metrics"'
            )
        return Response(
            generate_latest(coredns.registry), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    def _computed(self, rt: ResourceType, info: RequestInfo, query: dict[str, str]) -> Response:
        """metrics.k8s.io: answered from the usage model, like metrics-server."""
        if self.usage_metrics is None:
            raise st.StatusError(
                503,
                "ServiceUnavailable",
                "the server is currently unable to handle the request",
                {},
            )
        if info.verb not in ("get", "list"):
            raise st.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        selector = query.get("labelSelector", "")
        if rt.kind == "NodeMetrics":
            return _json(self.usage_metrics.node_metrics(info.name, selector))
        return _json(self.usage_metrics.pod_metrics(info.namespace, info.name, selector))

    def _resource_type(self, info: RequestInfo) -> ResourceType:
        rt = self.registry.get(info.group, info.version, info.resource)
        if rt is None:
            raise st.StatusError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        allowed = rt.verbs
        if info.subresource:
            sub = rt.subresources.get(info.subresource)
            if sub is None:
                raise st.StatusError(
                    404, "NotFound", "the server could not find the requested resource", {}
                )
            allowed = sub[1]
        verb = info.verb
        if verb not in allowed and not (verb in ("get", "list") and "get" in allowed):
            raise st.method_not_allowed(
                "the server does not allow this method on the requested resource"
            )
        if rt.namespaced and not info.namespace and info.name:
            raise st.StatusError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        if not rt.namespaced and info.namespace:
            raise st.StatusError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        return rt

    async def _resource(
        self,
        request: Request,
        info: RequestInfo,
        query: dict[str, str],
        user: User,
        admitted: ModelRequest | None = None,
    ) -> Response:
        rt = self._resource_type(info)
        if rt.computed:
            return self._computed(rt, info, query)
        if _is_pod_log(info):
            return self.logs.respond(info.namespace, info.name, query)
        accept = request.headers.get("accept", "")
        if not _acceptable(accept):
            raise st.StatusError(
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json, application/yaml",
            )
        verb, ns, name = info.verb, info.namespace, info.name
        manager = query.get("fieldManager") or manager_from_user_agent(
            request.headers.get("user-agent", "")
        )
        dry_run = query.get("dryRun") == "All"
        if verb == "watch":
            return self._watch(rt, info, query, accept, admitted)
        if verb == "list":
            return self._list(rt, ns, query, accept)
        if verb == "get":
            if info.subresource == "scale":
                return _json(subresources.scale_of(self.api.get(rt, ns, name)))
            return self._object(rt, self.api.get(rt, ns, name), accept, query)
        body = await request.body()
        if verb == "create":
            obj = self._decode_body(body, request)
            if info.subresource == "eviction":
                return _json(subresources.evict(self.api, ns, name, obj, dry_run), 201)
            if info.subresource == "binding" or rt.plural == "bindings":
                target = name or ((obj or {}).get("metadata") or {}).get("name", "")
                return _json(subresources.bind(self.api, ns, target, obj), 201)
            if info.subresource == "token":
                return _json(reviews.token_request(self.store, self.sa_tokens, ns, name, obj), 201)
            if rt.group in (reviews.AUTHZ, reviews.AUTHN):
                return _json(self._review(rt, ns, user, obj), 201)
            stored = self.api.create(rt, ns, obj, manager=manager, dry_run=dry_run)
            return self._object(rt, stored, accept, query, code=201)
        if verb == "update":
            obj = self._decode_body(body, request)
            if info.subresource == "scale":
                return _json(
                    subresources.write_scale(self.api, rt, ns, name, obj, manager, dry_run)
                )
            stored = self.api.update(
                rt, ns, name, obj, subresource=info.subresource, manager=manager, dry_run=dry_run
            )
            return self._object(rt, stored, accept, query)
        if verb == "patch":
            content_type = request.headers.get("content-type", "").split(";")[0].strip()
            if info.subresource == "scale":
                return _json(
                    subresources.patch_scale(
                        self.api, rt, ns, name, content_type, body, manager, dry_run
                    )
                )
            force = query.get("force") in ("true", "1")
            stored, created = self.api.patch(
                rt,
                ns,
                name,
                content_type,
                body,
                subresource=info.subresource,
                manager=manager,
                force=force,
                dry_run=dry_run,
            )
            return self._object(rt, stored, accept, query, code=201 if created else 200)
        if verb == "delete":
            options = DeleteOptions.parse(self._decode_body(body, request) if body else None, query)
            options.dry_run = options.dry_run or dry_run
            return self._object(rt, self.api.delete(rt, ns, name, options), accept, query)
        if verb == "deletecollection":
            options = DeleteOptions.parse(self._decode_body(body, request) if body else None, query)
            options.dry_run = options.dry_run or dry_run
            flt = Filter(rt, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
            deleted = self.api.delete_collection(rt, flt, options)
            return self._list_response(rt, ListResult(self.store.revision, deleted), accept, query)
        raise st.method_not_allowed(
            "the server does not allow this method on the requested resource"
        )

    def _review(self, rt: ResourceType, namespace: str, user: User, obj: Any) -> dict[str, Any]:
        if rt.kind == "SelfSubjectAccessReview":
            return reviews.self_subject_access_review(self.authz, user, obj)
        if rt.kind in ("SubjectAccessReview", "LocalSubjectAccessReview"):
            return reviews.subject_access_review(self.authz, obj, namespace)
        if rt.kind == "SelfSubjectRulesReview":
            return reviews.self_subject_rules_review(self.authz, user, obj)
        if rt.kind == "SelfSubjectReview":
            return reviews.self_subject_review(user, obj)
        return reviews.token_review(self.sa_tokens, self.config.tokens, obj)

    @staticmethod
    def _decode_body(body: bytes, request: Request) -> Any:
        content_type = request.headers.get("content-type", "")
        if "protobuf" in content_type:
            raise st.unsupported_media_type(content_type)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if "yaml" in content_type:
                try:
                    return yaml.safe_load(body)
                except yaml.YAMLError:
                    pass
            raise st.bad_request(
                f"Object 'Kind' is missing in '{body[:100]!r}': invalid JSON: {exc}"
            ) from exc

    def _object(
        self,
        rt: ResourceType,
        obj: StoredObject,
        accept: str,
        query: dict[str, str],
        code: int = 200,
    ) -> Response:
        if _wants(accept, "Table"):
            table = to_table(
                rt.group,
                rt.plural,
                [self.api.render_dict(rt, obj)],
                now=self.api.clock.now(),
                include_object=query.get("includeObject", "Metadata"),
                list_meta={"resourceVersion": str(obj.rv)},
            )
            return _json(table, code)
        if _wants(accept, "PartialObjectMetadata"):
            return _json(_partial(self.api.render_dict(rt, obj)), code)
        return _json(self.api.render(rt, obj), code)

    # -- list ---------------------------------------------------------------------------------

    def _list(self, rt: ResourceType, ns: str, query: dict[str, str], accept: str) -> Response:
        flt = Filter(rt, ns, query.get("labelSelector", ""), query.get("fieldSelector", ""))
        try:
            limit = int(query.get("limit") or 0)
        except ValueError as exc:
            raise st.bad_request(f"limit: invalid value {query.get('limit')!r}") from exc
        result = self.api.list_objects(
            rt,
            flt,
            resource_version=query.get("resourceVersion", ""),
            match=query.get("resourceVersionMatch", ""),
            limit=limit,
            continue_token=query.get("continue", ""),
        )
        return self._list_response(rt, result, accept, query)

    def _list_meta(self, result: ListResult) -> dict[str, Any]:
        meta: dict[str, Any] = {"resourceVersion": str(result.rv)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        return meta

    def _list_response(
        self, rt: ResourceType, result: ListResult, accept: str, query: dict[str, str]
    ) -> Response:
        meta = self._list_meta(result)
        if _wants(accept, "Table"):
            objs = [self.api.render_dict(rt, o) for o in result.items]
            return _json(
                to_table(
                    rt.group,
                    rt.plural,
                    objs,
                    now=self.api.clock.now(),
                    include_object=query.get("includeObject", "Metadata"),
                    list_meta=meta,
                )
            )
        if _wants(accept, "PartialObjectMetadataList"):
            return _json(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": [_partial(self.api.render_dict(rt, o)) for o in result.items],
                }
            )
        head = (
            b'{"kind":"'
            + rt.list_kind.encode()
            + b'","apiVersion":"'
            + rt.api_version.encode()
            + b'","metadata":'
            + orjson.dumps(meta)
            + b',"items":['
        )
        items = result.items
        if len(items) <= _LIST_CHUNK:
            return Response(
                head + b",".join(self.api.render(rt, o) for o in items) + b"]}", media_type=_JSON
            )
        return StreamingResponse(self._stream_list(rt, head, items), media_type=_JSON)

    async def _stream_list(
        self, rt: ResourceType, head: bytes, items: list[StoredObject]
    ) -> AsyncIterator[bytes]:
        # Chunks keep peak memory at one chunk instead of the whole encoded list.
        yield head
        for start in range(0, len(items), _LIST_CHUNK):
            chunk = b",".join(self.api.render(rt, o) for o in items[start : start + _LIST_CHUNK])
            yield (b"," + chunk) if start else chunk
        yield b"]}"

    # -- watch --------------------------------------------------------------------------------

    def _watch(
        self,
        rt: ResourceType,
        info: RequestInfo,
        query: dict[str, str],
        accept: str,
        admitted: ModelRequest | None = None,
    ) -> Response:
        field_selector = query.get("fieldSelector", "")
        if info.name:
            name_sel = f"metadata.name={info.name}"
            field_selector = f"{field_selector},{name_sel}" if field_selector else name_sel
        flt = Filter(rt, info.namespace, query.get("labelSelector", ""), field_selector)
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        try:
            timeout = (
                float(query["timeoutSeconds"])
                if query.get("timeoutSeconds")
                else self.config.min_request_timeout * (1 + random.random())
            )
        except ValueError as exc:
            raise st.bad_request("timeoutSeconds: invalid value") from exc
        rv = query.get("resourceVersion", "")
        res = self.store.resource(rt.storage_key)
        watcher = Watcher(flt)
        initial: list[tuple[str, StoreEvent | StoredObject]] = []
        error: st.StatusError | None = None
        if rv in ("", "0"):
            snap = res.snapshot(self.store.revision)
            initial = [
                ("ADDED", o)
                for o in snap.range("", f"{flt.namespace}/" if flt.namespace else "")
                if flt(o)
            ]
        else:
            try:
                since = int(rv)
            except ValueError as exc:
                raise st.bad_request(f"invalid resource version: {rv}") from exc
            try:
                for ev in res.events_since(since):
                    type_ = watcher.classify(ev)
                    if type_:
                        initial.append((type_, ev))
            except TooOld as exc:
                error = st.gone(str(exc))
        handle = None
        if error is None:
            if self.load is not None and admitted is not None:
                # The model's watch: its events cost the modelled server, an OOM ends it.
                handle = self.load.model.open_watch(
                    rt.storage_key, admitted.selectivity, on_closed=watcher.close
                )
                if handle is None:
                    raise st.StatusError(
                        503,
                        "ServiceUnavailable",
                        "the server is currently unable to handle the request",
                    )
            res.watchers.add(watcher)
            self._watchers.add(watcher)
        encoder = _TableEncoder(self, rt, query) if _wants(accept, "Table") else None
        stream = self._stream_watch(
            rt, res, watcher, initial, error, bookmarks, timeout, encoder, handle
        )
        return StreamingResponse(stream, media_type=_JSON)

    def _event_line(
        self,
        rt: ResourceType,
        type_: str,
        item: StoreEvent | StoredObject,
        encoder: _TableEncoder | None,
    ) -> bytes:
        obj = item.obj if isinstance(item, StoreEvent) else item
        if encoder is not None:
            return encoder.line(type_, obj)
        if rt.storage is not None:
            return (
                b'{"type":"' + type_.encode() + b'","object":' + self.api.render(rt, obj) + b"}\n"
            )
        if isinstance(item, StoreEvent):
            return item.line(type_)
        return b'{"type":"' + type_.encode() + b'","object":' + obj.raw + b"}\n"

    async def _stream_watch(
        self,
        rt: ResourceType,
        res: Any,
        watcher: Watcher,
        initial: list[tuple[str, Any]],
        error: st.StatusError | None,
        bookmarks: bool,
        timeout: float,
        encoder: _TableEncoder | None,
        handle: WatchHandle | None = None,
    ) -> AsyncIterator[bytes]:
        try:
            if error is not None:
                yield orjson.dumps({"type": "ERROR", "object": error.to_status()}) + b"\n"
                return
            for start in range(0, len(initial), _LIST_CHUNK):
                yield b"".join(
                    self._event_line(rt, t, item, encoder)
                    for t, item in initial[start : start + _LIST_CHUNK]
                )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout
            next_bookmark = loop.time() + self.config.bookmark_interval
            while not watcher.closed:
                now = loop.time()
                if now >= deadline:
                    break
                wait = min(deadline, next_bookmark if bookmarks else deadline) - now
                if not watcher.pending:
                    await wait_event(watcher.wakeup, wait)
                batch = watcher.drain()
                if batch:
                    yield b"".join(self._event_line(rt, t, ev, encoder) for t, ev in batch)
                if bookmarks and loop.time() >= next_bookmark:
                    yield self._bookmark(rt)
                    next_bookmark = loop.time() + self.config.bookmark_interval
            if bookmarks and not watcher.overflowed and loop.time() >= deadline:
                yield self._bookmark(rt)
        finally:
            res.watchers.discard(watcher)
            self._watchers.discard(watcher)
            if handle is not None and self.load is not None:
                self.load.model.close_watch(handle)

    def _bookmark(self, rt: ResourceType) -> bytes:
        obj = {
            "kind": rt.kind,
            "apiVersion": rt.api_version,
            "metadata": {"resourceVersion": str(self.store.revision)},
        }
        return orjson.dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


class _TableEncoder:
    """Watch events as Table objects for ``kubectl get -w``; columns only on the first event."""

    def __init__(self, server: APIServer, rt: ResourceType, query: dict[str, str]) -> None:
        self.server, self.rt = server, rt
        self.include = query.get("includeObject", "Metadata")
        self.first = True

    def line(self, type_: str, obj: StoredObject) -> bytes:
        table = to_table(
            self.rt.group,
            self.rt.plural,
            [self.server.api.render_dict(self.rt, obj)],
            now=self.server.api.clock.now(),
            include_object=self.include,
            list_meta={"resourceVersion": str(obj.rv)},
        )
        if not self.first:
            table["columnDefinitions"] = []
        self.first = False
        return orjson.dumps({"type": type_, "object": table}) + b"\n"


def _partial(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }


def _audit_subject(request: Request, info: RequestInfo | None, user: User | None) -> dict[str, Any]:
    """Who asked for what, as an audit event names it (without the load model)."""
    uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    ref = None
    if info is not None:
        ref = object_ref(
            info.resource, info.namespace, info.name, info.group, info.version, info.subresource
        )
    return {
        "user": user.name if user else "",
        "groups": user.authenticated().groups if user else (),
        "user_agent": request.headers.get("user-agent", ""),
        "verb": info.verb if info is not None else request.method.lower(),
        "uri": uri,
        "object_ref": ref,
    }
