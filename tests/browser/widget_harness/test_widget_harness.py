"""The widget in real Chromium against the fake protocol server (no Django, no database).

Runs fake_server.py and check_widget.py as subprocesses so Playwright's sync API never shares a
thread with pytest-asyncio's loop. Skipped when Debian's Chromium is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium not installed")
def test_widget_in_chromium(tmp_path: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "fake_server.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("fake server did not start")
        run = subprocess.run(
            [
                sys.executable,
                str(HERE / "check_widget.py"),
                "--base",
                f"http://127.0.0.1:{port}",
                "--shots",
                str(tmp_path),
                "--chromium",
                CHROMIUM,
            ],
            capture_output=True,
            text=True,
            timeout=280,
        )
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    finally:
        server.terminate()
        server.wait(timeout=10)
