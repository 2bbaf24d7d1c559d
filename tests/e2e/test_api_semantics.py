"""Kubernetes API semantics of ``kubeward sim`` over raw HTTP: discovery, deletion and garbage
collection, subresources, list/watch parameters, content negotiation."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kubeward.sim.control.rootcacert import NAME as ROOT_CA
from simproc import SimProcess, eventually

pytestmark = pytest.mark.e2e

MERGE = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def http(sim: SimProcess) -> Iterator[httpx.Client]:
    with sim.client() as c:
        yield c


@pytest.fixture
def ns(http: httpx.Client, request: pytest.FixtureRequest) -> str:
    name = f"s-{abs(hash(request.node.nodeid)) % 10**8}"
    assert http.post("/api/v1/namespaces", json={"metadata": {"name": name}}).status_code == 201
    # Its first ConfigMap, as on a real cluster: the lists below leave it out.
    eventually(lambda: http.get(f"/api/v1/namespaces/{name}/configmaps/{ROOT_CA}").is_success)
    return name


def own(items: list[dict[str, Any]]) -> list[str]:
    """The names of a list's items, but the namespace's kube-root-ca.crt."""
    return [i["metadata"]["name"] for i in items if i["metadata"]["name"] != ROOT_CA]


def deployment(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }


def ready_pod(name: str, labels: dict[str, str], owner: dict[str, Any] | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner:
        meta["ownerReferences"] = [owner]
    # These tests bind pods themselves: keep the simulator's scheduler away from them.
    return {
        "metadata": meta,
        "spec": {"schedulerName": "test-manual", "containers": [{"name": "c", "image": "nginx"}]},
    }


def test_discovery_documents(http: httpx.Client) -> None:
    api = http.get("/api").json()
    assert api["kind"] == "APIVersions" and api["versions"] == ["v1"]
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    assert groups["flowcontrol.apiserver.k8s.io"]["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in groups["flowcontrol.apiserver.k8s.io"]["versions"]] == [
        "v1",
        "v1beta3",
    ]
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] is True
    assert core["pods/eviction"]["group"] == "policy" and core["pods/eviction"]["verbs"] == [
        "create"
    ]
    assert (core["pods/log"]["kind"], core["pods/log"]["verbs"]) == ("Pod", ["get"])
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale"
    assert apps["deployments/scale"]["group"] == "autoscaling"
    assert http.get("/apis/apps").json()["kind"] == "APIGroup"
    for removed in (
        "/apis/extensions/v1beta1",
        "/apis/apps/v1beta1",
        "/apis/policy/v1beta1/podsecuritypolicies",
        "/apis/extensions/v1beta1/namespaces/default/deployments",
    ):
        r = http.get(removed)
        assert r.status_code == 404 and r.json()["reason"] == "NotFound", removed
    for path in ("/healthz", "/livez", "/readyz"):
        assert httpx.get(http.base_url.join(path), verify=False).text == "ok"


def test_generation_tracks_spec_only_and_status_subresource(http: httpx.Client, ns: str) -> None:
    base = f"/apis/apps/v1/namespaces/{ns}/deployments"
    created = http.post(base, json=deployment("gen")).json()
    assert created["metadata"]["generation"] == 1
    labelled = http.patch(
        f"{base}/gen", headers=MERGE, content=json.dumps({"metadata": {"labels": {"x": "y"}}})
    ).json()
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(
        created["metadata"]["resourceVersion"]
    )
    # Status written through the main resource is ignored; through /status it is kept and the
    # spec part of that request is ignored.
    ignored = http.patch(
        f"{base}/gen", headers=MERGE, content=json.dumps({"status": {"replicas": 7}})
    ).json()
    # (the deployment controller writes status too, but never 7)
    assert ignored.get("status", {}).get("replicas") != 7
    status = http.patch(
        f"{base}/gen/status",
        headers=MERGE,
        content=json.dumps({"spec": {"replicas": 9}, "status": {"replicas": 7}}),
    ).json()
    assert status["status"]["replicas"] == 7 and status["spec"]["replicas"] == 1
    scaled = http.put(
        f"{base}/gen/scale",
        json={
            "apiVersion": "autoscaling/v1",
            "kind": "Scale",
            "metadata": {"name": "gen", "namespace": ns},
            "spec": {"replicas": 4},
        },
    ).json()
    assert scaled["kind"] == "Scale" and scaled["spec"]["replicas"] == 4
    assert scaled["status"]["selector"] == "app=gen"
    assert isinstance(scaled["status"]["replicas"], int)
    final = http.get(f"{base}/gen").json()
    assert final["metadata"]["generation"] == 2 and final["spec"]["replicas"] == 4


def test_noop_update_keeps_resource_version(http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    cm = http.post(url, json={"metadata": {"name": "same"}, "data": {"a": "1"}}).json()
    again = http.put(f"{url}/same", json=cm).json()
    assert again["metadata"]["resourceVersion"] == cm["metadata"]["resourceVersion"]


def test_finalizers_hold_deletion_until_removed(http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    http.post(url, json={"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    deleted = http.delete(f"{url}/held")
    assert deleted.status_code == 200
    assert deleted.json()["metadata"]["deletionTimestamp"]
    assert http.get(f"{url}/held").status_code == 200
    add = http.patch(
        f"{url}/held",
        headers=MERGE,
        content=json.dumps({"metadata": {"finalizers": ["example.com/hold", "another"]}}),
    )
    assert add.status_code == 422  # no new finalizers on an object being deleted
    http.patch(f"{url}/held", headers=MERGE, content=json.dumps({"metadata": {"finalizers": None}}))
    assert http.get(f"{url}/held").status_code == 404


@pytest.mark.parametrize("policy", ["Background", "Foreground", "Orphan"])
def test_propagation_policies(http: httpx.Client, ns: str, policy: str) -> None:
    deploys = f"/apis/apps/v1/namespaces/{ns}/deployments"
    owner = http.post(deploys, json=deployment("owner")).json()
    ref = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "owner",
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pods = f"/api/v1/namespaces/{ns}/pods"
    for i in range(3):
        assert http.post(pods, json=ready_pod(f"dep-{i}", {"app": "owner"}, ref)).status_code == 201
    r = http.request("DELETE", f"{deploys}/owner", json={"propagationPolicy": policy})
    assert r.status_code == 200

    def names() -> list[str]:
        return [p["metadata"]["name"] for p in http.get(pods).json()["items"]]

    eventually(lambda: http.get(f"{deploys}/owner").status_code == 404)
    if policy == "Orphan":
        # The Deployment's own ReplicaSet (and its pod) are orphaned too: look at ours only.
        remaining = [
            p for p in http.get(pods).json()["items"] if p["metadata"]["name"][:4] == "dep-"
        ]
        assert sorted(p["metadata"]["name"] for p in remaining) == ["dep-0", "dep-1", "dep-2"]
        assert all("ownerReferences" not in p["metadata"] for p in remaining)
    else:
        eventually(lambda: names() == [])


def test_eviction_honours_pod_disruption_budget(http: httpx.Client, ns: str) -> None:
    pods = f"/api/v1/namespaces/{ns}/pods"
    for i in range(2):
        http.post(pods, json=ready_pod(f"db-{i}", {"app": "db"}))
        http.post(
            f"{pods}/db-{i}/binding",
            json={
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {"name": f"db-{i}"},
                "target": {"kind": "Node", "name": "tiny-0"},
            },
        )
        http.patch(
            f"{pods}/db-{i}/status",
            headers=MERGE,
            content=json.dumps(
                {
                    "status": {
                        "phase": "Running",
                        "conditions": [{"type": "Ready", "status": "True"}],
                    }
                }
            ),
        )
    http.post(
        f"/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        json={
            "metadata": {"name": "db"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "db"}}},
        },
    )
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "db-0"}}
    first = http.post(f"{pods}/db-0/eviction", json=eviction)
    assert first.status_code == 201
    assert http.get(f"{pods}/db-0").json()["metadata"]["deletionTimestamp"]
    second = http.post(f"{pods}/db-1/eviction", json={**eviction, "metadata": {"name": "db-1"}})
    assert second.status_code == 429
    body = second.json()
    assert body["reason"] == "TooManyRequests"
    assert body["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert body["details"]["causes"][0]["reason"] == "DisruptionBudget"
    assert "deletionTimestamp" not in http.get(f"{pods}/db-1").json()["metadata"]


def test_binding_sets_node_once(http: httpx.Client, ns: str) -> None:
    pods = f"/api/v1/namespaces/{ns}/pods"
    http.post(pods, json=ready_pod("b", {}))
    bind = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "b"},
        "target": {"apiVersion": "v1", "kind": "Node", "name": "tiny-1"},
    }
    assert http.post(f"{pods}/b/binding", json=bind).status_code == 201
    pod = http.get(f"{pods}/b").json()
    assert pod["spec"]["nodeName"] == "tiny-1"
    scheduled = next(c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled")
    assert scheduled["status"] == "True"
    again = http.post(f"{pods}/b/binding", json=bind)
    assert again.status_code == 409 and again.json()["reason"] == "Conflict"
    on_node = http.get(pods, params={"fieldSelector": "spec.nodeName=tiny-1"}).json()
    assert [p["metadata"]["name"] for p in on_node["items"]] == ["b"]


def test_graceful_pod_deletion_is_finished_by_the_kubelet(http: httpx.Client, ns: str) -> None:
    pods = f"/api/v1/namespaces/{ns}/pods"
    http.post(pods, json=ready_pod("g", {}))
    http.post(
        f"{pods}/g/binding",
        json={"target": {"kind": "Node", "name": "tiny-2"}, "metadata": {"name": "g"}},
    )
    pending = http.delete(f"{pods}/g").json()
    assert pending["metadata"]["deletionGracePeriodSeconds"] == 30
    eventually(lambda: http.get(f"{pods}/g").status_code == 404)


def test_deletecollection_with_selector(http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    for i in range(4):
        http.post(url, json={"metadata": {"name": f"d{i}", "labels": {"drop": str(i % 2)}}})
    r = http.delete(url, params={"labelSelector": "drop=1"})
    assert r.status_code == 200 and r.json()["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in r.json()["items"]) == ["d1", "d3"]
    assert sorted(own(http.get(url).json()["items"])) == ["d0", "d2"]


def test_selectors_and_their_errors(http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    for name, env in (("a", "prod"), ("b", "dev"), ("c", "staging")):
        http.post(url, json={"metadata": {"name": name, "labels": {"env": env}}})
    got = http.get(url, params={"labelSelector": "env in (prod,dev),env!=dev"}).json()
    assert [i["metadata"]["name"] for i in got["items"]] == ["a"]
    got = http.get(url, params={"fieldSelector": "metadata.name!=a"}).json()
    assert own(got["items"]) == ["b", "c"]
    bad = http.get(url, params={"fieldSelector": "spec.nodeName=x"})
    assert bad.status_code == 400
    assert bad.json()["message"] == "field label not supported: spec.nodeName"
    bad = http.get(url, params={"labelSelector": "env in (prod"})
    assert bad.status_code == 400 and bad.json()["reason"] == "BadRequest"


def test_resource_version_match_rules(http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    http.post(url, json={"metadata": {"name": "v1"}})
    rv = http.get(url).json()["metadata"]["resourceVersion"]
    http.post(url, json={"metadata": {"name": "v2"}})
    exact = http.get(url, params={"resourceVersion": rv, "resourceVersionMatch": "Exact"}).json()
    assert exact["metadata"]["resourceVersion"] == rv
    assert own(exact["items"]) == ["v1"]
    newer = http.get(
        url, params={"resourceVersion": rv, "resourceVersionMatch": "NotOlderThan"}
    ).json()
    assert own(newer["items"]) == ["v1", "v2"]
    cached = http.get(url, params={"resourceVersion": "0", "limit": "1"}).json()
    assert own(cached["items"]) == ["v1", "v2"]  # served from the watch cache: limit ignored
    r = http.get(url, params={"resourceVersionMatch": "Exact"})
    assert r.status_code == 400
    r = http.get(url, params={"resourceVersion": "999999999"})
    assert r.status_code == 504 and r.json()["reason"] == "Timeout"


def test_table_and_partial_metadata_negotiation(http: httpx.Client) -> None:
    table = http.get(
        "/api/v1/nodes",
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    ).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
    ]
    assert table["rows"][0]["cells"][0] == "tiny-0"
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    partial = http.get(
        "/api/v1/nodes",
        headers={"Accept": "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"},
    ).json()
    assert partial["kind"] == "PartialObjectMetadataList"
    assert set(partial["items"][0]) == {"kind", "apiVersion", "metadata"}
    r = http.get("/api/v1/nodes", headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert r.status_code == 406


def test_events_are_served_by_both_event_apis(http: httpx.Client, ns: str) -> None:
    core = http.post(
        f"/api/v1/namespaces/{ns}/events",
        json={
            "metadata": {"name": "e1"},
            "reason": "Started",
            "message": "Started container c",
            "type": "Normal",
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns},
            "source": {"component": "kubelet"},
            "count": 1,
        },
    )
    assert core.status_code == 201
    new = http.get(f"/apis/events.k8s.io/v1/namespaces/{ns}/events/e1").json()
    assert new["apiVersion"] == "events.k8s.io/v1"
    assert new["note"] == "Started container c" and new["regarding"]["name"] == "p"
    assert new["deprecatedCount"] == 1
    by_object = http.get(
        f"/api/v1/namespaces/{ns}/events",
        params={"fieldSelector": "involvedObject.name=p,reason=Started"},
    )
    assert [e["metadata"]["name"] for e in by_object.json()["items"]] == ["e1"]


def test_flowcontrol_versions_share_storage(http: httpx.Client) -> None:
    plc = {
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3",
        "kind": "PriorityLevelConfiguration",
        "metadata": {"name": "slow-lane"},
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 5,
                "limitResponse": {
                    "type": "Queue",
                    "queuing": {"queues": 16, "handSize": 4, "queueLengthLimit": 50},
                },
            },
        },
    }
    r = http.post(
        "/apis/flowcontrol.apiserver.k8s.io/v1beta3/prioritylevelconfigurations", json=plc
    )
    assert r.status_code == 201, r.text
    v1 = http.get("/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations/slow-lane")
    assert v1.json()["apiVersion"] == "flowcontrol.apiserver.k8s.io/v1"
    assert v1.json()["spec"]["limited"]["nominalConcurrencyShares"] == 5


def test_dry_run_writes_nothing(http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    before = http.get(url).json()["metadata"]["resourceVersion"]
    r = http.post(url, params={"dryRun": "All"}, json={"metadata": {"name": "dry"}})
    assert r.status_code == 201 and r.json()["metadata"]["name"] == "dry"
    assert http.get(f"{url}/dry").status_code == 404
    assert http.get(url).json()["metadata"]["resourceVersion"] == before


def test_creating_in_missing_or_terminating_namespace(http: httpx.Client, ns: str) -> None:
    r = http.post("/api/v1/namespaces/nope/configmaps", json={"metadata": {"name": "x"}})
    assert r.status_code == 404 and r.json()["message"] == 'namespaces "nope" not found'
    http.post(
        f"/api/v1/namespaces/{ns}/configmaps",
        json={"metadata": {"name": "keep", "finalizers": ["example.com/x"]}},
    )
    http.delete(f"/api/v1/namespaces/{ns}")
    r = http.post(f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": "late"}})
    assert r.status_code == 403
    assert r.json()["details"]["causes"][0]["reason"] == "NamespaceTerminating"
    assert http.get(f"/api/v1/namespaces/{ns}").json()["status"]["phase"] == "Terminating"


def test_watch_bookmarks_and_timeout(sim: SimProcess, http: httpx.Client, ns: str) -> None:
    url = f"/api/v1/namespaces/{ns}/configmaps"
    rv = http.get(url).json()["metadata"]["resourceVersion"]
    started = time.monotonic()
    with http.stream(
        "GET",
        url,
        params={
            "watch": "1",
            "resourceVersion": rv,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "3",
        },
    ) as r:
        lines = [json.loads(line) for line in r.iter_lines() if line]
    elapsed = time.monotonic() - started
    assert 2.5 < elapsed < 10
    assert lines and all(e["type"] == "BOOKMARK" for e in lines)  # the fixture sets 1 s
    assert int(lines[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv)
    assert lines[-1]["object"]["kind"] == "ConfigMap"


def test_sigterm_ends_watches_and_exits_cleanly(tmp_path: Any) -> None:
    from simproc import start_sim

    proc = start_sim(tmp_path)
    with (
        proc.client() as http,
        http.stream(
            "GET", "/api/v1/configmaps", params={"watch": "1", "timeoutSeconds": "600"}
        ) as r,
    ):
        assert r.status_code == 200
        proc.proc.terminate()
        started = time.monotonic()
        for _ in r.iter_raw():
            pass
        assert time.monotonic() - started < 10
    assert proc.proc.wait(timeout=15) == 0


def test_sim_prints_the_export_line_and_serves_plain_http_on_request(tmp_path: Any) -> None:
    from simproc import start_sim

    proc = start_sim(tmp_path, "--no-tls")
    try:
        assert proc.server.startswith("http://127.0.0.1:")
        with proc.client() as http:
            assert http.get("/api/v1/nodes").json()["kind"] == "NodeList"
        printed = proc.log_file.read_text()
        assert f"export KUBECONFIG={proc.kubeconfig.resolve()}" in printed
        assert oct(proc.kubeconfig.stat().st_mode & 0o777) == "0o600"
    finally:
        proc.stop()
