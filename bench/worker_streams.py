"""How should ONE worker process hold hundreds of concurrent streaming LLM replies?

Four ways, each measured in a fresh process of its own against the same stub OpenAI-compatible
streaming server (a separate process, so its CPU does not count):

  threads-sdk     many threads + the bare sync openai SDK iterating its `Stream` (a pydantic model per
                  chunk), as Celery's threads pool with a high --concurrency would run it
  threads-httpx   many threads + raw httpx SSE parsing (the client before the SDK)
  threads-client  many threads + our `inference_worker.client.LLMClient` (the SDK sends the request and
                  raises its typed errors; chunks are read as plain JSON lines)
  asyncio-sdk     one event loop + `openai.AsyncOpenAI`
  gevent-client   gevent (monkey-patched) greenlets + our LLMClient, as Celery's gevent pool

The stub streams one token every --token-ms for --seconds and stamps each token with its send time;
the lag of a chunk is its arrival time minus that stamp. For each option and N concurrent streams:
streams completed, errors, process CPU seconds per 1000 chunks, peak RSS growth, p50/p99 chunk lag.

    .venv/bin/python bench/worker_streams.py                 # N = 100 and 500, 10 s streams
    .venv/bin/python bench/worker_streams.py --smoke         # CI: N = 20, 2 s, nothing written
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from common import REPO, percentile, table, write_section

OPTIONS = ("threads-sdk", "threads-httpx", "threads-client", "asyncio-sdk", "gevent-client")
DESCRIPTIONS = {
    "threads-sdk": "threads + sync openai SDK (its Stream)",
    "threads-httpx": "threads + raw httpx SSE",
    "threads-client": "threads + our LLMClient",
    "asyncio-sdk": "asyncio + AsyncOpenAI",
    "gevent-client": "gevent + our LLMClient",
}
MODEL = "stub-model"
JSON_OUT = REPO / "docs" / "bench" / "worker_streams.json"
GEVENT_BOOT = (
    "from gevent import monkey; monkey.patch_all()\n"
    "import runpy, sys\n"
    "sys.argv[0] = sys.argv[1]; del sys.argv[1]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


# --- the stub server (its own process) ----------------------------------------------------------


def serve(port: int, token_ms: float, seconds: float) -> None:
    """A raw asyncio HTTP/1.1 server (keep-alive, chunked SSE): cheap enough to feed 500 streams."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    tokens = max(1, int(seconds * 1000 / token_ms))

    def sse(payload: dict[str, Any] | str) -> bytes:
        data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
        line = f"data: {data}\n\n".encode()
        return f"{len(line):x}\r\n".encode() + line + b"\r\n"

    def chunk(content: str | None, finish: str | None) -> dict[str, Any]:
        delta = {"content": content} if content is not None else {}
        return {
            "id": "cmpl-bench",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    async def stream(writer: asyncio.StreamWriter, count: int) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n"
            b"Cache-Control: no-cache\r\n\r\n"
        )
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i in range(count):
            await asyncio.sleep(max(0.0, start + (i + 1) * token_ms / 1000 - loop.time()))
            writer.write(sse(chunk(f"{time.time():.6f}", None)))
        writer.write(sse(chunk(None, "stop")))
        usage = {"prompt_tokens": 8, "completion_tokens": count, "total_tokens": 8 + count}
        writer.write(
            sse(
                {
                    "id": "cmpl-bench",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": MODEL,
                    "choices": [],
                    "usage": usage,
                }
            )
        )
        writer.write(sse("[DONE]") + b"0\r\n\r\n")
        await writer.drain()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                body = await reader.readexactly(length) if length else b"{}"
                if method == "GET":
                    models = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()
                    writer.write(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                        + str(len(models)).encode()
                        + b"\r\n\r\n"
                        + models
                    )
                    await writer.drain()
                else:  # a warm-up request asks for max_tokens=1
                    await stream(writer, min(tokens, int(json.loads(body).get("max_tokens") or tokens)))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096, limit=2**20)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the measured process ------------------------------------------------------------------------


Results = list[tuple[int, list[float], str]]  # per stream: chunks, chunk lags (s), error


def _request(max_tokens: int = 10**6) -> Any:
    from engine.types import ChatMessage, CompletionRequest

    return CompletionRequest(
        messages=[ChatMessage(role="user", content="stream")], max_tokens=max_tokens, temperature=0.0
    )


def _our_client(url: str, n: int) -> Any:
    from inference_worker.client import LLMClient, LLMClientConfig

    client = LLMClient(
        LLMClientConfig(
            base_url=url, model=MODEL, read_timeout=30.0, total_timeout=120.0, max_retries=0, max_connections=n + 8
        )
    )
    list(client.stream(_request(max_tokens=1)))  # warm-up: lazy imports, model classes, a connection
    return client


def _one_with_our_client(client: Any, lags: list[float]) -> int:
    count = 0
    for piece in client.stream(_request()):
        lags.append(time.time() - float(piece.text))
        count += 1
    return count


def run_threads_client(url: str, n: int, mark: Callable[[], None]) -> Results:
    client = _our_client(url, n)
    mark()
    return _in_threads(n, lambda lags: _one_with_our_client(client, lags))


def run_threads_httpx(url: str, n: int, mark: Callable[[], None]) -> Results:
    import httpx

    http = httpx.Client(
        base_url=url,
        timeout=httpx.Timeout(connect=3.0, read=30.0, write=30.0, pool=3.0),
        limits=httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8),
    )

    def one(lags: list[float], max_tokens: int = 10**6) -> int:
        body = {
            "model": MODEL,
            "messages": [{"role": "user", "content": "stream"}],
            "max_tokens": max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        count = 0
        with http.stream("POST", "/chat/completions", json=body) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                event = json.loads(payload)
                choices = event.get("choices") or []
                text = (choices[0].get("delta") or {}).get("content") if choices else None
                if text:
                    lags.append(time.time() - float(text))
                    count += 1
        return count

    one([], max_tokens=1)  # warm-up
    mark()
    return _in_threads(n, one)


def run_threads_sdk(url: str, n: int, mark: Callable[[], None]) -> Results:
    """The bare sync SDK, iterating its `Stream` (one pydantic chunk model per token)."""
    import httpx2
    import openai

    http = httpx2.Client(limits=httpx2.Limits(max_connections=n + 8, max_keepalive_connections=n + 8))
    client = openai.OpenAI(base_url=url, api_key="EMPTY", max_retries=0, http_client=http)

    def one(lags: list[float], max_tokens: int = 10**6) -> int:
        count = 0
        stream = client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "stream"}],
            max_tokens=max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        with stream:
            for piece in stream:
                if piece.choices and piece.choices[0].delta.content:
                    lags.append(time.time() - float(piece.choices[0].delta.content))
                    count += 1
        return count

    one([], max_tokens=1)  # warm-up
    mark()
    return _in_threads(n, one)


def run_gevent_client(url: str, n: int, mark: Callable[[], None]) -> Results:
    import gevent.pool

    client = _our_client(url, n)
    pool = gevent.pool.Pool(n)
    mark()
    greenlets = [pool.spawn(_guarded, lambda lags: _one_with_our_client(client, lags)) for _ in range(n)]
    gevent.joinall(greenlets)
    return [g.value for g in greenlets]


def run_asyncio_sdk(url: str, n: int, mark: Callable[[], None]) -> Results:
    import httpx2
    import openai

    async def main() -> Results:
        http = httpx2.AsyncClient(limits=httpx2.Limits(max_connections=n + 8, max_keepalive_connections=n + 8))
        client = openai.AsyncOpenAI(
            base_url=url,
            api_key="EMPTY",
            max_retries=0,
            timeout=httpx2.Timeout(connect=3.0, read=30.0, write=30.0, pool=3.0),
            http_client=http,
        )

        async def one(max_tokens: int = 10**6) -> tuple[int, list[float], str]:
            lags: list[float] = []
            count = 0
            try:
                stream = await client.chat.completions.create(
                    model=MODEL,
                    messages=[{"role": "user", "content": "stream"}],
                    max_tokens=max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                async with stream:
                    async for piece in stream:
                        if piece.choices and piece.choices[0].delta.content:
                            lags.append(time.time() - float(piece.choices[0].delta.content))
                            count += 1
            except Exception as exc:  # counted, not raised: the table reports errors
                return count, lags, f"{type(exc).__name__}: {exc}"
            return count, lags, ""

        try:
            await one(max_tokens=1)  # warm-up
            mark()
            return list(await asyncio.gather(*(one() for _ in range(n))))
        finally:
            await client.close()

    return asyncio.run(main())


def _guarded(one: Callable[[list[float]], int]) -> tuple[int, list[float], str]:
    lags: list[float] = []
    try:
        return one(lags), lags, ""
    except Exception as exc:  # counted, not raised: the table reports errors
        return len(lags), lags, f"{type(exc).__name__}: {exc}"


def _in_threads(n: int, one: Callable[[list[float]], int]) -> Results:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: _guarded(one), range(n)))


RUNNERS: dict[str, Callable[[str, int, Callable[[], None]], Results]] = {
    "threads-sdk": run_threads_sdk,
    "threads-httpx": run_threads_httpx,
    "threads-client": run_threads_client,
    "asyncio-sdk": run_asyncio_sdk,
    "gevent-client": run_gevent_client,
}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(option: str, n: int, url: str) -> None:
    sys.path.insert(0, str(REPO))
    before: dict[str, float] = {}

    def mark() -> None:  # called by the runner once its client is built and warm
        before.update(rss=_rss_bytes(), cpu=time.process_time(), wall=time.monotonic())

    results = RUNNERS[option](url, n, mark)
    wall = time.monotonic() - before["wall"]
    cpu = time.process_time() - before["cpu"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss_before = int(before["rss"])
    chunks = sum(r[0] for r in results)
    lags = [lag for r in results for lag in r[1]]
    errors = [r[2] for r in results if r[2]]
    print(
        json.dumps(
            {
                "option": option,
                "n": n,
                "completed": len(results) - len(errors),
                "errors": len(errors),
                "first_error": errors[0][:300] if errors else "",
                "chunks": chunks,
                "cpu_s": round(cpu, 3),
                "cpu_s_per_1000_chunks": round(cpu / chunks * 1000, 4) if chunks else None,
                "peak_rss_delta_mb": round(max(0, peak - rss_before) / 2**20, 1),
                "lag_p50_ms": round(percentile(lags, 0.5) * 1000, 2) if lags else None,
                "lag_p99_ms": round(percentile(lags, 0.99) * 1000, 2) if lags else None,
                "wall_s": round(wall, 2),
            }
        )
    )


# --- the driver ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the stub server did not start on port {port}")


@contextlib.contextmanager
def _stub_server(token_ms: float, seconds: float) -> Iterator[str]:
    port = _free_port()
    argv = [sys.executable, str(Path(__file__).resolve()), "--serve", "--port", str(port)]
    stub = subprocess.Popen([*argv, "--token-ms", str(token_ms), "--seconds", str(seconds)], cwd=REPO)
    try:
        _wait_for_port(port)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def measure(option: str, n: int, url: str) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    args = ["--child", option, "--n", str(n), "--url", url]
    argv = (
        [sys.executable, "-c", GEVENT_BOOT, script, *args]
        if option == "gevent-client"
        else [sys.executable, script, *args]
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "bench")])}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"{option} N={n} failed:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}")
    return dict(json.loads(lines[-1]))


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "load_average_1m": round(os.getloadavg()[0], 2),  # other work on the box skews the lags
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="CI: N=20, 2 s streams, nothing written")
    parser.add_argument("--n", type=int, nargs="+", default=[100, 500], help="concurrent streams per run")
    parser.add_argument("--token-ms", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--options", nargs="+", choices=OPTIONS, default=list(OPTIONS))
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=OPTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.port, args.token_ms, args.seconds)
        return
    if args.child:
        child(args.child, args.n[0], args.url)
        return
    if args.smoke:
        args.n, args.seconds, args.no_write = [20], 2.0, True

    load_before = os.getloadavg()[0]
    rows: list[dict[str, Any]] = []
    with _stub_server(args.token_ms, args.seconds) as url:
        for n in args.n:
            for option in args.options:
                row = measure(option, n, url)
                rows.append(row)
                print(f"  {option:14} N={n:<4} done: {row['completed']} completed, {row['errors']} errors", flush=True)
    # The client's own cost, apart from concurrency and from other work on the box: ONE stream as fast
    # as the stub can send it (a token every 0.1 ms), CPU per 1000 chunks.
    intrinsic: dict[str, float | None] = {}
    with _stub_server(0.1, 0.5 if args.smoke else 2.0) as url:
        for option in args.options:
            intrinsic[option] = measure(option, 1, url)["cpu_s_per_1000_chunks"]
    for row in rows:
        row["one_stream_cpu_s_per_1000_chunks"] = intrinsic[row["option"]]

    tokens = max(1, int(args.seconds * 1000 / args.token_ms))
    info = machine()
    params = (
        f"one stub server process (raw asyncio + uvloop) streaming {tokens} tokens per reply, one every "
        f"{args.token_ms:g} ms ({args.seconds:g} s streams); each option in a fresh process of its own"
    )
    headers = [
        "option",
        "N",
        "completed",
        "errors",
        "CPU s / 1000 chunks",
        "same, one fast stream",
        "peak RSS delta MB",
        "lag p50 ms",
        "lag p99 ms",
        "wall s",
    ]
    body_rows = [
        [
            DESCRIPTIONS[r["option"]],
            r["n"],
            f"{r['completed']}/{r['n']}",
            r["errors"],
            r["cpu_s_per_1000_chunks"],
            r["one_stream_cpu_s_per_1000_chunks"],
            r["peak_rss_delta_mb"],
            r["lag_p50_ms"],
            r["lag_p99_ms"],
            r["wall_s"],
        ]
        for r in rows
    ]
    rendered = table(headers, body_rows)
    header = (
        f"Machine: {info['cpus']} CPUs ({info['cpu_model']}), Python {info['python']}, {info['platform']}; "
        f"load average {load_before:.1f} before the run, {info['load_average_1m']:.1f} after.\n"
        f"Parameters: {params}."
    )
    print()
    print(header)
    print()
    print(rendered)
    for r in rows:
        if r["first_error"]:
            print(f"  first error of {r['option']} N={r['n']}: {r['first_error']}")
    if args.no_write:
        return
    command = (
        "`.venv/bin/python bench/worker_streams.py"
        + (
            ""
            if args.n == [100, 500] and args.seconds == 10 and args.token_ms == 100
            else f" --n {' '.join(map(str, args.n))} --seconds {args.seconds:g} --token-ms {args.token_ms:g}"
        )
        + "`"
    )
    write_section(
        "Worker concurrency model",
        "How one worker process holds N concurrent streaming LLM replies (issue #11 item 2), "
        f"measured with {command}. CPU is the measuring process's own (time.process_time), per 1000 "
        'streamed chunks; "one fast stream" is the same client streaming alone as fast as the stub sends '
        "(its own cost, without concurrency or other work on the box); lag is a chunk's arrival time minus "
        "the time the stub stamped in it. Wall time above the stream length (10 s) means the process fell "
        "behind.\n\n"
        f"{header}\n\n{rendered}\n",
    )
    JSON_OUT.parent.mkdir(parents=True, exist_ok=True)
    JSON_OUT.write_text(
        json.dumps(
            {
                "machine": info,
                "parameters": {"n": args.n, "token_ms": args.token_ms, "seconds": args.seconds, "tokens": tokens},
                "rows": rows,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote docs/benchmarks.md (Worker concurrency model) and {JSON_OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
