"""The load model over real HTTP: API Priority and Fairness objects applied with kubectl
throttle a service account (queued, then 429 + Retry-After) while system requests keep
succeeding; /metrics through `kubectl get --raw`; an OOM kill ends watches and the server
comes back after its restart time."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from kubectlhelp import Kubectl, _debian_kubectl
from simproc import SimProcess, eventually, grant_cluster_role, start_sim

pytestmark = pytest.mark.e2e

AGENT = "system:serviceaccount:monitoring:agent"
AGENT_TOKEN = "agent-token-0123456789"

THROTTLE = """
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: PriorityLevelConfiguration
metadata: {name: agent-limited}
spec:
  type: Limited
  limited:
    nominalConcurrencyShares: 1
    limitResponse:
      type: Queue
      queuing: {queues: 1, handSize: 1, queueLengthLimit: 2}
---
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: agent-throttle}
spec:
  priorityLevelConfiguration: {name: agent-limited}
  matchingPrecedence: 500
  distinguisherMethod: {type: ByUser}
  rules:
  - subjects:
    - kind: ServiceAccount
      serviceAccount: {namespace: monitoring, name: agent}
    resourceRules:
    - verbs: ["*"]
      apiGroups: ["*"]
      resources: ["*"]
      namespaces: ["*"]
      clusterScope: true
"""


@pytest.fixture(scope="module")
def slow_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """A deliberately small API server (a fiftieth of a core): requests take long enough to
    pile up in APF's queues."""
    tmp = tmp_path_factory.mktemp("apf")
    tokens = tmp / "tokens.csv"
    tokens.write_text(
        f'{AGENT_TOKEN},{AGENT},agent-uid,"system:serviceaccounts,system:serviceaccounts:monitoring"\n'
    )
    sim = start_sim(
        tmp,
        "--scenario",
        "tiny",
        "--apiserver-cores",
        "0.02",
        "--token-auth-file",
        str(tokens),
        "--audit-log",
        str(tmp / "audit.log"),
    )
    grant_cluster_role(sim, "view", AGENT)  # the agent lists pods, as a monitoring agent may
    yield sim
    sim.stop()


@pytest.fixture
def kubectl(slow_sim: SimProcess, tmp_path: Path) -> Kubectl:
    return Kubectl(_debian_kubectl(), slow_sim, tmp_path)


def _flood(sim: SimProcess, n: int) -> list[httpx.Response]:
    """``n`` concurrent cluster-wide pod LISTs (no resourceVersion) as the agent."""
    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    with httpx.Client(base_url=sim.server, verify=sim.ssl_context(), timeout=60) as client:
        client.get("/version")  # connection set up before the burst
        with ThreadPoolExecutor(n) as pool:
            return list(pool.map(lambda _: client.get("/api/v1/pods", headers=headers), range(n)))


def _metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_a_flow_schema_throttles_one_service_account_while_system_requests_succeed(
    slow_sim: SimProcess, kubectl: Kubectl
) -> None:
    kubectl("apply", "-f", "-", input=THROTTLE)
    schema_uid = kubectl(
        "get", "flowschema", "agent-throttle", "-o", "jsonpath={.metadata.uid}"
    ).stdout
    admin_results: list[int] = []

    def admin_traffic() -> None:  # system:masters is exempt: never queued or rejected
        for _ in range(3):
            admin_results.append(kubectl("get", "nodes", check=False).returncode)

    admin = threading.Thread(target=admin_traffic)
    admin.start()
    responses = _flood(slow_sim, 40)
    admin.join()
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 429}
    assert codes.count(429) >= 10 and codes.count(200) >= 3
    rejected = next(r for r in responses if r.status_code == 429)
    assert rejected.headers["Retry-After"] == "1"
    body = rejected.json()
    assert body["reason"] == "TooManyRequests" and body["code"] == 429
    assert rejected.headers["X-Kubernetes-PF-FlowSchema-UID"] == schema_uid
    accepted = next(r for r in responses if r.status_code == 200)
    assert accepted.headers["X-Kubernetes-PF-FlowSchema-UID"] == schema_uid
    assert admin_results == [0, 0, 0]

    metrics = kubectl("get", "--raw", "/metrics").stdout
    fs = {"flow_schema": "agent-throttle", "priority_level": "agent-limited"}
    assert (
        _metric(metrics, "apiserver_flowcontrol_rejected_requests_total", **fs, reason="queue-full")
        >= 10
    )
    waited = _metric(
        metrics, "apiserver_flowcontrol_request_wait_duration_seconds_count", **fs, execute="true"
    ) - _metric(
        metrics,
        "apiserver_flowcontrol_request_wait_duration_seconds_bucket",
        **fs,
        execute="true",
        le="0.0",
    )
    assert waited >= 1  # some were queued before they ran
    assert (
        _metric(
            metrics, "apiserver_flowcontrol_nominal_limit_seats", priority_level="agent-limited"
        )
        == 3
    )
    assert (
        _metric(metrics, "apiserver_request_total", verb="LIST", resource="pods", code="429") >= 10
    )
    # the simulated kubelets, controllers and CoreDNS were never rejected
    assert _metric(metrics, "kubeward_sim_client_requests_total", system="true", code="429") == 0
    assert _metric(metrics, "kubeward_sim_client_requests_total", system="true", code="200") > 0

    # Deleting the FlowSchema takes effect at once: the agent is back in workload-low.
    kubectl("delete", "flowschema", "agent-throttle")
    codes = [r.status_code for r in _flood(slow_sim, 20)]
    assert codes == [200] * 20


API_SERVER_FAMILIES = (
    "apiserver_request_total",
    "apiserver_request_duration_seconds_bucket",
    "apiserver_current_inflight_requests",
    "apiserver_flowcontrol_current_inqueue_requests",
    "apiserver_flowcontrol_dispatched_requests_total",
    "apiserver_storage_objects",
    "etcd_request_duration_seconds_bucket",
    "apiserver_watch_events_total",
    "process_resident_memory_bytes",
    "kubeward_sim_clock_held_seconds_total",
)


def test_metrics_name_the_api_server_series(kubectl: Kubectl) -> None:
    # A write goes to etcd and to watchers: the etcd and watch-event series get samples even
    # when this test runs first (counters and histograms appear with their first sample).
    kubectl("create", "configmap", "series-probe", "--from-literal=a=b")

    def complete() -> str | None:
        text = kubectl("get", "--raw", "/metrics").stdout
        if all(re.search(rf"^{f}[{{ ]", text, re.M) for f in API_SERVER_FAMILIES):
            return text
        return None

    try:
        metrics = eventually(complete, timeout=30)
    except AssertionError:
        text = kubectl("get", "--raw", "/metrics").stdout
        missing = [f for f in API_SERVER_FAMILIES if not re.search(rf"^{f}[{{ ]", text, re.M)]
        raise AssertionError(f"no series of {missing} on /metrics") from None
    assert (
        _metric(
            metrics,
            "apiserver_storage_objects",
            resource="flowschemas.flowcontrol.apiserver.k8s.io",
        )
        >= 13
    )
    assert _metric(metrics, "process_resident_memory_bytes") > 400 * 2**20
    assert _metric(metrics, "apiserver_request_total", verb="PUT", resource="leases") > 0
    dns = kubectl(
        "get", "--raw", "/api/v1/namespaces/kube-system/services/kube-dns:metrics/proxy/metrics"
    ).stdout
    assert _metric(dns, "coredns_dns_responses_total", rcode="NOERROR") > 0
    assert _metric(dns, "coredns_dns_responses_total", rcode="SERVFAIL") == 0
    assert _metric(dns, "kubeward_sim_app_dns_lookups_total", result="ok") > 0


def test_audit_log_records_http_requests_with_their_user(
    slow_sim: SimProcess, kubectl: Kubectl
) -> None:
    kubectl("get", "namespaces")
    log = slow_sim.kubeconfig.parent / "audit.log"
    import orjson

    def kubectl_line() -> dict | None:
        for line in log.read_bytes().splitlines():
            event = orjson.loads(line)
            if (
                event["userAgent"].startswith("kubectl")
                and event.get("objectRef", {}).get("resource") == "namespaces"
            ):
                return event
        return None

    event = eventually(kubectl_line, timeout=10)  # the log is flushed at least every second
    assert event["user"]["username"] == "kubeward-admin"
    assert "system:masters" in event["user"]["groups"]
    assert event["verb"] == "list" and event["responseStatus"]["code"] == 200
    assert event["annotations"]["sim.kubeward.io/flow-schema"] == "exempt"
    # the authorizer's decision, as kube-apiserver annotates every request
    assert event["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert event["annotations"]["authorization.k8s.io/reason"] == ""  # system:masters

    headers = {"Authorization": f"Bearer {AGENT_TOKEN}"}
    with httpx.Client(base_url=slow_sim.server, verify=slow_sim.ssl_context(), timeout=60) as c:
        assert c.get("/api/v1/namespaces/default/configmaps", headers=headers).status_code == 200
        assert c.get("/api/v1/namespaces/default/secrets", headers=headers).status_code == 403

    def agent_line(resource: str) -> dict | None:
        for line in log.read_bytes().splitlines():
            event = orjson.loads(line)
            if (
                event["user"]["username"] == AGENT
                and event.get("objectRef", {}).get("resource") == resource
                and event["stage"] == "ResponseComplete"
            ):
                return event
        return None

    allowed = eventually(lambda: agent_line("configmaps"), timeout=10)
    assert allowed["annotations"]["authorization.k8s.io/decision"] == "allow"
    assert allowed["annotations"]["authorization.k8s.io/reason"].startswith(
        'RBAC: allowed by ClusterRoleBinding "view-system-serviceaccount-monitoring-agent" of '
        'ClusterRole "view" to User'
    )
    refused = eventually(lambda: agent_line("secrets"), timeout=10)
    assert refused["responseStatus"]["code"] == 403
    assert refused["annotations"]["authorization.k8s.io/decision"] == "forbid"


# 640Mi: room for the bootstrap objects (RBAC policy included, x100) and a relist after the
# restart, not for a LIST without resourceVersion of the 30 blobs (600Mi also OOM-killed the
# restarted server once the bootstrap policy was added; 720Mi still kills it once).
OOM_SCENARIO = """
name: oom-test
description: one node and an API server with little memory headroom
nodePools: [{name: a, count: 1}]
load:
  capacity: {memory: 640Mi, restartSeconds: 3, objectSizeFactor: 100}
"""


def test_an_oom_kill_ends_watches_and_the_server_returns_after_its_restart(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "oom.yaml"
    scenario.write_text(OOM_SCENARIO)
    sim = start_sim(tmp_path, "--scenario", str(scenario), "--no-tls")
    try:
        with sim.client() as client:
            for i in range(30):  # 30 x 8 KB, priced as 24 MB
                body = {"metadata": {"name": f"blob-{i}"}, "data": {"x": "y" * 8000}}
                assert (
                    client.post("/api/v1/namespaces/default/configmaps", json=body).status_code
                    == 201
                )
            assert client.get("/api/v1/configmaps?resourceVersion=0").status_code == 200
            ended = threading.Event()

            def watch() -> None:
                with client.stream("GET", "/api/v1/configmaps?watch=1&resourceVersion=0") as stream:
                    for _ in stream.iter_lines():
                        pass
                ended.set()

            threading.Thread(target=watch, daemon=True).start()
            time.sleep(0.5)
            # A LIST without resourceVersion decodes everything from etcd: over the limit.
            assert client.get("/api/v1/configmaps").status_code == 503
            assert ended.wait(10), "the watch did not end when the server was killed"
            assert client.get("/api/v1/namespaces").status_code == 503
            eventually(lambda: client.get("/api/v1/namespaces").status_code == 200, timeout=20)
            metrics = client.get("/metrics").text
            assert _metric(metrics, "kubeward_sim_apiserver_restarts_total") == 1
            assert _metric(metrics, "kubeward_sim_apiserver_up") == 1
    finally:
        sim.stop()
