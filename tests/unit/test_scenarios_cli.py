from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubeward.cli import app
from kubeward.sim.scenarios.model import ScenarioError, builtin_scenarios, load_scenario

runner = CliRunner()


def test_builtin_scenarios_load_with_their_sizes() -> None:
    sizes = {name: sc.node_count for name, sc in builtin_scenarios().items()}
    assert sizes == {
        "demo": 51,
        "large": 15_000,
        "openai-outage": 7_500,
        "openai-outage-small": 500,
        "tiny": 3,
    }


def test_list_scenarios_shows_descriptions() -> None:
    result = runner.invoke(app, ["sim", "--list-scenarios"])
    assert result.exit_code == 0
    assert "15,000" in result.output and "3 empty nodes" in result.output


def test_bad_scenario_file_names_file_field_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nnodePools:\n  - name: p\n    count: 2\n    memory: lots\n    colour: blue\n"
    )
    with pytest.raises(ScenarioError) as info:
        load_scenario(str(bad))
    message = str(info.value)
    assert f"{bad}: nodePools.0.memory:" in message and "16Gi" in message
    assert f"{bad}: nodePools.0.colour: Extra inputs are not permitted (remove it" in message
    result = runner.invoke(app, ["sim", "--scenario", str(bad)])
    assert result.exit_code == 2 and "nodePools.0.memory" in result.output


def test_unknown_scenario_name_lists_the_choices() -> None:
    with pytest.raises(
        ScenarioError, match="use one of demo, large, openai-outage, openai-outage-small, tiny"
    ):
        load_scenario("nonexistent")
