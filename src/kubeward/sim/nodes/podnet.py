"""Pod IPs as a node's CNI (host-local IPAM) hands them out from the node's ``spec.podCIDR``."""

from __future__ import annotations

import ipaddress

# Virtual (serverless) nodes may run more pods than a /24 holds; their pods get addresses from
# a cluster-wide range instead, as VPC-native pods on such nodes do.
OVERFLOW_NETWORK = ipaddress.IPv4Network("10.192.0.0/10")


class NodeIPs:
    """Free addresses of one node's pod CIDR. The first host address is the bridge gateway
    (cni0), so pods start at the second, as host-local IPAM does."""

    __slots__ = ("_base", "_free", "_next", "_size")

    def __init__(self, cidr: str) -> None:
        try:
            net = ipaddress.IPv4Network(cidr, strict=False)
        except ValueError:
            net = ipaddress.IPv4Network("0.0.0.0/32")
        self._base = int(net.network_address)
        self._size = net.num_addresses
        self._next = 2
        self._free: list[int] = []

    def allocate(self) -> str | None:
        if self._free:
            return str(ipaddress.IPv4Address(self._free.pop()))
        if self._next >= self._size - 1:  # the last address is the broadcast address
            return None
        offset, self._next = self._next, self._next + 1
        return str(ipaddress.IPv4Address(self._base + offset))

    def release(self, ip: str) -> bool:
        """Return an address of this range; False if it is not one of ours."""
        value = int(ipaddress.IPv4Address(ip))
        if not self._base < value < self._base + self._size - 1:
            return False
        self._free.append(value)
        return True


class OverflowIPs:
    """Cluster-wide addresses for pods whose node's range is used up (or that has none)."""

    def __init__(self) -> None:
        self._next = 0
        self._free: list[str] = []

    def allocate(self) -> str:
        if self._free:
            return self._free.pop()
        while True:
            self._next += 1
            value = int(OVERFLOW_NETWORK.network_address) + self._next
            if value & 255 not in (0, 255):
                return str(ipaddress.IPv4Address(value))

    def release(self, ip: str) -> None:
        if ipaddress.IPv4Address(ip) in OVERFLOW_NETWORK:
            self._free.append(ip)
