"""What the collector watches, and for each state kind: its tables, row builder and shard key.

This list is the single source of truth for the informers the master starts and for the RBAC
rules in ``deploy/`` (a test checks the ClusterRole grants exactly these, list and watch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from kubeward.client import Resource
from kubeward.collect import rows_apps, rows_core
from kubeward.collect.columnar import TableSpec
from kubeward.collect.metadata import METADATA_TABLE, NO_ALLOWLISTS, MetadataRows

RowBuilder = Callable[[dict[str, Any]], tuple[Any, ...]]


@dataclass(frozen=True)
class StateKind:
    """A kind whose objects become columnar state and kube-state-metrics series.

    ``shard_by``: ``"node"`` places an object on the worker owning its node (pods by
    ``spec.nodeName``, nodes by name), so a node and its pods share a shard; ``"key"`` hashes
    ``namespace/name``.

    Its tables are the kind's own (the main table first), then the ``metadata`` table every
    kind shares (:mod:`kubeward.collect.metadata`).
    """

    name: str
    resource: Resource
    own_tables: tuple[TableSpec, ...]
    own_rows: RowBuilder
    shard_by: Literal["node", "key"] = "key"

    @property
    def tables(self) -> tuple[TableSpec, ...]:
        return (*self.own_tables, METADATA_TABLE)

    def rows(self, obj: dict[str, Any], metadata: MetadataRows = NO_ALLOWLISTS) -> tuple[Any, ...]:
        """The main row and the child rows of ``obj``, one entry per table."""
        return (*self.own_rows(obj), metadata.rows(self.name, obj))


STATE_KINDS: tuple[StateKind, ...] = (
    StateKind("pods", Resource("", "v1", "pods"), rows_core.POD_TABLES, rows_core.pod_rows, "node"),
    StateKind(
        "nodes",
        Resource("", "v1", "nodes", namespaced=False),
        rows_core.NODE_TABLES,
        rows_core.node_rows,
        "node",
    ),
    StateKind(
        "namespaces",
        Resource("", "v1", "namespaces", namespaced=False),
        rows_core.NAMESPACE_TABLES,
        rows_core.namespace_rows,
    ),
    StateKind(
        "services",
        Resource("", "v1", "services"),
        rows_core.SERVICE_TABLES,
        rows_core.service_rows,
    ),
    StateKind(
        "persistentvolumeclaims",
        Resource("", "v1", "persistentvolumeclaims"),
        rows_core.PVC_TABLES,
        rows_core.pvc_rows,
    ),
    StateKind(
        "persistentvolumes",
        Resource("", "v1", "persistentvolumes", namespaced=False),
        rows_core.PV_TABLES,
        rows_core.pv_rows,
    ),
    StateKind(
        "storageclasses",
        Resource("storage.k8s.io", "v1", "storageclasses", namespaced=False),
        rows_core.STORAGECLASS_TABLES,
        rows_core.storageclass_rows,
    ),
    StateKind(
        "resourcequotas",
        Resource("", "v1", "resourcequotas"),
        rows_core.RESOURCEQUOTA_TABLES,
        rows_core.resourcequota_rows,
    ),
    StateKind(
        "limitranges",
        Resource("", "v1", "limitranges"),
        rows_core.LIMITRANGE_TABLES,
        rows_core.limitrange_rows,
    ),
    StateKind(
        "deployments",
        Resource("apps", "v1", "deployments"),
        rows_apps.DEPLOYMENT_TABLES,
        rows_apps.deployment_rows,
    ),
    StateKind(
        "replicasets",
        Resource("apps", "v1", "replicasets"),
        rows_apps.REPLICASET_TABLES,
        rows_apps.replicaset_rows,
    ),
    StateKind(
        "daemonsets",
        Resource("apps", "v1", "daemonsets"),
        rows_apps.DAEMONSET_TABLES,
        rows_apps.daemonset_rows,
    ),
    StateKind(
        "statefulsets",
        Resource("apps", "v1", "statefulsets"),
        rows_apps.STATEFULSET_TABLES,
        rows_apps.statefulset_rows,
    ),
    StateKind("jobs", Resource("batch", "v1", "jobs"), rows_apps.JOB_TABLES, rows_apps.job_rows),
    StateKind(
        "cronjobs",
        Resource("batch", "v1", "cronjobs"),
        rows_apps.CRONJOB_TABLES,
        rows_apps.cronjob_rows,
    ),
    StateKind(
        "horizontalpodautoscalers",
        Resource("autoscaling", "v2", "horizontalpodautoscalers"),
        rows_apps.HPA_TABLES,
        rows_apps.hpa_rows,
    ),
    StateKind(
        "poddisruptionbudgets",
        Resource("policy", "v1", "poddisruptionbudgets"),
        rows_apps.PDB_TABLES,
        rows_apps.pdb_rows,
    ),
)
STATE_KIND_BY_NAME = {k.name: k for k in STATE_KINDS}

# Events go to the event store, not to the workers: both APIs serve the same objects with
# different field names, and kubeward stores both shapes (deduplicated by uid).
EVENT_RESOURCES: tuple[Resource, ...] = (
    Resource("", "v1", "events"),
    Resource("events.k8s.io", "v1", "events"),
)

ALL_RESOURCES: tuple[Resource, ...] = tuple(k.resource for k in STATE_KINDS) + EVENT_RESOURCES
