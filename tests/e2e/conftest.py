"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubectlhelp import Kubectl, _debian_kubectl
from simproc import SimProcess


@pytest.fixture
def kubectl(sim: SimProcess, tmp_path: Path) -> Kubectl:
    """Debian's kubectl against the shared simulator. Modules that need another kubectl or
    simulator define their own ``kubectl`` fixture, which takes precedence."""
    return Kubectl(_debian_kubectl(), sim, tmp_path)
