"""The label/annotation allowlists: kube-state-metrics' option syntax, its label names, and
clear errors for what it would refuse."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from kubeward.cli import app
from kubeward.collect.metadata import AllowlistError, label_name, parse_allowlist

KINDS = ("pods", "nodes", "deployments")


def test_groups_are_parsed_with_spaces_and_empty_lists() -> None:
    parsed = parse_allowlist(" pods=[app, tier ] ,nodes=[],deployments=[*]", "label", KINDS)
    assert dict(parsed.keys) == {"pods": ("app", "tier"), "nodes": (), "deployments": ("*",)}
    # An empty list configures nothing: KSM emits no series for it.
    assert parsed.render("nodes", {"app": "x"}) is None
    assert parse_allowlist(None, "label", KINDS).render("pods", {"app": "x"}) is None


def test_a_lone_wildcard_counts_only_first_but_patterns_anywhere() -> None:
    values = {"app": "a", "app.kubernetes.io/name": "n", "other": "o"}
    first = parse_allowlist("pods=[*,app]", "label", KINDS)
    assert first.render("pods", values) == (
        ',label_app="a",label_app_kubernetes_io_name="n",label_other="o"'
    )
    later = parse_allowlist("pods=[app,*]", "label", KINDS)
    assert later.render("pods", values) == ',label_app="a"'
    pattern = parse_allowlist("pods=[other,app.kubernetes.io/*]", "label", KINDS)
    assert pattern.render("pods", values) == ',label_app_kubernetes_io_name="n",label_other="o"'


@pytest.mark.parametrize(
    ("key", "name"),
    [
        ("app", "label_app"),
        ("app.kubernetes.io/name", "label_app_kubernetes_io_name"),
        ("myKey", "label_my_key"),
        ("HTTPPort", "label_httpport"),
        ("topology.kubernetes.io/zone", "label_topology_kubernetes_io_zone"),
        ("9lives", "label_9lives"),
    ],
)
def test_label_names_follow_kube_state_metrics(key: str, name: str) -> None:
    assert label_name("label", key) == name


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("pods=[app", "cannot parse 'pods=[app'"),
        ("pods=app", "cannot parse 'pods=app'"),
        ("services=[app]", "unknown resource 'services'; use one of pods, nodes, deployments"),
        ("pods=[app],", "trailing ','"),
        ("pods=[app];nodes=[x]", "expected ',' at ';nodes=[x]'"),
        ("pods=[a[b]]", "cannot parse"),
    ],
)
def test_malformed_allowlists_are_refused_with_the_syntax(value: str, message: str) -> None:
    with pytest.raises(AllowlistError) as exc:
        parse_allowlist(value, "label", KINDS)
    assert message in str(exc.value)
    if "unknown resource" not in message:
        assert "pods=[app,app.kubernetes.io/name]" in str(exc.value)  # an example to copy


def test_the_cli_names_the_option_and_exits_2() -> None:
    result = CliRunner().invoke(
        app,
        ["collect", "--metric-annotations-allowlist", "ingresses=[team]"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert "Invalid value for '--metric-annotations-allowlist'" in result.output
    assert "unknown resource 'ingresses'" in result.output


def test_limitranges_take_no_allowlist() -> None:
    """KSM has no kube_limitrange_labels or _annotations, so the option refuses the kind (and
    a wildcard allowlist leaves LimitRanges out)."""
    result = CliRunner().invoke(
        app,
        ["collect", "--metric-labels-allowlist", "limitranges=[team]"],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 2
    assert "unknown resource 'limitranges'" in result.output
    assert "persistentvolumes" in result.output  # the list of valid kinds includes the new ones
