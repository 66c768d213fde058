"""manage.py joins a running `make run` through var/run.env, without overriding the caller's env."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import manage


def test_run_env_fills_unset_variables_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_env = tmp_path / "run.env"
    run_env.write_text("CP_TEST_FROM_RUN_ENV='postgres://u@127.0.0.1:1/db'\nCP_TEST_ALREADY_SET='from-file'\n")
    monkeypatch.delenv("CP_TEST_FROM_RUN_ENV", raising=False)
    monkeypatch.setenv("CP_TEST_ALREADY_SET", "from-caller")

    manage.run_env_load(run_env)

    assert os.environ["CP_TEST_FROM_RUN_ENV"] == "postgres://u@127.0.0.1:1/db"
    assert os.environ["CP_TEST_ALREADY_SET"] == "from-caller"
    monkeypatch.delenv("CP_TEST_FROM_RUN_ENV")


def test_missing_run_env_is_not_an_error(tmp_path: Path) -> None:
    manage.run_env_load(tmp_path / "absent.env")
