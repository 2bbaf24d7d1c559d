"""The root CA certificate publisher: kube-root-ca.crt in every namespace, kept as published."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from kubeward.kube.registry import REGISTRY
from kubeward.kube.status import StatusError
from kubeward.sim.api.rest import DeleteOptions
from kubeward.sim.cluster import SYSTEM_NAMESPACES, SimCluster
from kubeward.sim.control.rootcacert import DESCRIPTION, NAME, RootCACertPublisher
from kubeward.sim.scenarios.model import Scenario
from simproc import until

CONFIGMAPS = REGISTRY.get("", "v1", "configmaps")
NAMESPACES = REGISTRY.get("", "v1", "namespaces")
QUOTAS = REGISTRY.get("", "v1", "resourcequotas")
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def new_cluster(ca: str | None) -> SimCluster:
    sim = SimCluster(Scenario.model_validate({"name": "t"}), simulate=False)
    sim.tokens.ca_pem = ca.encode() if ca is not None else None  # as `kubeward sim --tls` sets
    sim.bootstrap()
    return sim


@pytest.fixture
async def sim() -> AsyncIterator[SimCluster]:
    sim = new_cluster(CA)
    (publisher,) = [c for c in sim.controllers if isinstance(c, RootCACertPublisher)]
    task = asyncio.get_running_loop().create_task(publisher.run())
    yield sim
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def published(sim: SimCluster, namespace: str) -> dict[str, Any] | None:
    current = sim.store.get(("", "configmaps"), f"{namespace}/{NAME}")
    return current.decode() if current is not None else None


async def test_every_namespace_gets_the_ca(sim: SimCluster) -> None:
    assert NAMESPACES is not None
    sim.api.create(NAMESPACES, "", {"metadata": {"name": "shop"}})
    for namespace in (*SYSTEM_NAMESPACES, "shop"):
        configmap = await until(lambda ns=namespace: published(sim, ns))
        assert configmap["data"] == {"ca.crt": CA}
        assert configmap["metadata"]["annotations"] == {"kubernetes.io/description": DESCRIPTION}


async def test_a_deleted_or_edited_one_is_put_back(sim: SimCluster) -> None:
    assert CONFIGMAPS is not None
    first = await until(lambda: published(sim, "default"))
    sim.api.delete(CONFIGMAPS, "default", NAME, DeleteOptions())
    again = await until(lambda: published(sim, "default"))
    assert again["metadata"]["uid"] != first["metadata"]["uid"]

    edited = dict(again, data={"ca.crt": "mine", "extra": "x"})
    edited["metadata"]["annotations"] = {"team": "a"}
    sim.api.update(CONFIGMAPS, "default", NAME, edited)

    def restored() -> dict[str, Any] | None:
        current = published(sim, "default")
        return current if current and current["data"] == {"ca.crt": CA} else None

    fixed = await until(restored)
    # Its other annotations stay; the description comes back.
    assert fixed["metadata"]["annotations"] == {
        "team": "a",
        "kubernetes.io/description": DESCRIPTION,
    }


async def test_a_quota_that_refuses_it_is_retried(sim: SimCluster) -> None:
    assert NAMESPACES is not None and QUOTAS is not None and CONFIGMAPS is not None
    await until(lambda: published(sim, "default"))
    quota = {"metadata": {"name": "none"}, "spec": {"hard": {"count/configmaps": "0"}}}
    sim.api.create(QUOTAS, "default", quota)
    current = sim.api.get(QUOTAS, "default", "none").decode()
    current["status"] = {"hard": {"count/configmaps": "0"}, "used": {"count/configmaps": "0"}}
    sim.api.update(QUOTAS, "default", "none", current, subresource="status")
    sim.api.delete(CONFIGMAPS, "default", NAME, DeleteOptions())
    with pytest.raises(StatusError, match="exceeded quota"):  # what the publisher meets too
        sim.api.create(CONFIGMAPS, "default", {"metadata": {"name": "probe"}})
    await asyncio.sleep(0.2)
    assert published(sim, "default") is None
    sim.api.delete(QUOTAS, "default", "none", DeleteOptions())
    await until(lambda: published(sim, "default"), timeout=5)


def test_without_tls_there_is_no_ca_to_publish() -> None:
    sim = new_cluster(None)
    (publisher,) = [c for c in sim.controllers if isinstance(c, RootCACertPublisher)]
    for namespace in SYSTEM_NAMESPACES:
        publisher.reconcile(namespace)
        assert published(sim, namespace) is None
