"""StatefulSets: ordered creation, stable names, claims, reverse scale-down, rolling update."""

from __future__ import annotations

import json

from kubeward.kube.defaults import apply_defaults
from kubeward.kube.registry import REGISTRY
from kubeward.kube.validation import validate_object
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.behaviour import ANNOTATION
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.scenarios.model import Scenario
from simproc import until

STATEFULSETS = REGISTRY.get("apps", "v1", "statefulsets")


def statefulset(replicas: int, image: str = "redis:7.4") -> dict:
    return {
        "metadata": {"name": "db", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {
                    "labels": {"app": "db"},
                    "annotations": {ANNOTATION: json.dumps({"startupSeconds": 5})},
                },
                "spec": {"containers": [{"name": "db", "image": image}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "5Gi"}},
                    },
                }
            ],
        },
    }


def bootstrapped(nodes: int) -> SimCluster:
    c = SimCluster(
        Scenario.model_validate({"name": "s", "nodePools": [{"name": "n", "count": nodes}]}),
        clock=SimClock(speed=100),
    )
    c.bootstrap()
    return c


async def test_ordered_start_claims_scale_down_and_update() -> None:
    c = bootstrapped(nodes=2)
    created: list[str] = []
    c.store.add_listener(
        lambda e: (
            created.append(e.obj.name)
            if e.storage_key == ("", "pods") and e.type == "ADDED"
            else None
        )
    )
    c.start()
    try:
        c.api.create(STATEFULSETS, "default", statefulset(3))

        def status() -> dict:
            return c.api.get(STATEFULSETS, "default", "db").decode().get("status") or {}

        await until(lambda: status().get("readyReplicas") == 3)
        assert created == ["db-0", "db-1", "db-2"]  # one at a time, in order
        pod = c.api.get(REGISTRY.get("", "v1", "pods"), "default", "db-1").decode()
        assert pod["spec"]["hostname"] == "db-1" and pod["spec"]["subdomain"] == "db"
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"
        assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-db-1"}} in pod["spec"][
            "volumes"
        ]
        pvc = c.api.get(
            REGISTRY.get("", "v1", "persistentvolumeclaims"), "default", "data-db-2"
        ).decode()
        assert pvc["status"]["phase"] == "Bound"
        # scale down removes the highest ordinal; its claim stays
        s = c.api.get(STATEFULSETS, "default", "db").decode()
        s["spec"]["replicas"] = 2
        c.api.update(STATEFULSETS, "default", "db", s)
        await until(lambda: c.store.get(("", "pods"), "default/db-2") is None)
        assert c.store.get(("", "persistentvolumeclaims"), "default/data-db-2") is not None
        # a template change replaces pods from the highest ordinal down
        s = c.api.get(STATEFULSETS, "default", "db").decode()
        s["spec"]["template"]["spec"]["containers"][0]["image"] = "redis:7.5"
        c.api.update(STATEFULSETS, "default", "db", s)
        await until(
            lambda: status().get("updatedReplicas") == 2 and status().get("readyReplicas") == 2,
            timeout=20,
        )
        assert status()["currentRevision"] == status()["updateRevision"]
    finally:
        await c.stop()


def test_statefulset_templates_may_mount_claim_template_volumes() -> None:
    """Kubernetes validates a StatefulSet template's labels and annotations only: containers
    mount volumes that the volumeClaimTemplates provide."""
    sts = statefulset(1)
    sts["apiVersion"], sts["kind"] = "apps/v1", "StatefulSet"
    sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "data", "mountPath": "/data"}
    ]
    apply_defaults("apps", "StatefulSet", sts)
    assert validate_object("apps", "StatefulSet", sts, namespaced=True) == []
    sts["spec"]["template"]["metadata"]["labels"]["bad key!"] = "x"
    errors = validate_object("apps", "StatefulSet", sts, namespaced=True)
    assert [e.field for e in errors] == ["spec.template.labels"]


async def test_start_ordinal_and_claim_retention_policy() -> None:
    """``spec.ordinals.start`` numbers the pods; ``whenScaled: Delete`` deletes a scaled-down
    pod's claim, ``whenDeleted: Delete`` the rest with the StatefulSet (garbage collector)."""
    c = bootstrapped(nodes=2)
    c.start()
    claims = REGISTRY.get("", "v1", "persistentvolumeclaims")
    try:
        body = statefulset(3)
        body["spec"]["ordinals"] = {"start": 5}
        body["spec"]["persistentVolumeClaimRetentionPolicy"] = {
            "whenDeleted": "Delete",
            "whenScaled": "Delete",
        }
        sts = c.api.create(STATEFULSETS, "default", body).decode()

        def status() -> dict:
            return c.api.get(STATEFULSETS, "default", "db").decode().get("status") or {}

        await until(lambda: status().get("readyReplicas") == 3)
        pods = {o.name for o in c.store.resource(("", "pods")).objects.values()}
        assert pods == {"db-5", "db-6", "db-7"}
        pod = c.api.get(REGISTRY.get("", "v1", "pods"), "default", "db-7").decode()
        assert pod["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "7"
        claim = c.api.get(claims, "default", "data-db-7").decode()
        assert [(r["kind"], r["uid"]) for r in claim["metadata"]["ownerReferences"]] == [
            ("StatefulSet", sts["metadata"]["uid"])
        ]
        # scale down: the highest ordinal goes, and its claim with it
        s = c.api.get(STATEFULSETS, "default", "db").decode()
        s["spec"]["replicas"] = 2
        c.api.update(STATEFULSETS, "default", "db", s)
        await until(
            lambda: c.store.get(("", "persistentvolumeclaims"), "default/data-db-7") is None
        )
        assert c.store.get(("", "pods"), "default/db-7") is None
        assert c.store.get(("", "persistentvolumeclaims"), "default/data-db-6") is not None
        # deleting the StatefulSet deletes the remaining claims
        c.api.delete(STATEFULSETS, "default", "db", DeleteOptions())
        await until(
            lambda: not c.store.resource(("", "persistentvolumeclaims")).objects, timeout=20
        )
    finally:
        await c.stop()


async def test_claims_are_retained_by_default() -> None:
    c = bootstrapped(nodes=1)
    c.start()
    try:
        created = c.api.create(STATEFULSETS, "default", statefulset(1)).decode()
        assert created["spec"]["persistentVolumeClaimRetentionPolicy"] == {
            "whenDeleted": "Retain",
            "whenScaled": "Retain",
        }
        await until(lambda: c.store.get(("", "persistentvolumeclaims"), "default/data-db-0"))
        claim = c.store.get(("", "persistentvolumeclaims"), "default/data-db-0").decode()
        assert "ownerReferences" not in claim["metadata"]
    finally:
        await c.stop()
