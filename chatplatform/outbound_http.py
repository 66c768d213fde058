"""Outbound HTTP to URLs a customer configured (HTTP actions, webhooks), with an SSRF guard.

A bot's admin types the URL, so the platform must not become a proxy into its own network: every
hop (the first request and each redirect) is checked before it is sent.

- Only http and https, no credentials in the URL.
- The host must be on the caller's allowlist when one is given (`shop.example` or `*.example`).
- Every address the host resolves to must be public. Loopback, private, link-local (cloud metadata
  at 169.254.169.254), multicast, reserved and unspecified ranges are refused unless the host or
  the address is in settings.OUTBOUND_ALLOW_PRIVATE (the local demo allows its own loopback API).
- The connection goes to the address that was checked (the Host header and TLS SNI keep the name),
  so a DNS answer that changes between the check and the connect (rebinding) cannot slip through.
- Redirects are followed by hand, at most settings.OUTBOUND_MAX_REDIRECTS, each one re-checked.
- The response body is read up to settings.OUTBOUND_MAX_RESPONSE_BYTES and the whole exchange has
  one deadline.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class OutboundRefused(Exception):
    """The destination may not be called; `code` names the rule, the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class OutboundFailed(Exception):
    """The call was allowed but did not complete: connection error, timeout or an oversized body."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    address: IPAddress
    path_and_query: str

    def pinned_url(self) -> str:
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path_and_query}"

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        return self.host if self.port == default else f"{self.host}:{self.port}"


@dataclass
class OutboundResponse:
    status_code: int
    headers: dict[str, str]
    body: bytes
    elapsed_ms: int
    url: str
    redirects: list[str] = field(default_factory=list)

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def host_matches(host: str, patterns: Sequence[str]) -> bool:
    """`*.example.com` matches sub-domains, a bare name matches itself; case-insensitive."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.strip().lower().rstrip(".")
        if not pattern:
            continue
        if pattern.startswith("*.") and (host == pattern[2:] or fnmatch.fnmatchcase(host, pattern)):
            return True
        if host == pattern:
            return True
    return False


def _private_allowed(host: str, address: IPAddress) -> bool:
    for entry in settings.OUTBOUND_ALLOW_PRIVATE:
        entry = entry.strip()
        if not entry:
            continue
        try:
            if address in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            if host_matches(host, [entry]):
                return True
    return False


def _is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _is_public(address.ipv4_mapped)
    return address.is_global and not address.is_multicast


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise OutboundRefused("unresolvable", f"{host} does not resolve: {error}") from error
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise OutboundRefused("unresolvable", f"{host} has no address")
    return addresses


def check_destination(url: str, *, allowed_hosts: Sequence[str] | None = None) -> Destination:
    """The checked address to connect to, or OutboundRefused with the rule that stops it."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise OutboundRefused("scheme", f"only http and https URLs can be called, not {scheme or 'no scheme'!r}")
    if parts.username or parts.password:
        raise OutboundRefused("credentials_in_url", "put credentials in a header, not in the URL")
    host = (parts.hostname or "").lower()
    if not host:
        raise OutboundRefused("no_host", "the URL has no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as error:
        raise OutboundRefused("bad_port", str(error)) from error
    if allowed_hosts is not None and not host_matches(host, allowed_hosts):
        raise OutboundRefused("host_not_allowed", f"{host} is not on this bot's list of allowed hosts")
    addresses = _resolve(host, port)
    for address in addresses:
        if not _is_public(address) and not _private_allowed(host, address):
            raise OutboundRefused(
                "private_address",
                f"{host} resolves to {address}, a private or reserved address; "
                "allow it explicitly with OUTBOUND_ALLOW_PRIVATE if it is really meant",
            )
    path_and_query = urlunsplit(("", "", parts.path or "/", parts.query, ""))
    return Destination(scheme=scheme, host=host, port=port, address=addresses[0], path_and_query=path_and_query)


def validate_outbound_url(url: str) -> None:
    """Django field validator: refuse on save what the guard would refuse when sending, so an admin
    learns at once that `http://10.0.0.5/` cannot be called. A name that does not resolve yet is
    accepted (DNS may come later); every call checks again."""
    try:
        check_destination(url)
    except OutboundRefused as refused:
        if refused.code != "unresolvable":
            raise ValidationError(str(refused), code=refused.code) from refused


def _read_limited(response: httpx.Response, limit: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            raise OutboundFailed("response_too_large", f"the response is larger than {limit} bytes")
        if time.monotonic() > deadline:
            raise OutboundFailed("timeout", "the response did not arrive in time")
        chunks.append(chunk)
    return b"".join(chunks)


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    content: bytes | None = None,
    timeout: float = 10.0,
    allowed_hosts: Sequence[str] | None = None,
) -> OutboundResponse:
    """One call with the guard on every hop. Raises OutboundRefused or OutboundFailed."""
    began = time.monotonic()
    deadline = began + timeout
    redirects: list[str] = []
    method = method.upper()
    limit = settings.OUTBOUND_MAX_RESPONSE_BYTES
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        while True:
            destination = check_destination(url, allowed_hosts=allowed_hosts)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise OutboundFailed("timeout", f"no answer within {timeout:g} s")
            request_headers = {k: v for k, v in (headers or {}).items() if k.lower() != "host"}
            request_headers["Host"] = destination.host_header()
            extensions = {"sni_hostname": destination.host} if destination.scheme == "https" else {}
            request = client.build_request(
                method,
                destination.pinned_url(),
                headers=request_headers,
                content=content,
                timeout=httpx.Timeout(remaining),
                extensions=extensions,
            )
            try:
                response = client.send(request, stream=True)
            except httpx.TimeoutException as error:
                raise OutboundFailed("timeout", f"no answer within {timeout:g} s") from error
            except httpx.HTTPError as error:
                raise OutboundFailed("connection", f"could not reach {destination.host}: {error}") from error
            try:
                location = response.headers.get("location")
                if response.is_redirect and location:
                    if len(redirects) >= settings.OUTBOUND_MAX_REDIRECTS:
                        raise OutboundRefused("too_many_redirects", f"more than {len(redirects)} redirects")
                    redirects.append(url)
                    url = urljoin(url, location)
                    if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                        method, content = "GET", None
                    continue
                try:
                    body = _read_limited(response, limit, deadline)
                except httpx.TimeoutException as error:
                    raise OutboundFailed("timeout", f"no answer within {timeout:g} s") from error
                except httpx.HTTPError as error:
                    raise OutboundFailed("connection", f"the answer from {destination.host} broke off") from error
            finally:
                response.close()
            return OutboundResponse(
                status_code=response.status_code,
                headers={k.lower(): v for k, v in response.headers.items()},
                body=body,
                elapsed_ms=round((time.monotonic() - began) * 1000),
                url=url,
                redirects=redirects,
            )
