"""The reverse proxy's nginx config (deploy/nginx/): parsed and checked with crossplane (directive
names, contexts and argument counts, includes followed), then what matters for the platform:
WebSocket upgrades on /ws/, long timeouts for sockets and streams, X-Forwarded-For/Proto in every
proxied location (nginx drops inherited proxy_set_header lines once a location sets its own), and
the web replicas resolved through Docker's DNS so `--scale web=N` is followed."""

from __future__ import annotations

from pathlib import Path

import crossplane
import pytest

NGINX = Path(__file__).resolve().parents[2] / "deploy" / "nginx"
CONFIGS = ["nginx.conf", "nginx-tls.conf"]
# Newer than crossplane's directive table (nginx 1.25.1), and map bodies, which its strict mode
# mistakes for directives.
NOT_IN_CROSSPLANE = ("http2", "map")


def parse(name: str) -> list[dict]:
    payload = crossplane.parse(str(NGINX / name), strict=True, catch_errors=True, ignore=NOT_IN_CROSSPLANE)
    assert payload["status"] == "ok", [error["error"] for error in payload["errors"]]
    return payload["config"]


def flatten(directives: list[dict]) -> list[dict]:
    out: list[dict] = []
    for directive in directives:
        out.append(directive)
        out.extend(flatten(directive.get("block", [])))
    return out


def files(name: str) -> dict[str, list[dict]]:
    return {Path(config["file"]).name: config["parsed"] for config in parse(name)}


def find(directives: list[dict], name: str, *args: str) -> list[dict]:
    return [
        d for d in flatten(directives) if d["directive"] == name and (not args or d["args"][: len(args)] == list(args))
    ]


def locations(name: str) -> dict[str, list[dict]]:
    """Each proxied location with its own directives and those of the files it includes."""
    parsed = files(name)
    result: dict[str, list[dict]] = {}
    for location in find(parsed["locations.conf"], "location"):
        body = list(location["block"])
        for include in find(body, "include"):
            body += parsed[Path(include["args"][0]).name]
        result[" ".join(location["args"])] = body
    return result


def value(body: list[dict], name: str) -> list[str]:
    found = [d["args"] for d in body if d["directive"] == name]
    assert len(found) == 1, f"{name}: {found}"
    return found[0]


def seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_parses_and_includes_the_shared_parts(name: str) -> None:
    assert set(files(name)) == {name, "upstream.conf", "locations.conf", "proxy-headers.conf"}


def test_a_broken_directive_is_caught(tmp_path: Path) -> None:
    """The check itself can fail: a misspelt directive and a wrong argument count are reported."""
    (tmp_path / "bad.conf").write_text(
        "events {}\nhttp { server { location / { proxy_pas http://web; proxy_read_timeout 1 2; } } }\n"
    )
    payload = crossplane.parse(str(tmp_path / "bad.conf"), strict=True, catch_errors=True)
    errors = " ".join(error["error"] for error in payload["errors"])
    assert 'unknown directive "proxy_pas"' in errors and '"proxy_read_timeout"' in errors


@pytest.mark.parametrize("name", CONFIGS)
def test_every_proxied_location_sends_the_forwarding_headers(name: str) -> None:
    proxied = {path: body for path, body in locations(name).items() if find(body, "proxy_pass")}
    assert set(proxied) == {"/ws/", "/v1/", "/"}
    for path, body in proxied.items():
        assert value(body, "proxy_pass") == ["http://chatplatform_web"], path
        headers = {d["args"][0]: d["args"][1] for d in body if d["directive"] == "proxy_set_header"}
        assert headers["X-Forwarded-For"] == "$proxy_add_x_forwarded_for", path
        # Overwritten with what nginx saw, never the client's own header.
        assert headers["X-Forwarded-Proto"] == "$scheme", path
        assert headers["Host"] == "$host", path
        assert headers["Upgrade"] == "$http_upgrade" and headers["Connection"] == "$connection_upgrade", path
        assert value(body, "proxy_http_version") == ["1.1"], path


@pytest.mark.parametrize("name", CONFIGS)
def test_sockets_and_streams_get_long_timeouts_and_no_buffering(name: str) -> None:
    found = locations(name)
    ws, sse = found["/ws/"], found["/v1/"]
    assert seconds(value(ws, "proxy_read_timeout")[0]) >= 3600
    assert seconds(value(ws, "proxy_send_timeout")[0]) >= 3600
    # Longer than the platform's own deadline for a streamed reply (VLLM_TOTAL_TIMEOUT, 90 s).
    assert seconds(value(sse, "proxy_read_timeout")[0]) > 90
    assert value(sse, "proxy_buffering") == ["off"] and value(ws, "proxy_buffering") == ["off"]


def test_the_upgrade_map_and_the_resolving_upstream() -> None:
    text = (NGINX / "upstream.conf").read_text()
    # The map (skipped by crossplane's strict mode) turns Upgrade into Connection: upgrade, else "".
    assert "map $http_upgrade $connection_upgrade {" in text
    assert 'default upgrade;\n    "" "";' in text
    parsed = files("nginx.conf")["upstream.conf"]
    assert value(parsed, "resolver")[0] == "127.0.0.11"  # Docker's embedded DNS
    upstream = find(parsed, "upstream", "chatplatform_web")[0]["block"]
    assert value(upstream, "server")[:2] == ["web:8000", "resolve"]
    assert find(upstream, "zone") and find(upstream, "least_conn")


def test_proxy_health_location_answers_on_its_own() -> None:
    health = locations("nginx.conf")["= /proxy-healthz"]
    assert not find(health, "proxy_pass")
    assert value(health, "return")[0] == "200"


def test_tls_config_terminates_tls_and_redirects_plain_http() -> None:
    parsed = files("nginx-tls.conf")["nginx-tls.conf"]
    servers = find(parsed, "server")
    listens = {" ".join(d["args"]) for s in servers for d in s["block"] if d["directive"] == "listen"}
    assert listens == {"80 default_server", "443 ssl default_server"}
    plain = next(s for s in servers if find(s["block"], "listen", "80"))
    assert find(plain["block"], "return", "301")
    assert find(parsed, "ssl_certificate", "/etc/nginx/certs/fullchain.pem")
    assert find(parsed, "ssl_certificate_key", "/etc/nginx/certs/privkey.pem")
