"""Creating the API Priority and Fairness objects kube-apiserver creates at start.

The objects themselves (kube-apiserver's bootstrap configuration) live in
``kubeward.kube.flowcontrol_defaults``; users may patch or delete the suggested ones and the
simulator's flow control follows immediately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeward.kube.flowcontrol import FLOWCONTROL
from kubeward.kube.flowcontrol_defaults import AUTOUPDATE, flow_schemas, priority_levels
from kubeward.kube.registry import REGISTRY

if TYPE_CHECKING:
    from kubeward.sim.api.rest import ObjectAPI

__all__ = ["AUTOUPDATE", "FLOWCONTROL", "create_defaults", "flow_schemas", "priority_levels"]


def create_defaults(api: ObjectAPI) -> None:
    """Create the configurations a fresh kube-apiserver creates (levels first: schemas refer
    to them)."""
    for plural, objects in (
        ("prioritylevelconfigurations", priority_levels()),
        ("flowschemas", flow_schemas()),
    ):
        rt = REGISTRY.get(FLOWCONTROL, "v1", plural)
        assert rt is not None
        for obj in objects:
            api.create(
                rt,
                "",
                {"apiVersion": f"{FLOWCONTROL}/v1", **obj},
                manager="api-priority-and-fairness-config-producer-v1",
            )
