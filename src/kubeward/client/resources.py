"""Addressing a resource kind by (group, version, plural), as the API server's URLs do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from kubeward.kube.registry import REGISTRY


class ResourceLike(Protocol):
    """Anything with the four coordinates; ``kubeward.kube.registry.ResourceType`` is one."""

    @property
    def group(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def plural(self) -> str: ...
    @property
    def namespaced(self) -> bool: ...


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    plural: str
    namespaced: bool = True

    @classmethod
    def of(cls, rt: ResourceLike) -> Resource:
        return cls(rt.group, rt.version, rt.plural, rt.namespaced)

    @classmethod
    def lookup(cls, api_version: str, plural: str) -> Resource:
        """A kind kubeward's registry knows, e.g. ``Resource.lookup("apps/v1", "deployments")``.
        Kinds outside the registry (CRDs) are built directly with ``Resource(...)``."""
        group, _, version = api_version.rpartition("/")
        rt = REGISTRY.get(group, version, plural)
        if rt is None:
            raise KeyError(f"{plural}.{group or 'core'}/{version} is not in kubeward's registry")
        return cls.of(rt)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def display(self) -> str:
        """``pods`` or ``deployments.apps``, as kubectl and RBAC messages write it."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def collection_path(self, namespace: str | None = None) -> str:
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if namespace and self.namespaced:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        if namespace:
            raise ValueError(f"{self.display} is cluster-scoped; it has no namespace {namespace!r}")
        return f"{prefix}/{self.plural}"


def object_key(obj: dict[str, Any]) -> str:
    """client-go's ``MetaNamespaceKeyFunc``: ``namespace/name``, or ``name`` when cluster-scoped."""
    meta = obj.get("metadata") or {}
    ns = meta.get("namespace")
    name = meta.get("name", "")
    # Always a new string (see store.fresh): keys outlive the decoded objects.
    return f"{ns}/{name}" if ns else str(name).encode().decode()
