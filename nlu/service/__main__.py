"""`python -m nlu.service [--host 127.0.0.1] [--port 8002] [--threads 4]`: the NLU service (uvicorn)."""

from __future__ import annotations

import argparse
import os

import uvicorn

from nlu.service.app import DEFAULT_THREADS, create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m nlu.service", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("NLU_SERVICE_HOST", "127.0.0.1"), help="loopback by default")
    parser.add_argument("--port", type=int, default=int(os.environ.get("NLU_SERVICE_PORT", "8002")))
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="parses in flight at once")
    parser.add_argument("--log-level", default=os.environ.get("NLU_SERVICE_LOG_LEVEL", "warning"))
    args = parser.parse_args()
    uvicorn.run(
        create_app(threads=args.threads),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        # Longer than the web process's keep-alive (nlu/api/views.py): the client closes an idle
        # connection first, so it never sends on one the server is closing.
        timeout_keep_alive=75,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
