"""The HTTP side: one configured async client per cluster, requests counted, errors explained.

lightkube's ``client_adapter`` builds the transport (base URL, TLS context with the cluster CA
and client certificates, bearer / token-file / exec / basic auth). lightkube itself is built on
``httpx2`` (pydantic's maintained httpx fork), so the client returned here is an
``httpx2.AsyncClient``; its API is httpx's. Bodies are decoded with orjson from raw bytes,
except informer LISTs, which are decoded item by item as they arrive (``list_stream``).
"""

from __future__ import annotations

import json
import os
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
import orjson
from lightkube.config.client_adapter import ConnectionParams
from lightkube.core.exceptions import ConfigError

import kubeward
from kubeward.client.backoff import parse_retry_after
from kubeward.client.config import ClusterConfig, auth_for, load_config
from kubeward.client.errors import (
    ApiError,
    ClientError,
    ClusterUnreachable,
    ConnectionLost,
    Gone,
    KubeConfigError,
    RequestTimeout,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
    forbidden,
    parse_status,
)
from kubeward.client.liststream import ListBodyError, ListDecoder
from kubeward.client.resources import Resource
from kubeward.client.watchstream import LineDecoder

DEFAULT_AGENT = "kubeward-collector"
CONNECT_TIMEOUT = 10.0
REQUEST_TIMEOUT = 60.0

# What an exec credential plugin or a token file can raise from inside httpx's auth flow.
_AUTH_FAILURES = (ConfigError, FileNotFoundError, PermissionError, KeyError, json.JSONDecodeError)


def user_agent(agent: str = DEFAULT_AGENT) -> str:
    """``<agent>/<kubeward version>``: the ``userAgent`` the API server's audit log records
    for kubeward's requests, so an operator can tell the collector from the guard."""
    return f"{agent}/{kubeward.__version__}"


def make_http_client(
    config: ClusterConfig,
    *,
    agent: str = DEFAULT_AGENT,
    timeout: float = REQUEST_TIMEOUT,
    connect_timeout: float = CONNECT_TIMEOUT,
) -> httpx2.AsyncClient:
    """An async HTTP client for the cluster: base URL, TLS, credentials and user agent set."""
    conn = ConnectionParams(timeout=httpx2.Timeout(timeout, connect=connect_timeout))
    try:
        params = conn.httpx_params(config.single)
    except (FileNotFoundError, ssl.SSLError, ConfigError) as exc:
        raise KubeConfigError(
            f"{config.source}: TLS or credential files for context "
            f'"{config.context_name}" cannot be loaded ({exc}). Fix: check the '
            "certificate-authority / client-certificate / client-key paths and *-data fields."
        ) from exc
    params["auth"] = auth_for(config.single)
    client = httpx2.AsyncClient(**params)
    client.headers["User-Agent"] = user_agent(agent)
    client.headers["Accept"] = "application/json"
    return client


class ApiClient:
    """A cluster connection: configured client, request counters, Kubernetes-aware errors."""

    def __init__(
        self,
        config: ClusterConfig,
        *,
        agent: str = DEFAULT_AGENT,
        timeout: float = REQUEST_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.http = make_http_client(
            config, agent=agent, timeout=timeout, connect_timeout=connect_timeout
        )
        # (verb, resource) -> HTTP requests sent, e.g. ("list", "pods"): the numbers the
        # "one LIST and one WATCH per kind" promise is checked against.
        self.requests: Counter[tuple[str, str]] = Counter()

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def version(self) -> dict[str, Any]:
        """``GET /version``: the cheapest authenticated request, used to fail fast."""
        body = await self._get("/version", None, "get", None, None, self.timeout)
        return dict(orjson.loads(body))

    async def get_raw(
        self, path: str, params: dict[str, str] | None = None, timeout: float | None = None
    ) -> bytes:
        """``GET path`` for a non-resource endpoint such as ``/metrics``: the body as bytes,
        with the same error mapping (401, 403 with the RBAC hint, unreachable) as any request."""
        return await self._get(path, params, "get", None, None, timeout)

    async def list_page(
        self,
        resource: Resource,
        namespace: str | None,
        params: dict[str, str],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """One LIST request (one page); returns the decoded ``*List`` object."""
        path = resource.collection_path(namespace)
        body = await self._get(path, params, "list", resource, namespace, timeout)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ConnectionLost(f"LIST {path}: body is not JSON ({exc})") from exc
        if not isinstance(doc, dict):
            raise ConnectionLost(f"LIST {path}: body is not a JSON object")
        return doc

    @asynccontextmanager
    async def list_stream(
        self,
        resource: Resource,
        namespace: str | None,
        params: dict[str, str],
        timeout: float | None = None,
    ) -> AsyncIterator[ListStream]:
        """One LIST request (one page), decoded as it arrives: iterate the yielded
        :class:`ListStream` for the items of each network read; once it is exhausted, its
        ``metadata`` holds the list's ``resourceVersion`` and ``continue``. Memory stays
        bounded by what the consumer keeps, however big the list."""
        path = resource.collection_path(namespace)
        # As for any request: ``timeout`` for every phase, so also between two network reads.
        t = timeout if timeout is not None else self.timeout
        self.requests["list", resource.display] += 1
        async with AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(
                    self.http.stream("GET", path, params=params, timeout=t)
                )
                if response.status_code != 200:
                    body = await response.aread()
            except httpx2.TransportError as exc:
                raise self.transport_error(exc) from exc
            except _AUTH_FAILURES as exc:
                raise self.auth_failure(exc) from exc
            if response.status_code != 200:
                raise self.status_error(response, body, "list", resource, namespace)
            # Errors raised by the consumer's own code pass through unmapped.
            yield ListStream(self, response, path)

    @asynccontextmanager
    async def watch(
        self,
        resource: Resource,
        namespace: str | None,
        params: dict[str, str],
        read_timeout: float,
    ) -> AsyncIterator[AsyncIterator[list[dict[str, Any]]]]:
        """One WATCH request. Yields an iterator of event batches: each batch holds the events
        of one network read, decoded line by line."""
        path = resource.collection_path(namespace)
        timeout = httpx2.Timeout(read_timeout, connect=self.connect_timeout)
        self.requests["watch", resource.display] += 1
        async with AsyncExitStack() as stack:
            try:
                response = await stack.enter_async_context(
                    self.http.stream(
                        "GET", path, params={**params, "watch": "true"}, timeout=timeout
                    )
                )
            except httpx2.TransportError as exc:
                raise self.transport_error(exc) from exc
            except _AUTH_FAILURES as exc:
                raise self.auth_failure(exc) from exc
            if response.status_code != 200:
                body = await response.aread()
                raise self.status_error(response, body, "watch", resource, namespace)
            # Errors raised by the consumer's own code pass through unmapped.
            yield self._events(response, path)

    async def _events(
        self, response: httpx2.Response, path: str
    ) -> AsyncIterator[list[dict[str, Any]]]:
        decoder = LineDecoder()
        try:
            async for chunk in response.aiter_bytes():
                events = decoder.feed(chunk)
                if events:
                    yield events
            tail = decoder.close()
        except httpx2.TransportError as exc:
            raise self.transport_error(exc) from exc
        except orjson.JSONDecodeError as exc:
            raise ConnectionLost(f"WATCH {path}: undecodable event line ({exc})") from exc
        if tail:
            yield tail

    async def _get(
        self,
        path: str,
        params: dict[str, str] | None,
        verb: str,
        resource: Resource | None,
        namespace: str | None,
        timeout: float | None,
    ) -> bytes:
        self.requests[verb, resource.display if resource else path] += 1
        try:
            response = await self.http.get(
                path, params=params, timeout=timeout if timeout is not None else self.timeout
            )
        except httpx2.TransportError as exc:
            raise self.transport_error(exc) from exc
        except _AUTH_FAILURES as exc:
            raise self.auth_failure(exc) from exc
        if response.status_code != 200:
            raise self.status_error(response, response.content, verb, resource, namespace)
        return response.content

    # -- error mapping --------------------------------------------------------------------------

    def _where(self) -> str:
        return f'{self.config.server} (context "{self.config.context_name}", {self.config.source})'

    def status_error(
        self,
        response: httpx2.Response,
        body: bytes,
        verb: str,
        resource: Resource | None,
        namespace: str | None,
    ) -> ApiError:
        code = response.status_code
        reason, message, _ = parse_status(body)
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        target = f"{verb} {resource.display if resource else response.request.url.path}"
        if code == 401:
            return Unauthorized(
                code,
                reason or "Unauthorized",
                message,
                text=(
                    f"Unauthorized: the API server at {self._where()} rejected the credentials "
                    f'of user "{self.config.user_name}" ({message or reason or "401"}). Fix: '
                    "refresh them (log in again with your cloud CLI, renew the token or "
                    "certificate); `kubectl auth whoami` with the same kubeconfig must work."
                ),
            )
        if code == 403 and resource is not None:
            return forbidden(
                message,
                reason,
                verb=verb,
                group=resource.group,
                resource=resource.plural,
                namespace=namespace,
                server=self.config.server,
            )
        if code == 404 and resource is not None:
            return ResourceNotFound(
                code,
                reason or "NotFound",
                message,
                text=(
                    f"the API server at {self.config.server} does not serve "
                    f"{resource.display} in {resource.api_version} ({message or 'not found'}). "
                    "Fix: check `kubectl api-resources`; the API may be disabled or need a "
                    "newer/older version."
                ),
            )
        cls = {410: Gone, 429: TooManyRequests}.get(code, ApiError)
        return cls(
            code,
            reason or response.reason_phrase,
            message,
            retry_after=retry_after,
            text=f"{target}: {code} {reason or response.reason_phrase}: {message}".rstrip(": "),
        )

    def transport_error(self, exc: httpx2.TransportError) -> ClientError:
        if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout):
            if _is_tls_verify_failure(exc):
                return ClusterUnreachable(
                    f"TLS verification of the API server at {self._where()} failed: {exc}. "
                    "Fix: set the cluster's certificate-authority(-data) to the CA that signed "
                    "the server certificate (insecure-skip-tls-verify only for throwaway "
                    "clusters)."
                )
            return ClusterUnreachable(
                f"cannot reach the API server at {self._where()}: {exc or type(exc).__name__}. "
                "Fix: check the server address in the kubeconfig, that the API server is "
                "running, and that no firewall, proxy or VPN is in the way "
                "(`kubectl cluster-info` uses the same address)."
            )
        if isinstance(exc, httpx2.TimeoutException):
            return RequestTimeout(
                f"the API server at {self.config.server} did not answer in time "
                f"({type(exc).__name__})"
            )
        return ConnectionLost(
            f"connection to the API server at {self.config.server} broke: "
            f"{exc or type(exc).__name__}"
        )

    def auth_failure(self, exc: Exception) -> KubeConfigError:
        user = self.config.single.user
        hint = user.exec.installHint if user is not None and user.exec is not None else None
        return KubeConfigError(
            f'obtaining credentials for user "{self.config.user_name}" ({self.config.source}) '
            f"failed: {type(exc).__name__}: {exc}. Fix: run the credential plugin command "
            "by hand to see its error" + (f"; install hint: {hint}" if hint else "") + "."
        )


class ListStream:
    """The items of one LIST response, in the order they arrive, a network read at a time."""

    def __init__(self, api: ApiClient, response: httpx2.Response, path: str) -> None:
        self._api, self._response, self._path = api, response, path
        self._decoder = ListDecoder()
        self.items = 0  # items delivered so far

    @property
    def metadata(self) -> dict[str, Any]:
        """The list's ``metadata`` (``resourceVersion``, ``continue``); complete once the
        stream is exhausted."""
        return self._decoder.metadata

    @property
    def kind(self) -> str | None:
        return self._decoder.kind

    def __aiter__(self) -> AsyncIterator[list[dict[str, Any]]]:
        return self._batches()

    async def _batches(self) -> AsyncIterator[list[dict[str, Any]]]:
        decoder = self._decoder
        try:
            async for chunk in self._response.aiter_bytes():
                items = decoder.feed(chunk)
                if items:
                    self.items += len(items)
                    yield items
            tail = decoder.close()
        except httpx2.TransportError as exc:
            raise self._api.transport_error(exc) from exc
        except (ListBodyError, UnicodeDecodeError) as exc:
            raise ConnectionLost(f"LIST {self._path}: body is not a JSON list ({exc})") from exc
        if tail:
            self.items += len(tail)
            yield tail


def _is_tls_verify_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def connect(
    kubeconfig: str | os.PathLike[str] | None = None,
    context: str | None = None,
    *,
    agent: str = DEFAULT_AGENT,
    in_cluster: bool | None = None,
    timeout: float = REQUEST_TIMEOUT,
    check: bool = True,
) -> ApiClient:
    """Load the config, build the client and (by default) prove the server answers and accepts
    the credentials with ``GET /version``, so a wrong address or token fails at start with a
    clear message instead of as retries in the background."""
    api = ApiClient(
        load_config(kubeconfig, context, in_cluster=in_cluster), agent=agent, timeout=timeout
    )
    if check:
        try:
            await api.version()
        except BaseException:
            await api.aclose()
            raise
    return api
