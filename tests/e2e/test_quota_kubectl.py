"""ResourceQuota as a kubectl user meets it: the quota controller fills in the status, admission
refuses what does not fit with kube-apiserver's messages, a ReplicaSet reports FailedCreate,
and deleting a pod gives its share back. Runs Debian's kubectl against the shared simulator,
each test in its own namespace."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from kubectlhelp import Kubectl, own_namespace
from simproc import eventually

pytestmark = pytest.mark.e2e


def has_root_ca(kubectl: Kubectl, ns: str) -> bool:
    got = kubectl("get", "configmap", "kube-root-ca.crt", "-n", ns, check=False)
    return got.returncode == 0


@pytest.fixture
def ns(kubectl: Kubectl, request: pytest.FixtureRequest) -> Iterator[str]:
    for name in own_namespace(kubectl, request, "q"):
        # Every namespace starts with one ConfigMap, kube-root-ca.crt, which quotas count.
        eventually(lambda name=name: has_root_ca(kubectl, name))
        yield name


def quota(kubectl: Kubectl, ns: str, name: str = "compute") -> dict[str, Any]:
    return json.loads(kubectl("get", "quota", name, "-n", ns, "-o", "json").stdout)


def used(kubectl: Kubectl, ns: str, name: str = "compute") -> dict[str, str]:
    return quota(kubectl, ns, name).get("status", {}).get("used", {})


def pod(name: str, cpu: str = "", memory_limit: str = "", extra: str = "") -> str:
    requests = f"requests: {{cpu: {cpu}}}" if cpu else ""
    limits = f"limits: {{memory: {memory_limit}}}" if memory_limit else ""
    resources = ", ".join(p for p in (requests, limits) if p)
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  {extra}
  containers:
  - name: app
    image: nginx
    resources: {{{resources}}}
"""


def make_quota(kubectl: Kubectl, ns: str, hard: str, name: str = "compute") -> None:
    kubectl("create", "quota", name, f"--hard={hard}", "-n", ns)
    # Until the controller has copied spec.hard into the status, the quota limits nothing.
    eventually(lambda: quota(kubectl, ns, name).get("status", {}).get("used"))


def test_status_table_and_describe(kubectl: Kubectl, ns: str) -> None:
    make_quota(kubectl, ns, "requests.cpu=1,limits.memory=1Gi,pods=4,count/configmaps=2")
    status = quota(kubectl, ns)["status"]
    assert status["hard"] == {
        "count/configmaps": "2",
        "limits.memory": "1Gi",
        "pods": "4",
        "requests.cpu": "1",
    }
    # kube-root-ca.crt is the namespace's first ConfigMap, in Kubernetes as here.
    assert status["used"] == {
        "count/configmaps": "1",
        "limits.memory": "0",
        "pods": "0",
        "requests.cpu": "0",
    }
    kubectl("apply", "-n", ns, "-f", "-", input=pod("a", cpu="250m", memory_limit="256Mi"))
    eventually(lambda: used(kubectl, ns)["pods"] == "1")
    table = kubectl("get", "quota", "-n", ns).stdout.splitlines()
    assert re.split(r"\s{2,}", table[0]) == ["NAME", "AGE", "REQUEST", "LIMIT"], table
    cells = re.split(r"\s{2,}", table[1])
    assert cells[0] == "compute"
    assert cells[2:] == [
        "count/configmaps: 1/2, pods: 1/4, requests.cpu: 250m/1",
        "limits.memory: 256Mi/1Gi",
    ], table
    described = kubectl("describe", "quota", "compute", "-n", ns).stdout
    assert re.search(r"requests\.cpu\s+250m\s+1\n", described), described
    assert re.search(r"limits\.memory\s+256Mi\s+1Gi\n", described), described


def test_admission_refuses_what_does_not_fit(kubectl: Kubectl, ns: str) -> None:
    make_quota(kubectl, ns, "requests.cpu=1,limits.memory=1Gi,count/configmaps=2")
    missing = kubectl("apply", "-n", ns, "-f", "-", input=pod("bare"), check=False)
    assert missing.returncode != 0
    assert (
        'pods "bare" is forbidden: failed quota: compute: must specify '
        "limits.memory for: app; requests.cpu for: app"
    ) in missing.stderr, missing.stderr

    kubectl("apply", "-n", ns, "-f", "-", input=pod("first", cpu="600m", memory_limit="512Mi"))
    assert used(kubectl, ns)["requests.cpu"] == "600m"  # charged at admission
    over = kubectl("apply", "-n", ns, "-f", "-", input=pod("second", "600m", "512Mi"), check=False)
    assert over.returncode != 0
    assert (
        'Error from server (Forbidden): error when creating "STDIN": pods "second" is '
        "forbidden: exceeded quota: compute, requested: requests.cpu=600m, used: "
        "requests.cpu=600m, limited: requests.cpu=1"
    ) in over.stderr, over.stderr
    assert "second" not in kubectl("get", "pods", "-n", ns, "-o", "name").stdout

    kubectl("create", "configmap", "one", "-n", ns)
    refused = kubectl("create", "configmap", "two", "-n", ns, check=False)
    assert (
        'configmaps "two" is forbidden: exceeded quota: compute, requested: '
        "count/configmaps=1, used: count/configmaps=2, limited: count/configmaps=2"
    ) in refused.stderr, refused.stderr

    # Deleting a pod gives its share back (the controller's recount), and the same pod fits.
    kubectl("delete", "pod", "first", "-n", ns, "--grace-period=0", "--force")
    eventually(lambda: used(kubectl, ns)["requests.cpu"] == "0", timeout=20)
    kubectl("apply", "-n", ns, "-f", "-", input=pod("second", "600m", "512Mi"))


def test_replicaset_reports_failed_create(kubectl: Kubectl, ns: str) -> None:
    make_quota(kubectl, ns, "pods=2")
    kubectl("create", "deployment", "web", "--image=nginx", "--replicas=3", "-n", ns)

    def failed_create() -> list[dict[str, Any]]:
        events = json.loads(
            kubectl(
                "get", "events", "-n", ns, "--field-selector=reason=FailedCreate", "-o", "json"
            ).stdout
        )["items"]
        return events

    events = eventually(failed_create, timeout=20)
    message = events[0]["message"]
    assert re.fullmatch(
        r'Error creating: pods "web-[a-z0-9]+-[a-z0-9]{5}" is forbidden: exceeded quota: '
        r"compute, requested: pods=1, used: pods=2, limited: pods=2",
        message,
    ), message
    assert events[0]["involvedObject"]["kind"] == "ReplicaSet"

    def replica_failure() -> dict[str, Any] | None:
        rs = json.loads(kubectl("get", "rs", "-n", ns, "-o", "json").stdout)["items"]
        for cond in (rs[0].get("status") or {}).get("conditions") or () if rs else ():
            if cond["type"] == "ReplicaFailure":
                return cond
        return None

    cond = eventually(replica_failure, timeout=20)
    assert cond["status"] == "True" and cond["reason"] == "FailedCreate"
    pods = kubectl("get", "pods", "-n", ns, "-o", "name").stdout.split()
    assert len(pods) == 2, pods


def test_scopes_choose_the_pods_charged(kubectl: Kubectl, ns: str) -> None:
    kubectl("create", "quota", "besteffort", "--hard=pods=1", "--scopes=BestEffort", "-n", ns)
    eventually(lambda: used(kubectl, ns, "besteffort"))
    kubectl("apply", "-n", ns, "-f", "-", input=pod("sized", cpu="100m"))
    kubectl("apply", "-n", ns, "-f", "-", input=pod("plain-1"))
    refused = kubectl("apply", "-n", ns, "-f", "-", input=pod("plain-2"), check=False)
    assert (
        'pods "plain-2" is forbidden: exceeded quota: besteffort, requested: pods=1, '
        "used: pods=1, limited: pods=1"
    ) in refused.stderr, refused.stderr
    assert used(kubectl, ns, "besteffort") == {"pods": "1"}  # the sized pod is not BestEffort


def test_invalid_quotas_are_refused(kubectl: Kubectl, ns: str) -> None:
    negative = kubectl("create", "quota", "neg", "--hard=cpu=-1", "-n", ns, check=False)
    assert (
        'error: failed to create quota: ResourceQuota "neg" is invalid: spec.hard[cpu]: '
        'Invalid value: "-1": must be greater than or equal to 0'
    ) in negative.stderr, negative.stderr
    scoped = kubectl(
        "create", "quota", "sc", "--hard=cpu=1", "--scopes=BestEffort", "-n", ns, check=False
    )
    assert (
        'ResourceQuota "sc" is invalid: spec.scopes: Invalid value: '
        '[]core.ResourceQuotaScope{"BestEffort"}: unsupported scope applied to resource'
    ) in scoped.stderr, scoped.stderr
    fraction = kubectl("create", "quota", "fr", "--hard=pods=1500m", "-n", ns, check=False)
    assert 'spec.hard[pods]: Invalid value: "1500m": must be an integer' in fraction.stderr
    unknown = kubectl("create", "quota", "un", "--hard=storage=1Gi", "-n", ns, check=False)
    assert (
        'spec.hard[storage]: Invalid value: "storage": must be a standard resource for quota'
    ) in unknown.stderr, unknown.stderr


def test_a_finished_pod_gives_back_compute_but_still_counts(kubectl: Kubectl, ns: str) -> None:
    make_quota(kubectl, ns, "requests.cpu=1,count/pods=3")
    batch = pod(
        "batch",
        cpu="700m",
        extra="restartPolicy: Never",
    ).replace(
        "metadata: {name: batch}",
        "metadata: {name: batch, annotations: {sim.kubeward.io/behaviour: "
        '\'{"runSeconds": 1, "startupSeconds": 0}\'}}',
    )
    kubectl("apply", "-n", ns, "-f", "-", input=batch)
    assert used(kubectl, ns) == {"count/pods": "1", "requests.cpu": "700m"}

    def finished() -> bool:
        phase = kubectl("get", "pod", "batch", "-n", ns, "-o", "jsonpath={.status.phase}").stdout
        return phase == "Succeeded"

    eventually(finished, timeout=30)
    eventually(lambda: used(kubectl, ns) == {"count/pods": "1", "requests.cpu": "0"}, timeout=10)
    kubectl("apply", "-n", ns, "-f", "-", input=pod("next", cpu="700m"))


LIMITS = """
apiVersion: v1
kind: LimitRange
metadata: {name: bounds}
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m}
    max: {cpu: "1"}
    maxLimitRequestRatio: {memory: "2"}
  - type: PersistentVolumeClaim
    max: {storage: 5Gi}
"""


def test_limitrange_defaults_let_a_bare_pod_into_a_quota(kubectl: Kubectl, ns: str) -> None:
    kubectl("apply", "-n", ns, "-f", "-", input=LIMITS)
    stored = json.loads(kubectl("get", "limitrange", "bounds", "-n", ns, "-o", "json").stdout)
    # The API server's defaulting: defaultRequest falls back to default (memory).
    assert stored["spec"]["limits"][0]["defaultRequest"] == {"cpu": "100m", "memory": "256Mi"}
    assert kubectl("get", "limits", "-n", ns).stdout.split()[:3] == ["NAME", "CREATED", "AT"]
    make_quota(kubectl, ns, "requests.cpu=1,limits.memory=1Gi")
    # No resources at all: LimitRanger fills them in before quota admission looks.
    kubectl("apply", "-n", ns, "-f", "-", input=pod("bare"))
    created = json.loads(kubectl("get", "pod", "bare", "-n", ns, "-o", "json").stdout)
    assert created["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "256Mi"},
    }
    assert created["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container app; "
        "cpu, memory limit for container app"
    )
    assert used(kubectl, ns) == {"limits.memory": "256Mi", "requests.cpu": "100m"}

    big = pod("big").replace("resources: {}", "resources: {limits: {cpu: 2}}")
    too_big = kubectl("apply", "-n", ns, "-f", "-", input=big, check=False)
    assert (
        'pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2'
    ) in too_big.stderr, too_big.stderr
    ratio = pod("ratio").replace(
        "resources: {}",
        "resources: {requests: {cpu: 100m, memory: 128Mi}, limits: {memory: 1Gi}}",
    )
    refused = kubectl("apply", "-n", ns, "-f", "-", input=ratio, check=False)
    assert (
        'pods "ratio" is forbidden: memory max limit to request ratio per Container is 2, '
        "but provided ratio is 8.000000"
    ) in refused.stderr, refused.stderr
    claim = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Gi}}
"""
    refused = kubectl("apply", "-n", ns, "-f", "-", input=claim, check=False)
    assert (
        'persistentvolumeclaims "data" is forbidden: maximum storage usage per '
        "PersistentVolumeClaim is 5Gi, but request is 10Gi"
    ) in refused.stderr, refused.stderr
    described = kubectl("describe", "namespace", ns).stdout
    assert re.search(r"Container\s+cpu\s+-\s+1\s+100m\s+500m\s+-", described), described


def test_invalid_limitranges_are_refused(kubectl: Kubectl, ns: str) -> None:
    bad = """
apiVersion: v1
kind: LimitRange
metadata: {name: bad}
spec:
  limits:
  - type: Container
    min: {cpu: "2"}
    max: {cpu: "1"}
  - type: Pod
    default: {cpu: 1}
"""
    refused = kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
    assert 'The LimitRange "bad" is invalid:' in refused.stderr, refused.stderr
    assert (
        'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1'
        in (refused.stderr)
    )
    assert "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'" in (
        refused.stderr
    )


def test_a_growing_claim_is_charged_what_it_adds(kubectl: Kubectl, ns: str) -> None:
    make_quota(kubectl, ns, "requests.storage=4Gi", name="disk")
    claim = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
"""
    kubectl("apply", "-n", ns, "-f", "-", input=claim)

    def phase() -> str:
        out = kubectl("get", "pvc", "data", "-n", ns, "-o", "jsonpath={.status.phase}")
        return out.stdout

    eventually(lambda: phase() == "Bound")

    def grow(size: str) -> Any:
        patch = json.dumps({"spec": {"resources": {"requests": {"storage": size}}}})
        return kubectl("patch", "pvc", "data", "-n", ns, "-p", patch, check=False)

    assert grow("3Gi").returncode == 0
    assert used(kubectl, ns, "disk") == {"requests.storage": "3Gi"}
    refused = grow("5Gi")
    assert (
        'persistentvolumeclaims "data" is forbidden: exceeded quota: disk, requested: '
        "requests.storage=2Gi, used: requests.storage=3Gi, limited: requests.storage=4Gi"
    ) in refused.stderr, refused.stderr
