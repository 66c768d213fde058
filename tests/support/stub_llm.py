"""A small OpenAI-compatible server for fast and fault tests (the real engine has its own tests).

It streams a scripted reply in chunks and can be told to be slow, fail with a status code a given
number of times, or die mid-stream. Every request body is recorded for assertions.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class StubBehaviour:
    reply: str = "Hello from the stub model. How can I help?"
    chunk_size: int = 6
    first_token_delay: float = 0.0
    chunk_delay: float = 0.005
    fail_times: int = 0  # answer the next N requests with `fail_status`
    fail_status: int = 500
    # Refuse with vLLM's 400 "maximum context length" any request whose messages' contents add up to
    # more than this many characters (a stand-in for max_model_len).
    max_prompt_chars: int | None = None
    die_after_chunks: int | None = None  # close the connection mid-stream
    echo_user: bool = False  # reply with the last user message, to prove the prompt arrived
    # (text in the last message, reply): the first whose text the request's last message contains
    # wins over `reply`, so one stub can answer a summary request and a chat turn differently.
    replies_when: list[tuple[str, str]] = field(default_factory=list)
    # Tool calling: when a request offers tools and its last message is not a tool result, stream
    # these calls ({"name": ..., "arguments": "<json>"}) instead of text, arguments in fragments.
    tool_calls: list[dict[str, str]] = field(default_factory=list)
    model: str = "stub-model"
    requests: list[dict[str, Any]] = field(default_factory=list)


class StubLLMServer:
    def __init__(self) -> None:
        self.behaviour = StubBehaviour()
        handler = _make_handler(self)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> StubLLMServer:
        self._thread.start()
        return self

    def reset(self) -> None:
        self.behaviour = StubBehaviour()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _make_handler(stub: StubLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._json(200, {"object": "list", "data": [{"id": stub.behaviour.model, "object": "model"}]})
            else:
                self._json(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            b = stub.behaviour
            b.requests.append(body)
            if b.fail_times > 0:
                b.fail_times -= 1
                self._json(b.fail_status, {"error": {"message": "injected failure", "type": "server_error"}})
                return
            messages = body.get("messages") or [{}]
            prompt_chars = sum(len(str(m.get("content") or "")) for m in messages)
            if b.max_prompt_chars is not None and prompt_chars > b.max_prompt_chars:
                message = (
                    f"This model's maximum context length is {b.max_prompt_chars // 4} tokens. However, your "
                    f"prompt contains {prompt_chars} characters. Please reduce the length of the input prompt."
                )
                self._json(400, {"error": {"message": message, "type": "BadRequestError", "code": 400}})
                return
            last = str(messages[-1].get("content", ""))
            text = next((reply for marker, reply in b.replies_when if marker in last), b.reply)
            if b.echo_user:
                users = [m["content"] for m in body.get("messages", []) if m.get("role") == "user"]
                text = users[-1] if users else ""
            chunks = [text[i : i + b.chunk_size] for i in range(0, len(text), b.chunk_size)] or [""]
            usage = {"prompt_tokens": 11, "completion_tokens": len(chunks), "total_tokens": 11 + len(chunks)}
            time.sleep(b.first_token_delay)
            if not body.get("stream"):
                self._json(
                    200,
                    {
                        "id": "cmpl-stub",
                        "object": "chat.completion",
                        "model": b.model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
                        ],
                        "usage": usage,
                    },
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            if b.tool_calls and body.get("tools") and messages[-1].get("role") != "tool":
                self._stream_tool_calls(b)
                return
            for index, chunk in enumerate(chunks):
                if b.die_after_chunks is not None and index >= b.die_after_chunks:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                event = {
                    "id": "cmpl-stub",
                    "object": "chat.completion.chunk",
                    "model": b.model,
                    "choices": [{"index": 0, "delta": {"content": chunk}, "finish_reason": None}],
                }
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.flush()
                time.sleep(b.chunk_delay)
            final = {
                "id": "cmpl-stub",
                "object": "chat.completion.chunk",
                "model": b.model,
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
            }
            self.wfile.write(f"data: {json.dumps(final)}\n\n".encode())
            self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage, 'model': b.model})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

        def _stream_tool_calls(self, b: StubBehaviour) -> None:
            def send(delta: dict[str, Any], finish: str | None = None) -> None:
                event = {
                    "id": "cmpl-stub",
                    "object": "chat.completion.chunk",
                    "model": b.model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                }
                self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())

            for index, call in enumerate(b.tool_calls):
                head = {"index": index, "id": f"call_{index}", "type": "function", "function": {"name": call["name"]}}
                send({"tool_calls": [head]})
                arguments = call["arguments"]
                for i in range(0, len(arguments), 5):  # fragments, as vLLM streams them
                    send({"tool_calls": [{"index": index, "function": {"arguments": arguments[i : i + 5]}}]})
            send({}, "tool_calls")
            usage = {"prompt_tokens": 11, "completion_tokens": 5, "total_tokens": 16}
            self.wfile.write(f"data: {json.dumps({'choices': [], 'usage': usage, 'model': b.model})}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler
