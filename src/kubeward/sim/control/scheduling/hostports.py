"""NodePorts (kube-scheduler's filter): a pod asking for host ports goes only where they are
free.

A container port with ``hostPort`` > 0 takes (hostIP, protocol, hostPort) on its node; an
empty hostIP is 0.0.0.0 and an empty protocol TCP. Two such ports conflict when protocol and
port are equal and the IPs are equal or either is 0.0.0.0. As kube-scheduler, only
``spec.containers`` count (not init containers). A node with a conflict fails with
``node(s) didn't have free ports for the requested pod ports``, which preemption may resolve by
evicting the lower-priority pods holding the ports. ``hostNetwork`` pods get their container
ports as host ports by defaulting, so they take part too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from kubeward.sim.control.scheduling.nodetable import NodeTable

MSG_NODE_PORTS = "node(s) didn't have free ports for the requested pod ports"
WILDCARD = "0.0.0.0"

HostPort = tuple[str, str, int]  # (hostIP, protocol, hostPort)


def host_ports(spec: dict[str, Any]) -> tuple[HostPort, ...]:
    """The host ports a pod's containers ask for."""
    out = []
    for container in spec.get("containers") or ():
        for port in container.get("ports") or ():
            number = port.get("hostPort") or 0
            if isinstance(number, int) and number > 0:
                out.append((port.get("hostIP") or WILDCARD, port.get("protocol") or "TCP", number))
    return tuple(out)


def ports_conflict(a: HostPort, b: HostPort) -> bool:
    """Same protocol and port, on the same IP or with either on every IP."""
    return a[1:] == b[1:] and (a[0] == b[0] or WILDCARD in (a[0], b[0]))


class HostPorts:
    """The host ports bound pods hold, by (protocol, port)."""

    def __init__(self) -> None:
        self._pods: dict[str, tuple[int, tuple[HostPort, ...]]] = {}  # pod key -> (row, ports)
        # (protocol, port) -> pod key -> (row, host IP)
        self._holders: dict[tuple[str, int], dict[str, tuple[int, str]]] = {}

    def __bool__(self) -> bool:
        return bool(self._pods)

    def add(self, key: str, row: int, spec: dict[str, Any]) -> None:
        """Note a bound pod's host ports, if it has any."""
        ports = host_ports(spec)
        if not ports:
            return
        self._pods[key] = (row, ports)
        for ip, protocol, number in ports:
            self._holders.setdefault((protocol, number), {})[key] = (row, ip)

    def remove(self, key: str) -> None:
        entry = self._pods.pop(key, None)
        if entry is None:
            return
        for _, protocol, number in entry[1]:
            holders = self._holders.get((protocol, number))
            if holders is None:
                continue
            holders.pop(key, None)
            if not holders:
                del self._holders[(protocol, number)]

    def mask(
        self,
        table: NodeTable,
        wanted: tuple[HostPort, ...],
        removable: Callable[[str], bool] | None = None,
    ) -> np.ndarray | None:
        """Per node row: every port in ``wanted`` is free (None when the pod wants none or no
        bound pod holds one). With ``removable`` (the holders preemption may evict), as if
        those were gone."""
        if not wanted or not self._pods:
            return None
        ok = np.ones(len(table), dtype=bool)
        for key, row in self._conflicting(wanted):
            if row < len(ok) and not (removable is not None and removable(key)):
                ok[row] = False
        return ok

    def holders_on(self, row: int, wanted: tuple[HostPort, ...]) -> set[str]:
        """The pods on ``row`` holding a port the pod wants: preemption there must evict them
        all."""
        return {key for key, r in self._conflicting(wanted) if r == row}

    def _conflicting(self, wanted: tuple[HostPort, ...]) -> list[tuple[str, int]]:
        """(holder, its row) for every bound pod holding a port that clashes with ``wanted``."""
        out = []
        for port in wanted:
            _, protocol, number = port
            for key, (row, held_ip) in self._holders.get((protocol, number), {}).items():
                if ports_conflict(port, (held_ip, protocol, number)):
                    out.append((key, row))
        return out
