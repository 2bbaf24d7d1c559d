"""The official ``kubernetes`` Python client against ``kubeward sim``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kubeward.sim.control.rootcacert import NAME as ROOT_CA
from simproc import SimProcess, eventually, start_sim

pytestmark = pytest.mark.e2e


def _core(sim: SimProcess) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(sim.kubeconfig)))


@pytest.fixture(scope="module")
def core(sim: SimProcess) -> client.CoreV1Api:
    return _core(sim)


def _create_namespace(core: client.CoreV1Api, name: str) -> None:
    """A new namespace, once it has its first ConfigMap (kube-root-ca.crt, as on a real
    cluster), so that the tests' lists and quota counts know what is in it."""
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))

    def has_root_ca() -> bool:
        maps = core.list_namespaced_config_map(name, field_selector=f"metadata.name={ROOT_CA}")
        return bool(maps.items)

    eventually(has_root_ca)


def _bulk_configmaps(sim: SimProcess, ns: str, names: list[str]) -> None:
    """Create many objects fast: several keep-alive HTTP clients in parallel."""

    def create(chunk: list[str]) -> None:
        with sim.client() as http:
            for name in chunk:
                r = http.post(
                    f"/api/v1/namespaces/{ns}/configmaps",
                    json={"metadata": {"name": name}, "data": {"n": name}},
                )
                assert r.status_code == 201, r.text

    chunks = [names[i::4] for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, chunks))


def test_created_objects_carry_server_metadata(core: client.CoreV1Api) -> None:
    _create_namespace(core, "meta")
    cm = core.create_namespaced_config_map(
        "meta",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name="gen-"), data={"a": "b"}),
    )
    assert cm.metadata.name.startswith("gen-") and len(cm.metadata.name) == 9
    assert cm.metadata.uid and cm.metadata.creation_timestamp is not None
    assert int(cm.metadata.resource_version) > 0
    ns = core.read_namespace("meta")
    assert ns.metadata.uid and ns.status.phase == "Active"


def test_paginated_list_returns_each_object_once_while_writes_continue(
    sim: SimProcess, core: client.CoreV1Api
) -> None:
    ns = "paging"
    _create_namespace(core, ns)
    names = [f"cm-{i:05d}" for i in range(5000)]
    _bulk_configmaps(sim, ns, names)

    first = core.list_namespaced_config_map(ns, limit=500)
    snapshot_rv = int(first.metadata.resource_version)
    # The namespace's kube-root-ca.crt sorts after cm-*: it is the last item of the snapshot.
    assert first.metadata._continue and first.metadata.remaining_item_count == 4501

    stop = threading.Event()
    writes = {"n": 0}

    def writer() -> None:
        # Updates, deletes and creates while the client pages through the snapshot.
        with sim.client() as http:
            i = 0
            while not stop.is_set():
                http.post(
                    f"/api/v1/namespaces/{ns}/configmaps", json={"metadata": {"name": f"new-{i}"}}
                )
                http.patch(
                    f"/api/v1/namespaces/{ns}/configmaps/{names[i]}",
                    content=json.dumps({"data": {"changed": "yes"}}),
                    headers={"Content-Type": "application/merge-patch+json"},
                )
                http.delete(f"/api/v1/namespaces/{ns}/configmaps/{names[-1 - i]}")
                writes["n"] += 3
                i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen = [item.metadata.name for item in first.items]
        token = first.metadata._continue
        while token:
            page = core.list_namespaced_config_map(ns, limit=500, _continue=token)
            assert int(page.metadata.resource_version) == snapshot_rv
            for item in page.items:
                assert int(item.metadata.resource_version) <= snapshot_rv
            seen.extend(item.metadata.name for item in page.items)
            token = page.metadata._continue
    finally:
        stop.set()
        thread.join()
    assert writes["n"] > 0
    assert len(seen) == len(set(seen)) == 5001
    assert seen == [*names, ROOT_CA]  # the snapshot, in key order, untouched by later writes
    now = core.list_namespaced_config_map(ns)
    assert len(now.items) != 5001 or any(i.metadata.name.startswith("new-") for i in now.items)


def test_watch_resumed_from_a_resource_version_misses_nothing(core: client.CoreV1Api) -> None:
    ns = "resume"
    _create_namespace(core, ns)
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    for i in range(30):
        core.create_namespaced_config_map(
            ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"w{i}"))
        )
    core.patch_namespaced_config_map("w3", ns, {"data": {"x": "1"}})
    core.delete_namespaced_config_map("w4", ns)

    events: list[tuple[str, str]] = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=10
    ):
        name = ev["object"].metadata.name
        if name == "default":
            continue
        events.append((ev["type"], name))
        if len(events) == 32:
            w.stop()
    assert events[:30] == [("ADDED", f"w{i}") for i in range(30)]
    assert events[30:] == [("MODIFIED", "w3"), ("DELETED", "w4")]


def test_label_selector_watch_sees_objects_enter_and_leave(core: client.CoreV1Api) -> None:
    ns = "selwatch"
    _create_namespace(core, ns)
    rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="s", labels={"tier": "db"}))
    )
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"tier": "web"}}})
    core.patch_namespaced_config_map("s", ns, {"metadata": {"labels": {"tier": "db"}}})
    got = []
    w = watch.Watch()
    for ev in w.stream(
        core.list_namespaced_config_map,
        ns,
        resource_version=rv,
        label_selector="tier=web",
        timeout_seconds=5,
    ):
        got.append((ev["type"], ev["object"].metadata.labels["tier"]))
        if len(got) == 2:
            w.stop()
    assert got == [("ADDED", "web"), ("DELETED", "db")]


@pytest.fixture(scope="module")
def small_window_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    proc = start_sim(tmp_path_factory.mktemp("small"), "--watch-cache-size", "20")
    yield proc
    proc.stop()


def test_expired_resource_version_yields_410(small_window_sim: SimProcess) -> None:
    core = _core(small_window_sim)
    old_rv = core.list_namespaced_config_map("default").metadata.resource_version
    for i in range(40):
        core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"e{i}"))
        )
    with pytest.raises(ApiException) as info:
        for _ in watch.Watch().stream(
            core.list_namespaced_config_map, "default", resource_version=old_rv, timeout_seconds=5
        ):
            pass
    assert info.value.status == 410


def test_expired_continue_token_yields_410(small_window_sim: SimProcess) -> None:
    core = _core(small_window_sim)
    _create_namespace(core, "expire")
    for i in range(10):
        core.create_namespaced_config_map(
            "expire", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}"))
        )
    page = core.list_namespaced_config_map("expire", limit=3)
    for i in range(30):
        core.create_namespaced_config_map(
            "expire", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"later{i}"))
        )
    with pytest.raises(ApiException) as info:
        core.list_namespaced_config_map("expire", limit=3, _continue=page.metadata._continue)
    assert info.value.status == 410
    assert json.loads(info.value.body)["reason"] == "Expired"


def _count(core: client.CoreV1Api, ns: str) -> tuple[int, str]:
    pods = core.list_namespaced_pod(ns)
    return len(pods.items), pods.metadata.resource_version


def test_bad_input_gets_the_right_status_and_changes_nothing(
    sim: SimProcess, core: client.CoreV1Api
) -> None:
    ns = "badinput"
    _create_namespace(core, ns)
    before = _count(core, ns)

    with sim.client() as http:
        r = http.post(
            f"/api/v1/namespaces/{ns}/pods",
            content=b'{"metadata": {"name": ',
            headers={"Content-Type": "application/json"},
        )
    assert r.status_code == 400
    assert r.json()["kind"] == "Status" and r.json()["reason"] == "BadRequest"

    with pytest.raises(ApiException) as bad_name:
        core.create_namespaced_pod(
            ns,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="Bad_Name"),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]),
            ),
        )
    status = json.loads(bad_name.value.body)
    assert bad_name.value.status == 422 and status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["metadata.name"]

    with pytest.raises(ApiException) as no_image:
        core.create_namespaced_pod(
            ns, {"metadata": {"name": "noimage"}, "spec": {"containers": [{"name": "c"}]}}
        )
    status = json.loads(no_image.value.body)
    assert no_image.value.status == 422
    assert status["message"] == (
        'Pod "noimage" is invalid: spec.containers[0].image: Required value'
    )
    assert status["details"]["causes"] == [
        {
            "reason": "FieldValueRequired",
            "message": "Required value",
            "field": "spec.containers[0].image",
        }
    ]
    assert _count(core, ns) == before  # no object and not even a new resourceVersion


def test_update_with_stale_resource_version_conflicts(core: client.CoreV1Api) -> None:
    ns = "conflict"
    _create_namespace(core, ns)
    cm = core.create_namespaced_config_map(
        ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c"), data={"v": "1"})
    )
    cm.data = {"v": "2"}
    core.replace_namespaced_config_map("c", ns, cm)
    cm.data = {"v": "3"}  # still carries the old resourceVersion
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("c", ns, cm)
    assert info.value.status == 409
    body = json.loads(info.value.body)
    assert body["reason"] == "Conflict"
    assert "the object has been modified" in body["message"]
    assert core.read_namespaced_config_map("c", ns).data == {"v": "2"}


def test_tls_kubeconfig_and_wrong_token(sim: SimProcess, tmp_path: Path) -> None:
    assert sim.server.startswith("https://")
    with sim.client() as http:
        r = http.get("/api/v1/namespaces", headers={"Authorization": "Bearer wrong"})
        # public paths: open to anonymous requests, but a wrong token is refused there too
        assert http.get("/version", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{sim.server}/version", verify=sim.ssl_context()).status_code == 200
    assert r.status_code == 401
    assert r.json() == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_resource_quota_refusal_is_a_typed_403(core: client.CoreV1Api) -> None:
    """What a Python operator sees: the quota's status as typed models, and a 403 whose Status
    body names the quota, once a create would exceed it."""
    _create_namespace(core, "quota-client")
    core.create_namespaced_resource_quota(
        "quota-client",
        client.V1ResourceQuota(
            metadata=client.V1ObjectMeta(name="maps"),
            spec=client.V1ResourceQuotaSpec(hard={"count/configmaps": "2"}),
        ),
    )

    def synced() -> client.V1ResourceQuota | None:
        rq = core.read_namespaced_resource_quota_status("maps", "quota-client")
        return rq if rq.status and rq.status.used else None

    rq = eventually(synced)
    assert rq.status.hard == {"count/configmaps": "2"}
    assert rq.status.used == {"count/configmaps": "1"}  # the namespace's kube-root-ca.crt
    core.create_namespaced_config_map(
        "quota-client", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="one"))
    )
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map(
            "quota-client", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="two"))
        )
    assert refused.value.status == 403
    body = json.loads(refused.value.body)
    assert body["reason"] == "Forbidden"
    assert body["details"] == {"name": "two", "kind": "configmaps"}
    assert body["message"] == (
        'configmaps "two" is forbidden: exceeded quota: maps, requested: count/configmaps=1, '
        "used: count/configmaps=2, limited: count/configmaps=2"
    )
    listed = core.list_resource_quota_for_all_namespaces(field_selector="metadata.name=maps")
    assert [q.status.used for q in listed.items] == [{"count/configmaps": "2"}]


def test_rbac_tokens_and_access_reviews_through_the_typed_apis(sim: SimProcess) -> None:
    """TokenRequest (what ``kubectl create token`` calls), SelfSubjectReview, access reviews
    and the RBAC kinds, as typed objects; a token's user gets what its bindings grant."""
    admin = config.new_client_from_config(config_file=str(sim.kubeconfig))
    core, rbac_api = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    _create_namespace(core, "tokens")
    core.create_namespaced_service_account(
        "tokens", client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="bot"))
    )
    issued = core.create_namespaced_service_account_token(
        "bot",
        "tokens",
        client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    )
    assert issued.status.token and issued.status.expiration_timestamp is not None
    with pytest.raises(ApiException) as short:
        core.create_namespaced_service_account_token(
            "bot",
            "tokens",
            client.AuthenticationV1TokenRequest(
                spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=60)
            ),
        )
    assert short.value.status == 422
    assert (
        "may not specify a duration less than 10 minutes" in json.loads(short.value.body)["message"]
    )

    bot_config = client.Configuration()
    bot_config.host = admin.configuration.host
    bot_config.ssl_ca_cert = admin.configuration.ssl_ca_cert
    bot_config.verify_ssl = admin.configuration.verify_ssl
    bot_config.api_key = {"authorization": f"Bearer {issued.status.token}"}
    bot = client.ApiClient(bot_config)

    me = client.AuthenticationV1Api(bot).create_self_subject_review(client.V1SelfSubjectReview())
    assert me.status.user_info.username == "system:serviceaccount:tokens:bot"
    assert me.status.user_info.groups == [
        "system:serviceaccounts",
        "system:serviceaccounts:tokens",
        "system:authenticated",
    ]

    def can(verb: str, resource: str) -> bool:
        review = client.AuthorizationV1Api(bot).create_self_subject_access_review(
            client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(
                    resource_attributes=client.V1ResourceAttributes(
                        namespace="tokens", verb=verb, resource=resource
                    )
                )
            )
        )
        return bool(review.status.allowed)

    assert not can("list", "configmaps")
    with pytest.raises(ApiException) as refused:
        client.CoreV1Api(bot).list_namespaced_config_map("tokens")
    assert refused.value.status == 403
    body = json.loads(refused.value.body)
    assert body["reason"] == "Forbidden" and body["details"] == {"kind": "configmaps"}

    rbac_api.create_namespaced_role_binding(
        "tokens",
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="bot-view"),
            role_ref=client.V1RoleRef(
                api_group="rbac.authorization.k8s.io", kind="ClusterRole", name="view"
            ),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="bot", namespace="tokens")],
        ),
    )
    assert can("list", "configmaps") and not can("delete", "configmaps")
    maps = client.CoreV1Api(bot).list_namespaced_config_map("tokens").items
    assert [m.metadata.name for m in maps] == [ROOT_CA]
    review = client.AuthorizationV1Api(admin).create_subject_access_review(
        client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user="system:serviceaccount:tokens:bot",
                resource_attributes=client.V1ResourceAttributes(
                    namespace="tokens", verb="list", resource="configmaps"
                ),
            )
        )
    )
    assert review.status.allowed and review.status.reason == (
        'RBAC: allowed by RoleBinding "bot-view/tokens" of ClusterRole "view" to '
        'ServiceAccount "bot/tokens"'
    )

    # the token stops working once its account is gone
    core.delete_namespaced_service_account("bot", "tokens")
    with pytest.raises(ApiException) as gone:
        client.CoreV1Api(bot).list_namespaced_config_map("tokens")
    assert gone.value.status == 401
