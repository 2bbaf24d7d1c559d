"""How the platform talks to any cluster, real or simulated: config and auth through lightkube,
and informers (LIST + WATCH with bookmarks, relist on 410, backoff) decoding with orjson."""

from kubeward.client.api import ApiClient, connect, make_http_client, user_agent
from kubeward.client.backoff import Backoff, parse_retry_after
from kubeward.client.config import ClusterConfig, load_config
from kubeward.client.errors import (
    ApiError,
    ClientError,
    ClusterUnreachable,
    ConnectionLost,
    Forbidden,
    Gone,
    KubeConfigError,
    RequestTimeout,
    ResourceNotFound,
    TooManyRequests,
    Unauthorized,
)
from kubeward.client.informer import Batch, Informer, InformerStats
from kubeward.client.resources import Resource, object_key
from kubeward.client.store import Delta, ObjectStore

__all__ = [
    "ApiClient",
    "ApiError",
    "Backoff",
    "Batch",
    "ClientError",
    "ClusterConfig",
    "ClusterUnreachable",
    "ConnectionLost",
    "Delta",
    "Forbidden",
    "Gone",
    "Informer",
    "InformerStats",
    "KubeConfigError",
    "ObjectStore",
    "RequestTimeout",
    "Resource",
    "ResourceNotFound",
    "TooManyRequests",
    "Unauthorized",
    "connect",
    "load_config",
    "make_http_client",
    "object_key",
    "parse_retry_after",
    "user_agent",
]
