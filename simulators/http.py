"""The loopback HTTP server every simulator runs: a `ThreadingHTTPServer` on a background thread that turns
each request into a `SimRequest`, asks the simulator's `handle()` and writes the `SimResponse` back.

A simulator subclasses `LoopbackSimulator` and states only what differs: `handle()` (its routes),
`internal_error()` (its payload format for an unexpected exception), `server_version`, and optionally
`_on_start()` / `_on_stop()` for workers that live and die with the server (e.g. webhook senders).
It must have a `clock` (a `SimClock`): the Date header follows simulated time.

    with MySimulator(port=0) as sim:   # start() / stop() also work; serve_forever() for a CLI
        sim.port, sim.root_url
"""

from __future__ import annotations

import email.utils
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from simulators.xero_identity import SimClock, SimRequest, SimResponse

PACE_CHUNK = 64 * 1024  # bytes per write of a paced body


class LoopbackSimulator:
    server_version = "Simulator/1.0"
    poll_interval = 0.1  # how soon stop() is noticed
    clock: SimClock

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- what a simulator states ----
    def handle(self, req: SimRequest) -> SimResponse:
        raise NotImplementedError

    def internal_error(self) -> SimResponse:
        """The answer when `handle()` raises (the remote system's own 500)."""
        return SimResponse(500, b"Internal Server Error", {"Content-Type": "text/plain"})

    def _on_start(self) -> None:
        """Called once the server is listening."""

    def _on_stop(self) -> None:
        """Called on every stop(), before the server shuts down."""

    # ---- lifecycle ----
    def start(self) -> Self:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self._host, self._port), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name=f"{type(self).__name__}-http", daemon=True)
        self._thread.start()
        self._on_start()
        return self

    def stop(self) -> None:
        self._on_stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def serve_forever(self) -> None:
        """Serve in the calling thread (CLI) until interrupted."""
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.5)
        finally:
            self.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- address ----
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("simulator not started")
        return int(self._server.server_address[1])

    @property
    def root_url(self) -> str:
        return f"http://{self._host}:{self.port}"


def _make_handler(sim: LoopbackSimulator) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = sim.server_version

        def version_string(self) -> str:
            return self.server_version

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if len(body) < length:
                # The client went away mid-request (e.g. a worker killed while sending): a real server never
                # runs a request it did not receive whole, and there is no one to answer.
                self.close_connection = True
                return
            req = SimRequest.from_target(self.command, self.path, self.headers.items(), body)
            try:
                resp = sim.handle(req)
            except Exception:  # an application exception: the remote system answers 500
                resp = sim.internal_error()
            if resp.reset_connection:
                self._reset()
                return
            try:
                self.send_response(resp.status)
                for name, value in resp.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(resp.body)))
                if resp.bytes_per_second and self.command != "HEAD":
                    self.end_headers()
                    self._paced(resp.body, resp.bytes_per_second)
                    return
                # Head and body in one write: two small writes meet Nagle + delayed ACK (~40 ms per call).
                self._headers_buffer.append(b"\r\n" + (resp.body if self.command != "HEAD" else b""))
                self.flush_headers()
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (e.g. its read timeout): nothing to tell

        def _paced(self, body: bytes, rate: float) -> None:
            """The body in 64 KiB chunks at `rate` bytes a second, as a slow server streams a large answer."""
            view = memoryview(body)
            for start in range(0, len(body), PACE_CHUNK):
                chunk = view[start:start + PACE_CHUNK]
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(len(chunk) / rate)

        def _reset(self) -> None:
            # SO_LINGER 0 turns the close into a TCP RST: the client sees "connection reset", no response.
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def date_time_string(self, timestamp: float | None = None) -> str:
            return email.utils.formatdate(sim.clock.time() if timestamp is None else timestamp, usegmt=True)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # request lines and bodies carry tenant data and tokens; stay quiet

    return Handler
