"""Store events reach only the listeners of their kind, and no controller misses one it uses.

Controllers declare the kinds their ``keys_for`` reads (``Controller.watches``); the store
delivers nothing else to them. The second test replays every event of a running ``demo``
cluster (all workload kinds, Services, PDBs, HPAs, Events, Leases) to each controller and
checks that the events it is not sent are ones it would have ignored.
"""

from __future__ import annotations

import asyncio

from kubeward.kube.registry import REGISTRY
from kubeward.sim.api.rest import ObjectAPI
from kubeward.sim.clock import SimClock
from kubeward.sim.cluster import SimCluster
from kubeward.sim.control.base import Controller
from kubeward.sim.scenarios.model import load_scenario
from kubeward.sim.store.objects import StoreEvent
from kubeward.sim.store.store import Store

CM = REGISTRY.get("", "v1", "configmaps")
NS = REGISTRY.get("", "v1", "namespaces")
assert CM is not None and NS is not None


def test_listeners_get_the_kinds_they_ask_for_until_removed() -> None:
    store = Store([rt.storage_key for rt in REGISTRY.storage_types()])
    api = ObjectAPI(store, SimClock())
    everything: list[tuple[str, str]] = []
    configmaps: list[tuple[str, str]] = []

    def on_any(event: StoreEvent) -> None:
        everything.append(event.storage_key)

    def on_configmap(event: StoreEvent) -> None:
        configmaps.append(event.storage_key)

    store.add_listener(on_any)
    store.add_listener(on_configmap, [CM.storage_key])
    api.create(NS, "", {"metadata": {"name": "a"}})
    api.create(CM, "a", {"metadata": {"name": "x"}})
    assert everything == [NS.storage_key, CM.storage_key]
    assert configmaps == [CM.storage_key]

    store.remove_listener(on_configmap)
    api.create(CM, "a", {"metadata": {"name": "y"}})
    assert configmaps == [CM.storage_key]
    assert everything[-1] == CM.storage_key


async def test_no_controller_is_denied_an_event_it_would_use() -> None:
    c = SimCluster(load_scenario("demo"), clock=SimClock(speed=60))
    seen: list[StoreEvent] = []
    c.store.add_listener(seen.append)
    c.bootstrap()
    c.start()
    try:
        await asyncio.sleep(6)  # six simulated minutes: rollouts, jobs, a cron run, faults
    finally:
        await c.stop()
    kinds = {event.storage_key for event in seen}
    for expected in [
        ("", "pods"),
        ("", "events"),
        ("coordination.k8s.io", "leases"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("policy", "poddisruptionbudgets"),
        ("discovery.k8s.io", "endpointslices"),
    ]:
        assert expected in kinds, f"the run produced no {expected} events"
    routed = [x for x in c.controllers if isinstance(x, Controller) and x.watches is not None]
    assert len(routed) >= 8
    for controller in routed:
        watched = set(controller.watches or ())
        for event in seen:
            if event.storage_key not in watched:
                assert controller.keys_for(event) == [], (controller.name, event.storage_key)
