"""A real HTTP server on 127.0.0.1 that speaks OpenRouter's chat-completions wire protocol.

It also answers ``GET /api/v1/key`` with ``key_body`` and ``GET /api/v1/models`` (public, no key
needed) with ``models_body``, both settable per test and scriptable with
``server.fail("GET /key" | "GET /models", Fault(...))``, and ``GET /api/v1/generation?id=ID``
from ``generations`` (scriptable with ``server.fail("GET /generation ID" | "GET /generation",
Fault(...))``). For chat it serves
hive's own simulator byte stream (``hive.openrouter.simulator.sse_events``) over real
sockets with chunked transfer encoding, records every request (headers, JSON body, start and
end times) and can be scripted per model with faults: an HTTP error status and body, a replaced
event stream (e.g. a captured one), a stream cut off after N events, a delay, a hang, a
connection reset before any reply, a stall after the events (no end of body), or a stretch of
keep-alive comments before the stream. A ``script`` answers the rest as scripted models, each
reply with its own pacing (``Scripted``): nothing at all for a while (not even headers), silence
after the headers, events trickled over a given time.

Used by the tests (through the ``openrouter`` fixture) and by benchmarks/overhead.py and
benchmarks/adaptive.py.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs

from hive.openrouter.simulator import sse_events

AUTH_FAILURE = b'{"error":{"message":"No cookie auth credentials found","code":401}}'

# The default ``GET /models`` reply: two models in OpenRouter's full shape (tests may set
# ``server.models_body`` to a captured catalog instead).
DEFAULT_MODELS: dict[str, Any] = {
    "data": [
        {
            "id": "openai/gpt-4o-mini",
            "name": "OpenAI: GPT-4o-mini",
            "created": 1721260800,
            "description": "A small, fast model.",
            "context_length": 128000,
            "architecture": {
                "modality": "text+image->text",
                "input_modalities": ["text", "image"],
                "output_modalities": ["text"],
                "tokenizer": "GPT",
                "instruct_type": None,
            },
            "pricing": {"prompt": "0.00000015", "completion": "0.0000006"},
            "top_provider": {
                "context_length": 128000,
                "max_completion_tokens": 16384,
                "is_moderated": True,
            },
            "supported_parameters": ["max_tokens", "temperature"],
            "hugging_face_id": None,
            "knowledge_cutoff": None,
            "expiration_date": None,
        },
        {
            "id": "google/gemma-3-27b-it:free",
            "name": "Google: Gemma 3 27B (free)",
            "created": 1741756359,
            "description": "An open model.",
            "context_length": 131072,
            "architecture": {
                "modality": "text->text",
                "input_modalities": ["text"],
                "output_modalities": ["text"],
                "tokenizer": "Gemini",
                "instruct_type": None,
            },
            "pricing": {"prompt": "0", "completion": "0"},
            "top_provider": {
                "context_length": 131072,
                "max_completion_tokens": None,
                "is_moderated": False,
            },
            "supported_parameters": ["max_tokens"],
            "hugging_face_id": "",
            "knowledge_cutoff": None,
            "expiration_date": None,
        },
    ],
    "total_count": 2,
    "links": {"next": None},
}
# Every model the built-in profiles use, as the package's own small catalog lists them, so a
# real run against this server finds its models in the catalog.
DEFAULT_MODELS["data"] += json.loads(
    resources.files("hive.openrouter").joinpath("builtin_catalog.json").read_text("utf-8")
)["data"]


@dataclass
class Fault:
    status: int | None = None  # answer with this HTTP status instead of a stream
    # The error body (default: OpenRouter's envelope for ``status``); for GET /models without
    # a status, the 200 body to send instead of ``models_body``.
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[bytes] | None = None  # replace the simulated stream with these SSE events
    # Or answer with the events this returns for the request's JSON body (a scripted model
    # that reads its prompt, e.g. a refiner writing a ledger about the drafts it was shown).
    reply: Callable[[dict[str, Any]], list[bytes]] | None = None
    cut_after: int | None = None  # send this many events, then drop the connection
    delay: float = 0.0  # seconds before the response starts
    hang: bool = False  # send headers, then nothing until the client goes away
    stall: bool = False  # send the events, then hang without ending the body
    reset: bool = False  # close the connection with a TCP reset before sending anything
    # Send ": OPENROUTER PROCESSING" comments every KEEPALIVE_EVERY s for this long, then the
    # stream (as OpenRouter does while a slow model has not started answering).
    keepalive_for: float = 0.0


@dataclass
class Scripted:
    """A scripted model's reply to one request: the events, and when they come."""

    events: list[bytes]
    first_byte: float = 0.0  # seconds after the headers before the first event
    latency: float = 0.0  # seconds the events are spread over, after the first
    delay: float = 0.0  # seconds before the response starts: not even the headers are sent


# Per request (its JSON body): the reply, or None for the server's default. It is called in the
# request's own thread before anything is sent, so it may wait (e.g. for another request).
Script = Callable[[dict[str, Any]], Scripted | None]

KEEPALIVE_EVERY = 0.05  # seconds between keep-alive comments
KEEPALIVE = b": OPENROUTER PROCESSING\n\n"


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    started: float
    # When its last byte was about to go out (so a client that waited for the end cannot have
    # sent another request before), or when it ended otherwise.
    finished: float = 0.0


class LoopbackOpenRouter:
    """``with LoopbackOpenRouter() as server:`` then point hive at ``server.base_url``."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        first_byte: float = 0.0,
        api_key: str | None = None,
        script: Script | None = None,
    ) -> None:
        # Chat requests no fault replaces are answered by ``script`` when it gives a reply:
        # scripted models with their own latencies (benchmarks/adaptive.py).
        self.script = script
        self.latency = latency  # seconds each stream takes after its first byte
        self.first_byte = first_byte  # seconds before the first byte of each stream
        self.api_key = api_key  # when set, requests must carry it as a Bearer token
        self.requests: list[RecordedRequest] = []
        # What GET /key answers for an accepted key: OpenRouter's {"data": {...}} envelope.
        self.key_body = json.dumps(
            {
                "data": {
                    "label": "sk-or-v1-tes...bcd",
                    "usage": 1.25,
                    "limit": None,
                    "limit_remaining": None,
                    "is_free_tier": False,
                }
            }
        ).encode()
        # What GET /models answers (no key needed, as on OpenRouter): prices are strings.
        self.models_body = json.dumps(DEFAULT_MODELS).encode()
        # What GET /generation?id=ID answers, by id: a dict is the ``data`` object (sent as
        # {"data": ...}), bytes the whole body as is (exact number literals). An unknown id is
        # a 404 in OpenRouter's error envelope.
        self.generations: dict[str, dict[str, Any] | bytes] = {}
        self._faults: dict[str, deque[Fault]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/api/v1"

    def fail(self, model: str, *faults: Fault) -> None:
        """Queue faults for the next requests naming ``model`` (``*`` matches any model)."""
        with self._lock:
            self._faults[model].extend(faults)

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_fault(self, model: str, *, wildcard: bool = True) -> Fault | None:
        """The next fault queued for ``model`` (or ``*``: chat requests only)."""
        with self._lock:
            for key in (model, "*") if wildcard else (model,):
                if self._faults[key]:
                    return self._faults[key].popleft()
        return None

    def __enter__(self) -> LoopbackOpenRouter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def _error_body(status: int) -> bytes:
    messages = {
        400: "Invalid request parameters",
        401: "No cookie auth credentials found",
        402: "Insufficient credits. Add more using https://openrouter.ai/credits",
        404: "No endpoints found for this model.",
        429: "Rate limit exceeded",
        500: "Internal Server Error",
        502: "Provider returned error",
        503: "Service temporarily unavailable",
    }
    message = messages.get(status, "Error")
    return json.dumps({"error": {"code": status, "message": message}}).encode()


def _make_handler(server: LoopbackOpenRouter) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # small SSE writes go out at once, as from a real server

        def handle(self) -> None:
            # The client dropping a kept-alive connection is normal, not worth a traceback.
            with contextlib.suppress(ConnectionError):
                super().handle()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            record = RecordedRequest(
                "GET", self.path, dict(self.headers.items()), {}, time.monotonic()
            )
            with server._lock:
                server.requests.append(record)
            if self.path.split("?", 1)[0].endswith("/models"):
                self._models()  # public on OpenRouter: no key needed
            elif self.path.split("?", 1)[0].endswith("/generation"):
                self._generation()
            elif not self.path.endswith("/key"):
                self._send(404, _error_body(404))
            elif server.api_key is not None and (
                self.headers.get("Authorization") != f"Bearer {server.api_key}"
            ):
                self._send(401, AUTH_FAILURE)
            else:
                fault = server._next_fault("GET /key", wildcard=False)
                if fault is not None and fault.status is not None:
                    self._send(fault.status, fault.body or _error_body(fault.status))
                else:
                    self._send(200, server.key_body)
            record.finished = time.monotonic()

        def _generation(self) -> None:
            if server.api_key is not None and (
                self.headers.get("Authorization") != f"Bearer {server.api_key}"
            ):
                self._send(401, AUTH_FAILURE)
                return
            gen_id = parse_qs(self.path.partition("?")[2]).get("id", [""])[0]
            fault = server._next_fault(
                f"GET /generation {gen_id}", wildcard=False
            ) or server._next_fault("GET /generation", wildcard=False)
            if fault is not None and fault.status is not None:
                self._send(fault.status, fault.body or _error_body(fault.status), fault.headers)
                return
            found = server.generations.get(gen_id)
            if found is None:  # as OpenRouter answers an id it does not know (yet)
                message = {"error": {"code": 404, "message": "Generation not found"}}
                self._send(404, json.dumps(message).encode())
            elif isinstance(found, bytes):
                self._send(200, found)
            else:
                self._send(200, json.dumps({"data": found}).encode())

        def _models(self) -> None:
            fault = server._next_fault("GET /models", wildcard=False) or Fault()
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status is not None:
                self._send(fault.status, fault.body or _error_body(fault.status), fault.headers)
                return
            payload = fault.body if fault.body is not None else server.models_body
            if not fault.hang:
                self._send(200, payload, fault.headers)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.flush()
            self._wait_for_disconnect()

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            record = RecordedRequest(
                "POST", self.path, dict(self.headers.items()), body, time.monotonic()
            )
            with server._lock:
                server.requests.append(record)
            try:
                self._answer(body, record)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                record.finished = record.finished or time.monotonic()

        def _answer(self, body: dict[str, Any], record: RecordedRequest) -> None:
            if not self.path.endswith("/chat/completions"):
                self._send(404, _error_body(404))
                return
            if server.api_key is not None and (
                self.headers.get("Authorization") != f"Bearer {server.api_key}"
            ):
                self._send(401, AUTH_FAILURE)
                return
            fault = server._next_fault(str(body.get("model", ""))) or Fault()
            if fault.delay:
                time.sleep(fault.delay)
            if fault.reset:
                self._reset()
                return
            if fault.status is not None:
                self._send(fault.status, fault.body or _error_body(fault.status), fault.headers)
                return
            first_byte, latency = server.first_byte, server.latency
            scripted = server.script(body) if server.script is not None else None
            if fault.reply is not None:
                events = fault.reply(body)
            elif fault.events is not None:
                events = fault.events
            elif scripted is not None:
                events, first_byte, latency = (
                    scripted.events, scripted.first_byte, scripted.latency,
                )  # fmt: skip
                time.sleep(scripted.delay)
            else:
                events = sse_events(body)
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            for name, value in fault.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if fault.hang:
                self.wfile.flush()
                self._wait_for_disconnect()
                return
            if fault.keepalive_for:
                until = time.monotonic() + fault.keepalive_for
                while time.monotonic() < until:
                    self._chunk(KEEPALIVE)
                    time.sleep(KEEPALIVE_EVERY)
            if first_byte:
                time.sleep(first_byte)
            step = latency / max(1, len(events))
            for n, event in enumerate(events):
                if fault.cut_after is not None and n >= fault.cut_after:
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._chunk(event)
                if step and n + 1 < len(events):
                    time.sleep(step)
            if fault.stall:
                self._wait_for_disconnect()
                return
            record.finished = time.monotonic()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _reset(self) -> None:
            """Abort the connection: SO_LINGER 0 makes close() send RST, not FIN."""
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

        def _wait_for_disconnect(self) -> None:
            self.connection.settimeout(0.1)
            while not server._closing.is_set():
                try:
                    if self.connection.recv(1) == b"":
                        return
                except TimeoutError:
                    continue
                except OSError:
                    return

    return Handler
