"""The resource registry: every kind kubeward knows, declared once.

Both the simulator (to serve it) and the platform (to read it) use these declarations. Adding a
kind is one ``ResourceType(...)`` line in ``BUILTIN``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # Subresource name -> (kind served, verbs)
    subresources: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    # Where objects live: (group, plural) of the storage version. Two versions of one resource
    # (flowcontrol v1 / v1beta3) or two APIs over one store (core and events.k8s.io Events)
    # share it.
    storage: tuple[str, str] | None = None
    # Served from live data rather than stored (metrics.k8s.io, like metrics-server).
    computed: bool = False

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    @property
    def storage_key(self) -> tuple[str, str]:
        return self.storage or (self.group, self.plural)

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def __hash__(self) -> int:
        return hash((self.group, self.version, self.plural))


def _status(kind: str, *, scale: bool = False) -> dict[str, tuple[str, tuple[str, ...]]]:
    subs: dict[str, tuple[str, tuple[str, ...]]] = {"status": (kind, ("get", "patch", "update"))}
    if scale:
        subs["scale"] = ("Scale", ("get", "patch", "update"))
    return subs


def _r(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool,
    *,
    short: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    status: bool = False,
    scale: bool = False,
    verbs: tuple[str, ...] = ALL_VERBS,
    extra: dict[str, tuple[str, tuple[str, ...]]] | None = None,
    storage: tuple[str, str] | None = None,
    computed: bool = False,
) -> ResourceType:
    subs = _status(kind, scale=scale) if status else {}
    subs.update(extra or {})
    return ResourceType(
        group, version, kind, plural, namespaced, short, cats, verbs, subs, storage, computed
    )


_ALL = ("all",)
_FC = "flowcontrol.apiserver.k8s.io"
_RBAC = "rbac.authorization.k8s.io"
_AUTHZ = "authorization.k8s.io"
_AUTHN = "authentication.k8s.io"
_CREATE = ("create",)

BUILTIN: tuple[ResourceType, ...] = (
    _r(
        "",
        "v1",
        "Namespace",
        "namespaces",
        False,
        short=("ns",),
        status=True,
        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
        extra={"finalize": ("Namespace", ("update",))},
    ),
    _r("", "v1", "Node", "nodes", False, short=("no",), status=True),
    _r(
        "",
        "v1",
        "Pod",
        "pods",
        True,
        short=("po",),
        cats=_ALL,
        status=True,
        extra={
            "eviction": ("Eviction", ("create",)),
            "binding": ("Binding", ("create",)),
            "log": ("Pod", ("get",)),
        },
    ),
    _r("", "v1", "Binding", "bindings", True, verbs=("create",)),
    _r(
        "",
        "v1",
        "Service",
        "services",
        True,
        short=("svc",),
        cats=_ALL,
        status=True,
        verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
    ),
    _r("", "v1", "Endpoints", "endpoints", True, short=("ep",)),
    _r("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    _r("", "v1", "ConfigMap", "configmaps", True, short=("cm",)),
    _r("", "v1", "Secret", "secrets", True),
    _r(
        "",
        "v1",
        "ServiceAccount",
        "serviceaccounts",
        True,
        short=("sa",),
        extra={"token": ("TokenRequest", ("create",))},
    ),
    _r("", "v1", "Event", "events", True, short=("ev",)),
    _r("", "v1", "PersistentVolume", "persistentvolumes", False, short=("pv",), status=True),
    _r("", "v1", "ResourceQuota", "resourcequotas", True, short=("quota",), status=True),
    _r("", "v1", "LimitRange", "limitranges", True, short=("limits",)),
    _r("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, short=("sc",)),
    _r(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        True,
        short=("pvc",),
        status=True,
    ),
    _r(
        "apps",
        "v1",
        "Deployment",
        "deployments",
        True,
        short=("deploy",),
        cats=_ALL,
        status=True,
        scale=True,
    ),
    _r(
        "apps",
        "v1",
        "ReplicaSet",
        "replicasets",
        True,
        short=("rs",),
        cats=_ALL,
        status=True,
        scale=True,
    ),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, short=("ds",), cats=_ALL, status=True),
    _r(
        "apps",
        "v1",
        "StatefulSet",
        "statefulsets",
        True,
        short=("sts",),
        cats=_ALL,
        status=True,
        scale=True,
    ),
    _r("batch", "v1", "Job", "jobs", True, cats=_ALL, status=True),
    _r("batch", "v1", "CronJob", "cronjobs", True, short=("cj",), cats=_ALL, status=True),
    _r(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        short=("hpa",),
        cats=_ALL,
        status=True,
    ),
    _r(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        True,
        short=("pdb",),
        status=True,
    ),
    _r("coordination.k8s.io", "v1", "Lease", "leases", True),
    _r("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, short=("pc",)),
    _r("events.k8s.io", "v1", "Event", "events", True, short=("ev",), storage=("", "events")),
    _r(_FC, "v1", "FlowSchema", "flowschemas", False, status=True),
    _r(_FC, "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", False, status=True),
    _r(
        _FC,
        "v1beta3",
        "FlowSchema",
        "flowschemas",
        False,
        status=True,
        storage=(_FC, "flowschemas"),
    ),
    _r(
        _FC,
        "v1beta3",
        "PriorityLevelConfiguration",
        "prioritylevelconfigurations",
        False,
        status=True,
        storage=(_FC, "prioritylevelconfigurations"),
    ),
    _r(_RBAC, "v1", "ClusterRole", "clusterroles", False),
    _r(_RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r(_RBAC, "v1", "Role", "roles", True),
    _r(_RBAC, "v1", "RoleBinding", "rolebindings", True),
    # Reviews are answered, never stored (create only, like bindings).
    _r(_AUTHZ, "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, verbs=_CREATE),
    _r(_AUTHZ, "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False, verbs=_CREATE),
    _r(_AUTHZ, "v1", "SubjectAccessReview", "subjectaccessreviews", False, verbs=_CREATE),
    _r(_AUTHZ, "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", True, verbs=_CREATE),
    _r(_AUTHN, "v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=_CREATE),
    _r(_AUTHN, "v1", "TokenReview", "tokenreviews", False, verbs=_CREATE),
    _r(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        short=("crd", "crds"),
        cats=("api-extensions",),
        status=True,
    ),
)


class ResourceRegistry:
    """Lookup of resource types by URL coordinates, kind, or storage key."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self._types = tuple(types)
        self._by_path = {(t.group, t.version, t.plural): t for t in self._types}
        self._by_kind: dict[tuple[str, str], ResourceType] = {}
        for t in self._types:
            # First declaration (the preferred version) wins for kind lookups.
            self._by_kind.setdefault((t.group, t.kind), t)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._types)

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def by_api_version(self, api_version: str, kind: str) -> ResourceType | None:
        group, _, version = api_version.rpartition("/")
        t = self.by_kind(group, kind)
        if t is None or t.version == version:
            return t
        for cand in self._types:
            if cand.group == group and cand.version == version and cand.kind == kind:
                return cand
        return None

    def storage_types(self) -> list[ResourceType]:
        """One ResourceType per storage key: the version objects are stored in."""
        seen: dict[tuple[str, str], ResourceType] = {}
        for t in self._types:
            if t.storage is None and not t.computed:
                seen.setdefault(t.storage_key, t)
        return list(seen.values())

    def groups(self) -> dict[str, list[str]]:
        """group -> served versions, preferred first, in declaration order."""
        out: dict[str, list[str]] = {}
        for t in self._types:
            versions = out.setdefault(t.group, [])
            if t.version not in versions:
                versions.append(t.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [t for t in self._types if t.group == group and t.version == version]


METRICS: tuple[ResourceType, ...] = (
    _r(
        "metrics.k8s.io",
        "v1beta1",
        "NodeMetrics",
        "nodes",
        False,
        verbs=("get", "list"),
        computed=True,
    ),
    _r(
        "metrics.k8s.io",
        "v1beta1",
        "PodMetrics",
        "pods",
        True,
        verbs=("get", "list"),
        computed=True,
    ),
)

REGISTRY = ResourceRegistry(BUILTIN + METRICS)
