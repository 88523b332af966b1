"""A small TCP proxy on loopback that can cut every connection through it on command: the soak points the
scale-out processes' DATABASE_URL at it to cut their PostgreSQL connections mid-transaction.

    proxy = CuttingProxy(5432).start()      # listens on 127.0.0.1:<proxy.port>, forwards to 127.0.0.1:5432
    proxy.cut()                             # closes both ends of every live connection; returns how many
    proxy.stop()

Run alone (`python benchmarks/tcp_proxy.py 5432`), it prints its port and cuts on SIGUSR1.
"""

from __future__ import annotations

import contextlib
import selectors
import signal
import socket
import sys
import threading


class CuttingProxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1", listen_port: int = 0) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", listen_port))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._stopping = threading.Event()
        self.accepted = 0
        self.cut_connections = 0  # connections closed by `cut`, over all cuts

    def start(self) -> CuttingProxy:
        threading.Thread(target=self._accept, name="tcp-proxy-accept", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
                self.accepted += 1
            threading.Thread(target=self._pump, args=(pair,), name="tcp-proxy-pump", daemon=True).start()

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        client, upstream = pair
        other = {client: upstream, upstream: client}
        sel = selectors.DefaultSelector()
        try:
            for sock in pair:
                sel.register(sock, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select(timeout=1.0):
                    data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        return
                    other[key.fileobj].sendall(data)  # type: ignore[index]
                if self._stopping.is_set():
                    return
        except (OSError, ValueError):
            return
        finally:
            sel.close()
            self._close(pair)

    def _close(self, pair: tuple[socket.socket, socket.socket]) -> bool:
        with self._lock:
            if pair not in self._pairs:
                return False
            self._pairs.discard(pair)
        for sock in pair:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        return True

    def live(self) -> int:
        with self._lock:
            return len(self._pairs)

    def cut(self) -> int:
        """Close both ends of every live connection at once (what a network drop or a failover looks like
        to both sides). Returns how many were cut."""
        with self._lock:
            pairs = list(self._pairs)
        n = sum(self._close(p) for p in pairs)
        with self._lock:
            self.cut_connections += n
        return n

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()


def main() -> None:
    proxy = CuttingProxy(int(sys.argv[1]) if len(sys.argv) > 1 else 5432).start()
    signal.signal(signal.SIGUSR1, lambda *_: print(f"cut {proxy.cut()} connection(s)", flush=True))
    print(f"listening on 127.0.0.1:{proxy.port}; SIGUSR1 cuts every connection", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})
    proxy.stop()


if __name__ == "__main__":
    main()
