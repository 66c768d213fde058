"""The real ASGI app served by uvicorn in a background thread of the test process.

In-process, so it shares the test database settings; used by clients that need a real socket
(the official `openai` client, browsers).
"""

from __future__ import annotations

import threading
import time

import uvicorn

from chatplatform.launcher.embedded import free_port, port_is_open


class LiveASGIServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config("chatplatform.asgi:application", host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off", ws_max_size=262144)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="live-asgi", daemon=True)

    def start(self) -> LiveASGIServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not port_is_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("the live ASGI server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
