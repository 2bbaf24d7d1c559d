from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from simproc import SimProcess, start_sim

# The PostgreSQL fixtures (postgres_server, postgres_url, store_url) for every module; the
# server starts only when a test asks for it.
pytest_plugins = ["postgres_fixture"]


@pytest.fixture(scope="session")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """One simulator (tiny scenario, HTTPS with its own CA) shared by tests that only add their
    own objects in their own namespaces."""
    proc = start_sim(
        tmp_path_factory.mktemp("sim"), "--scenario", "tiny", "--bookmark-interval", "1"
    )
    yield proc
    proc.stop()
