"""Persistent storage as a kubectl user meets it: the default StorageClass, dynamic provisioning
by the simulated CSI driver, static binding, WaitForFirstConsumer, claims that cannot bind,
in-use protection and reclaiming. Debian's kubectl against the shared simulator, each test in
its own namespace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from kubectlhelp import Kubectl, own_namespace
from simproc import eventually

pytestmark = pytest.mark.e2e


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    yield from own_namespace(kubectl, request, "s")


def claim(name: str, size: str = "1Gi", cls: str | None = None) -> str:
    class_line = f"\n  storageClassName: {json.dumps(cls)}" if cls is not None else ""
    return f"""
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}}}
spec:
  accessModes: [ReadWriteOnce]
  resources: {{requests: {{storage: {size}}}}}{class_line}
"""


def pod_with_claim(name: str, claim_name: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "containers": [{"name": "app", "image": "nginx"}],
                "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim_name}}],
            },
        }
    )


def storage_class(name: str, provisioner: str = "sim.kubeward.io", **fields: Any) -> str:
    body = {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass"}
    return json.dumps({**body, "metadata": {"name": name}, "provisioner": provisioner, **fields})


def scheduling_message(kubectl: Kubectl, ns: str, pod: str) -> str:
    """The pod's PodScheduled condition message ("" until it has one)."""
    conditions = get(kubectl, "pod", pod, ns)["status"].get("conditions") or []
    return next((c.get("message", "") for c in conditions if c["type"] == "PodScheduled"), "")


def get(kubectl: Kubectl, kind: str, name: str, ns: str = "") -> dict[str, Any]:
    args = ["get", kind, name, "-o", "json"] + (["-n", ns] if ns else [])
    return json.loads(kubectl(*args).stdout)


def reasons(kubectl: Kubectl, ns: str, name: str) -> dict[str, str]:
    events = json.loads(
        kubectl(
            "get", "events", "-n", ns, f"--field-selector=involvedObject.name={name}", "-o", "json"
        ).stdout
    )["items"]
    return {e["reason"]: e["message"] for e in events}


def test_a_claim_without_a_class_is_provisioned_by_the_default_one(
    kubectl: Kubectl, ns: str
) -> None:
    table = kubectl("get", "storageclass").stdout
    assert re.search(
        r"standard \(default\)\s+sim\.kubeward\.io\s+Delete\s+Immediate\s+true\s+\S+", table
    ), table
    kubectl("apply", "-n", ns, "-f", "-", input=claim("data", "2Gi"))
    bound = eventually(
        lambda: (
            (c := get(kubectl, "pvc", "data", ns)).get("status", {}).get("phase") == "Bound" and c
        )
    )
    assert bound["spec"]["storageClassName"] == "standard"  # DefaultStorageClass admission
    assert bound["metadata"]["finalizers"] == ["kubernetes.io/pvc-protection"]
    assert bound["status"]["capacity"] == {"storage": "2Gi"}
    volume_name = bound["spec"]["volumeName"]
    assert volume_name == f"pvc-{bound['metadata']['uid']}"
    volume = get(kubectl, "pv", volume_name)
    assert volume["status"]["phase"] == "Bound"
    assert volume["spec"]["claimRef"]["name"] == "data"
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
    seen = reasons(kubectl, ns, "data")
    assert seen["ProvisioningSucceeded"] == f"Successfully provisioned volume {volume_name}"
    assert seen["Provisioning"] == (
        f'External provisioner is provisioning volume for claim "{ns}/data"'
    )
    row = kubectl("get", "pvc", "data", "-n", ns, "--no-headers").stdout.split()
    assert row[:6] == ["data", "Bound", volume_name, "2Gi", "RWO", "standard"], row

    # In use: deleting the claim waits for the pod (pvc-protection), then the volume goes.
    kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("user", "data"))
    kubectl("delete", "pvc", "data", "-n", ns, "--wait=false")
    assert get(kubectl, "pvc", "data", ns)["metadata"].get("deletionTimestamp")
    assert get(kubectl, "pvc", "data", ns)["status"]["phase"] == "Bound"  # still held
    kubectl("delete", "pod", "user", "-n", ns, "--grace-period=0", "--force")
    eventually(lambda: kubectl("get", "pvc", "data", "-n", ns, check=False).returncode != 0, 20)
    eventually(lambda: kubectl("get", "pv", volume_name, check=False).returncode != 0, 20)


def test_claims_that_cannot_bind_say_why(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=claim("none", cls=""))
    kubectl("apply", "-n", ns, "-f", "-", input=claim("missing", cls="fast"))
    eventually(lambda: "FailedBinding" in reasons(kubectl, ns, "none"))
    assert reasons(kubectl, ns, "none")["FailedBinding"] == (
        "no persistent volumes available for this claim and no storage class is set"
    )
    eventually(lambda: "ProvisioningFailed" in reasons(kubectl, ns, "missing"))
    assert reasons(kubectl, ns, "missing")["ProvisioningFailed"] == (
        'storageclass.storage.k8s.io "fast" not found'
    )
    assert get(kubectl, "pvc", "none", ns)["status"]["phase"] == "Pending"
    # A class created afterwards is what the waiting claim gets.
    kubectl("apply", "-f", "-", input=storage_class(f"fast-{ns}", reclaimPolicy="Retain"))
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("kept", cls=f"fast-{ns}"))
        eventually(lambda: get(kubectl, "pvc", "kept", ns)["status"].get("phase") == "Bound")
        volume_name = get(kubectl, "pvc", "kept", ns)["spec"]["volumeName"]
        kubectl("delete", "pvc", "kept", "-n", ns)
        # Retain: the volume outlives its claim, Released.
        eventually(lambda: get(kubectl, "pv", volume_name)["status"]["phase"] == "Released")
        kubectl("delete", "pv", volume_name)
    finally:
        kubectl("delete", "storageclass", f"fast-{ns}")


def test_static_volumes_and_wait_for_first_consumer(kubectl: Kubectl, ns: str) -> None:
    static = f"""
apiVersion: v1
kind: PersistentVolume
metadata: {{name: static-{ns}}}
spec:
  capacity: {{storage: 5Gi}}
  accessModes: [ReadWriteOnce]
  hostPath: {{path: /data}}
"""
    kubectl("apply", "-f", "-", input=static)
    eventually(lambda: get(kubectl, "pv", f"static-{ns}")["status"]["phase"] == "Available")
    kubectl("apply", "-n", ns, "-f", "-", input=claim("small", "3Gi", cls=""))
    eventually(lambda: get(kubectl, "pvc", "small", ns)["status"].get("phase") == "Bound")
    assert get(kubectl, "pvc", "small", ns)["spec"]["volumeName"] == f"static-{ns}"
    assert get(kubectl, "pvc", "small", ns)["status"]["capacity"] == {"storage": "5Gi"}

    late = storage_class(f"late-{ns}", volumeBindingMode="WaitForFirstConsumer")
    kubectl("apply", "-f", "-", input=late)
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("later", cls=f"late-{ns}"))
        eventually(lambda: "WaitForFirstConsumer" in reasons(kubectl, ns, "later"))
        assert get(kubectl, "pvc", "later", ns)["status"]["phase"] == "Pending"
        kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("consumer", "later"))
        eventually(lambda: get(kubectl, "pvc", "later", ns)["status"].get("phase") == "Bound", 20)
    finally:
        kubectl("delete", "pod", "consumer", "-n", ns, "--grace-period=0", "--force")
        kubectl("delete", "storageclass", f"late-{ns}")


def test_storage_class_rules(kubectl: Kubectl) -> None:
    bad = storage_class("bad", reclaimPolicy="Recycle")
    refused = kubectl("apply", "-f", "-", input=bad, check=False)
    assert (
        'The StorageClass "bad" is invalid: reclaimPolicy: Unsupported value: '
        '"Recycle": supported values: "Delete", "Retain"'
    ) in refused.stderr, refused.stderr
    changed = kubectl(
        "patch", "storageclass", "standard", "--type=merge", "-p", '{"reclaimPolicy":"Retain"}',
        check=False,
    )  # fmt: skip
    assert "reclaimPolicy: Forbidden: updates to reclaimPolicy are forbidden." in changed.stderr


def scheduled_message(kubectl: Kubectl, ns: str, pod: str) -> str:
    conditions = get(kubectl, "pod", pod, ns).get("status", {}).get("conditions") or []
    return next((c.get("message", "") for c in conditions if c["type"] == "PodScheduled"), "")


def test_a_pod_waits_for_its_claims(kubectl: Kubectl, ns: str) -> None:
    """kube-scheduler's VolumeBinding: no node for a pod whose claim is missing or unbound;
    scheduled once a volume binds it."""
    kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("orphan", "nope"))
    message = eventually(lambda: scheduled_message(kubectl, ns, "orphan"))
    assert re.fullmatch(
        r'0/\d+ nodes are available: persistentvolumeclaim "nope" not found\. preemption: '
        r"0/\d+ nodes are available: \d+ Preemption is not helpful for scheduling\.",
        message,
    ), message

    kubectl("apply", "-f", "-", input=storage_class(f"vendor-{ns}", "ebs.csi.aws.com"))
    volume = f"""
apiVersion: v1
kind: PersistentVolume
metadata: {{name: pre-{ns}}}
spec:
  capacity: {{storage: 1Gi}}
  accessModes: [ReadWriteOnce]
  storageClassName: vendor-{ns}
  csi: {{driver: ebs.csi.aws.com, volumeHandle: vol-0abc}}
"""
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("disk", cls=f"vendor-{ns}"))
        kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("app", "disk"))
        message = eventually(lambda: scheduled_message(kubectl, ns, "app"))
        assert "pod has unbound immediate PersistentVolumeClaims. preemption:" in message
        assert reasons(kubectl, ns, "disk")["ExternalProvisioning"].startswith(
            "Waiting for a volume to be created either by the external provisioner "
            "'ebs.csi.aws.com'"
        )
        # An administrator's volume of that class binds the claim; the pod is then placed.
        kubectl("apply", "-f", "-", input=volume)
        eventually(lambda: get(kubectl, "pod", "app", ns)["spec"].get("nodeName"), timeout=30)
        assert get(kubectl, "pvc", "disk", ns)["spec"]["volumeName"] == f"pre-{ns}"
    finally:
        kubectl("delete", "pod", "app", "orphan", "-n", ns, "--grace-period=0", "--force")
        kubectl("delete", "pvc", "disk", "-n", ns, "--wait=false")
        kubectl("delete", "storageclass", f"vendor-{ns}")


def test_a_namespace_with_claims_in_use_is_deleted(kubectl: Kubectl) -> None:
    """Protection holds a claim while a pod uses it, not forever: deleting the namespace
    deletes the pod, then the claim, then its volume, then the namespace."""
    kubectl("create", "namespace", "s-doomed")
    kubectl("apply", "-n", "s-doomed", "-f", "-", input=claim("data"))
    kubectl("apply", "-n", "s-doomed", "-f", "-", input=pod_with_claim("user", "data"))
    bound = eventually(lambda: get(kubectl, "pvc", "data", "s-doomed")["spec"].get("volumeName"))
    kubectl("delete", "namespace", "s-doomed", "--wait=false")
    eventually(lambda: kubectl("get", "namespace", "s-doomed", check=False).returncode != 0, 60)
    eventually(lambda: kubectl("get", "pv", bound, check=False).returncode != 0, 20)


def grow(kubectl: Kubectl, ns: str, name: str, size: str) -> Any:
    patch = json.dumps({"spec": {"resources": {"requests": {"storage": size}}}})
    return kubectl("patch", "pvc", name, "-n", ns, "-p", patch, check=False)


def test_a_bound_claim_grows_if_its_class_allows(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=claim("data", "1Gi"))
    eventually(lambda: get(kubectl, "pvc", "data", ns)["status"].get("phase") == "Bound")
    volume = get(kubectl, "pvc", "data", ns)["spec"]["volumeName"]
    assert grow(kubectl, ns, "data", "3Gi").returncode == 0
    eventually(lambda: get(kubectl, "pvc", "data", ns)["status"]["capacity"]["storage"] == "3Gi")
    assert get(kubectl, "pv", volume)["spec"]["capacity"]["storage"] == "3Gi"
    seen = reasons(kubectl, ns, "data")
    assert seen["Resizing"] == f"External resizer is resizing volume {volume}"
    assert seen["VolumeResizeSuccessful"] == "Resize volume succeeded"

    shrink = grow(kubectl, ns, "data", "2Gi")
    assert (
        "spec.resources.requests.storage: Forbidden: field can not be less than previous value"
    ) in shrink.stderr, shrink.stderr

    # LimitRanger checks claim updates too: a namespace's max per claim caps the growth.
    limits = {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "claims"},
        "spec": {"limits": [{"type": "PersistentVolumeClaim", "max": {"storage": "4Gi"}}]},
    }
    kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(limits))
    capped = grow(kubectl, ns, "data", "6Gi")
    assert (
        'persistentvolumeclaims "data" is forbidden: maximum storage usage per '
        "PersistentVolumeClaim is 4Gi, but request is 6Gi"
    ) in capped.stderr, capped.stderr
    assert grow(kubectl, ns, "data", "4Gi").returncode == 0
    kubectl("delete", "limitrange", "claims", "-n", ns)

    kubectl("apply", "-f", "-", input=storage_class(f"fixed-{ns}"))
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("rigid", cls=f"fixed-{ns}"))
        eventually(lambda: get(kubectl, "pvc", "rigid", ns)["status"].get("phase") == "Bound")
        refused = grow(kubectl, ns, "rigid", "5Gi")
        assert (
            'persistentvolumeclaims "rigid" is forbidden: only dynamically provisioned pvc can '
            "be resized and the storageclass that provisions the pvc must support resize"
        ) in refused.stderr, refused.stderr
        # An unbound claim's spec does not change at all.
        kubectl("apply", "-n", ns, "-f", "-", input=claim("waiting", cls=""))
        unbound = grow(kubectl, ns, "waiting", "5Gi")
        assert "spec is immutable after creation except resources.requests" in unbound.stderr
    finally:
        kubectl("delete", "storageclass", f"fixed-{ns}")


def test_volumes_keep_their_pods_where_they_can_reach_them(kubectl: Kubectl, ns: str) -> None:
    """A volume's nodeAffinity: a local volume on a node that is gone leaves its pod Pending
    with kube-scheduler's message; a WaitForFirstConsumer volume is provisioned in its first
    consumer's zone and binds the claim with the scheduler's selected-node annotation."""
    local = {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": f"local-{ns}"},
        "spec": {
            "capacity": {"storage": "5Gi"},
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "",
            "local": {"path": "/mnt/disks/ssd1"},
            "claimRef": {"namespace": ns, "name": "data"},
            "nodeAffinity": {
                "required": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "kubernetes.io/hostname",
                                    "operator": "In",
                                    "values": ["node-that-was-replaced"],
                                }
                            ]
                        }
                    ]
                }
            },
        },
    }
    kubectl("apply", "-f", "-", input=json.dumps(local))
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("data", "5Gi", cls=""))
        eventually(lambda: get(kubectl, "pvc", "data", ns)["status"].get("phase") == "Bound")
        kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("db", "data"))
        nodes = len(kubectl("get", "nodes", "-o", "name").stdout.split())

        message = eventually(lambda: scheduling_message(kubectl, ns, "db"))
        assert message == (
            f"0/{nodes} nodes are available: {nodes} node(s) had volume node affinity conflict. "
            f"preemption: 0/{nodes} nodes are available: {nodes} Preemption is not helpful for "
            "scheduling."
        )
    finally:
        kubectl("delete", "pod", "db", "-n", ns, "--grace-period=0", "--force", check=False)
        kubectl("delete", "pvc", "data", "-n", ns, "--wait=false", check=False)
        kubectl("delete", "pv", f"local-{ns}", "--wait=false", check=False)

    zonal = storage_class(f"zonal-{ns}", volumeBindingMode="WaitForFirstConsumer")
    kubectl("apply", "-f", "-", input=zonal)
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("cache", cls=f"zonal-{ns}"))
        kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("app", "cache"))
        eventually(lambda: get(kubectl, "pvc", "cache", ns)["status"].get("phase") == "Bound", 20)
        node = get(kubectl, "pod", "app", ns)["spec"]["nodeName"]
        zone = get(kubectl, "node", node)["metadata"]["labels"]["topology.kubernetes.io/zone"]
        pvc = get(kubectl, "pvc", "cache", ns)
        assert pvc["metadata"]["annotations"]["volume.kubernetes.io/selected-node"] == node
        pv = get(kubectl, "pv", pvc["spec"]["volumeName"])
        assert pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"] == [
            {
                "matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [zone]}
                ]
            }
        ]
    finally:
        kubectl("delete", "pod", "app", "-n", ns, "--grace-period=0", "--force", check=False)
        kubectl("delete", "storageclass", f"zonal-{ns}")

    # Immediate binding picks a zone before any pod exists: here one with no nodes, the trap
    # that makes clouds recommend WaitForFirstConsumer.
    elsewhere = storage_class(
        f"elsewhere-{ns}",
        volumeBindingMode="Immediate",
        allowedTopologies=[
            {
                "matchLabelExpressions": [
                    {"key": "topology.kubernetes.io/zone", "values": ["zone-z"]}
                ]
            }
        ],
    )
    kubectl("apply", "-f", "-", input=elsewhere)
    try:
        kubectl("apply", "-n", ns, "-f", "-", input=claim("far", cls=f"elsewhere-{ns}"))
        eventually(lambda: get(kubectl, "pvc", "far", ns)["status"].get("phase") == "Bound")
        pv = get(kubectl, "pv", get(kubectl, "pvc", "far", ns)["spec"]["volumeName"])
        terms = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
        assert terms[0]["matchExpressions"][0]["values"] == ["zone-z"]
        kubectl("apply", "-n", ns, "-f", "-", input=pod_with_claim("stranded", "far"))
        message = eventually(lambda: scheduling_message(kubectl, ns, "stranded"))
        assert f"{nodes} node(s) had volume node affinity conflict" in message
    finally:
        kubectl("delete", "pod", "stranded", "-n", ns, "--grace-period=0", "--force", check=False)
        kubectl("delete", "storageclass", f"elsewhere-{ns}")
