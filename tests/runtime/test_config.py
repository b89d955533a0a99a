"""Settings come from the environment; a malformed number stops the start with the variable's name."""

import pytest

from core.config import Config


def test_environment_settings_are_read(monkeypatch):
    monkeypatch.setenv("MAINTENANCE_MODE", "true")
    monkeypatch.setenv("QUERY_MAX_TIME_MS", "1234")
    config = Config.from_env()
    assert config.maintenance_mode is True and config.query_max_time_ms == 1234
    monkeypatch.setenv("MAINTENANCE_MODE", "off")
    assert Config.from_env().maintenance_mode is False


def test_a_malformed_number_names_the_variable(monkeypatch):
    monkeypatch.setenv("AGGREGATE_MAX_RESULTS", "lots")
    with pytest.raises(SystemExit, match="AGGREGATE_MAX_RESULTS must be a whole number"):
        Config.from_env()
