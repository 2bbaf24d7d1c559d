"""A real, throw-away PostgreSQL server for tests (Debian's ``postgresql`` programs).

``initdb`` into a fresh directory, ``postgres`` on a free loopback port with its unix socket in
that directory, trust authentication for a superuser ``kubeward``; stopped and deleted at the end
of the session. PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (via ``runuser``) in a directory it owns.

Tests that use it fail (never skip) when PostgreSQL cannot be found or installed: run
``scripts/install-postgres.sh`` (``make test`` does) or set ``KUBEWARD_PG_BIN``.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
_SERVER_USER = "postgres"


def pg_bin_dir() -> Path:
    """The directory with initdb/postgres/pg_ctl, installing the package if needed."""
    configured = os.environ.get("KUBEWARD_PG_BIN")
    if configured:
        path = Path(configured)
        if not (path / "initdb").exists():
            pytest.fail(f"KUBEWARD_PG_BIN={configured} has no initdb", pytrace=False)
        return path
    proc = subprocess.run(
        [str(ROOT / "scripts/install-postgres.sh")], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 or not proc.stdout.strip():
        pytest.fail(
            "PostgreSQL is required for these tests and could not be installed by "
            f"scripts/install-postgres.sh:\n{proc.stderr}",
            pytrace=False,
        )
    return Path(proc.stdout.strip().splitlines()[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        # Not under pytest's tmp dir: that is private to root, and the server may run as
        # another user. Short, too: unix socket paths are limited to ~107 bytes.
        self.base = Path(tempfile.mkdtemp(prefix="kubeward-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = _free_port()
        self.user = "kubeward"
        if self.as_root:
            shutil.chown(self.base, user=_SERVER_USER)
        self._run("initdb", "-D", str(self.data), "-U", self.user, "-A", "trust", "-E", "UTF8",
                  "--locale=C", "--no-sync")  # fmt: skip
        self.running = False

    def _run(self, program: str, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / program), *args]
        if self.as_root:
            cmd = ["runuser", "-u", _SERVER_USER, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.base)
        if proc.returncode != 0:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n{log}"
            )
        return proc

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            # Throw-away data: durability settings off for speed.
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
            "-c max_connections=100 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """``fast`` disconnects clients and stops; ``immediate`` is a crash."""
        if self.running:
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")
            self.running = False

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{database}"

    def create_database(self, prefix: str = "kw", locale: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL.

        ``locale``: its collation and character classes (e.g. ``C.utf8``, an operating-system
        locale), instead of the server's ``C``.
        """
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if locale is not None:
            create += sql.SQL(" TEMPLATE template0 LOCALE {}").format(sql.Literal(locale))
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=self.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(create)
        return self.url(name)


_shared: PostgresServer | None = None


def shared_server() -> PostgresServer:
    """One server per test process, however many modules use the fixture."""
    global _shared
    if _shared is None:
        server = PostgresServer(pg_bin_dir())
        atexit.register(server.cleanup)  # also when the session dies before teardown
        server.start()
        _shared = server
    if not _shared.running:  # a test stopped it and failed before restarting it
        _shared.start()
    return _shared


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = shared_server()
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """A fresh database on the shared server, for one test."""
    if not postgres_server.running:
        postgres_server.start()
    return postgres_server.create_database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store on each backend: a SQLite file, then a database on the shared
    PostgreSQL server. Modules that use it import ``postgres_server`` too."""
    if request.param == "sqlite":
        return str(tmp_path / "kubeward.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.create_database()
