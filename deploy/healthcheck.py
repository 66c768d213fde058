"""Container health check: GET a local health URL the way the reverse proxy asks, exit 0 on HTTP 200.

`python deploy/healthcheck.py [URL]` (default http://127.0.0.1:8000/healthz), used by docker-compose.yml
for web and nlu. It sends the first host of ALLOWED_HOSTS as `Host` and `X-Forwarded-Proto: https`, as
the proxy does for a visitor: without them the platform answers a bare `Host: 127.0.0.1` with 400
(host validation) and, with SECURE_SSL_REDIRECT on, plain HTTP with a redirect to HTTPS, and the
check would fail on a healthy process. Standard library only (it runs in the app image).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8000/healthz"


def host_header(allowed_hosts: str) -> str:
    """A host the platform accepts: the first concrete entry of ALLOWED_HOSTS, else localhost."""
    for entry in allowed_hosts.split(","):
        host = entry.strip().lstrip(".")
        if host and host != "*":
            return host
    return "localhost"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is an answer to report, not to follow


def check(url: str, *, allowed_hosts: str, timeout: float) -> tuple[bool, str]:
    request = urllib.request.Request(
        url, headers={"Host": host_header(allowed_hosts), "X-Forwarded-Proto": "https", "Accept": "application/json"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = response.status
            body = response.read(2000)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(2000)
    except OSError as exc:
        return False, f"{url}: {type(exc).__name__}: {exc}"
    return status == 200, f"{url}: HTTP {status} {body.decode('utf-8', 'replace').strip()}"


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else DEFAULT_URL
    healthy, summary = check(
        url,
        allowed_hosts=os.environ.get("ALLOWED_HOSTS", ""),
        timeout=float(os.environ.get("HEALTHCHECK_TIMEOUT", "8")),
    )
    sys.stdout.write(summary + "\n")
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
