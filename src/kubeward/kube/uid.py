"""Object UIDs: random (version 4) UUIDs, as the API server's ``uuid.NewUUID`` makes them.

``uuid.uuid4()`` reads ``os.urandom`` and builds a ``UUID`` object for every call: at about
6 creates per pod that was 3-4 % of the simulator's time bringing up 150,000 pods. Callers
keep their own ``random.Random`` (seeded from ``os.urandom``) and format its bits here. UIDs
only need to be unique, not secret; Kubernetes does not treat them as credentials.
"""

from __future__ import annotations

import random

_VERSION_MASK = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4 = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def uid4(bits: int) -> str:
    """The canonical text of the version-4 UUID made of ``bits`` (128 random bits)."""
    h = f"{(bits & _VERSION_MASK) | _VERSION_4:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# utilrand.String's alphabet: no vowels (no words) and no 0, 1 or 3 (no look-alikes).
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def random_suffix(rand: random.Random, length: int = 5) -> str:
    """utilrand.String(n): the random part of a name made from a ``generateName``."""
    return "".join(rand.choice(SUFFIX_ALPHABET) for _ in range(length))
