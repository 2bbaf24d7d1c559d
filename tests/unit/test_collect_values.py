"""Label escaping, timestamps and KSM's resource/unit rules for containers and nodes."""

from __future__ import annotations

import pytest

from kubeward.collect.values import (
    container_resource,
    esc,
    node_resource,
    quantity_value,
    sanitize,
    unix_seconds,
)


def test_label_values_are_escaped_for_the_text_format() -> None:
    assert esc('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert esc(None) == ""
    assert esc("plain") == "plain"
    assert esc(5) == "5"


def test_timestamps_are_whole_unix_seconds() -> None:
    assert unix_seconds("1970-01-01T00:01:40Z") == 100
    assert unix_seconds("2024-05-01T10:00:00.900000Z") == 1714557600
    assert unix_seconds(None) is None
    assert unix_seconds("yesterday") is None


def test_resource_names_are_sanitised_as_ksm_does() -> None:
    assert sanitize("ephemeral-storage") == "ephemeral_storage"
    assert sanitize("nvidia.com/gpu") == "nvidia_com_gpu"


@pytest.mark.parametrize(
    ("name", "quantity", "expected"),
    [
        ("cpu", "250m", ("cpu", "core", 0.25)),
        ("cpu", "2", ("cpu", "core", 2.0)),
        ("memory", "64Mi", ("memory", "byte", 67108864.0)),
        # Value() rounds up: a fraction of a byte is a byte.
        ("memory", "100m", ("memory", "byte", 1.0)),
        ("ephemeral-storage", "1G", ("ephemeral_storage", "byte", 1e9)),
        ("hugepages-2Mi", "4Mi", ("hugepages_2Mi", "byte", 4194304.0)),
        ("nvidia.com/gpu", "2", ("nvidia_com_gpu", "integer", 2.0)),
        ("pods", "10", None),  # not a container resource KSM exposes
        ("example.kubernetes.io/thing", "1", None),  # prefixed native: not extended
        ("cpu", "lots", None),  # unparseable: skipped, never fatal
    ],
)
def test_container_resources_follow_ksm(
    name: str, quantity: str, expected: tuple[str, str, float] | None
) -> None:
    assert container_resource(name, quantity) == expected


@pytest.mark.parametrize(
    ("name", "quantity", "expected"),
    [
        ("cpu", "3900m", ("cpu", "core", 3.9)),
        ("memory", "16Gi", ("memory", "byte", 17179869184.0)),
        # Nodes use MilliValue()/1000 for everything, so fractions survive.
        ("memory", "100m", ("memory", "byte", 0.1)),
        ("pods", "110", ("pods", "integer", 110.0)),
        ("nvidia.com/gpu", "8", ("nvidia_com_gpu", "integer", 8.0)),
        ("attachable-volumes-aws-ebs", "39", ("attachable_volumes_aws_ebs", "byte", 39.0)),
    ],
)
def test_node_resources_follow_ksm(
    name: str, quantity: str, expected: tuple[str, str, float]
) -> None:
    assert node_resource(name, quantity) == expected


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("500m", 0.5),
        ("30", 30.0),
        ("1.5k", 1500.0),
        ("1m", 0.001),
        ("0.5m", 0.001),  # MilliValue() rounds up
        ("512Mi", 536870912.0),
        ("9Ei", float(2**63 - 1)),  # past MaxMilliValue: Value(), not MilliValue()/1000
        ("lots", None),
    ],
)
def test_hpa_targets_convert_as_ksm_does(quantity: str, expected: float | None) -> None:
    assert quantity_value(quantity) == expected
