"""Object UIDs are canonical version-4 UUIDs carrying the random bits they were made from."""

from __future__ import annotations

import random
import uuid

from kubeward.kube.uid import uid4


def test_uid_is_a_canonical_version_4_uuid() -> None:
    rng = random.Random(7)
    for _ in range(2_000):
        bits = rng.getrandbits(128)
        text = uid4(bits)
        parsed = uuid.UUID(text)
        assert str(parsed) == text  # canonical: lower-case hex, 8-4-4-4-12
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        # Everything but the version nibble and the variant bits comes from the random bits,
        # exactly as uuid.UUID(int=..., version=4) keeps them.
        assert parsed == uuid.UUID(int=bits, version=4)


def test_extreme_bit_patterns_keep_their_width() -> None:
    assert uid4(0) == "00000000-0000-4000-8000-000000000000"
    assert uid4(2**128 - 1) == "ffffffff-ffff-4fff-bfff-ffffffffffff"
