"""A small TCP proxy on a free loopback port in front of a server (PostgreSQL in the fault
suite), which a test can cut and restore: the way to make "the database connection drops"
happen to real processes without touching the database server itself.

    with TcpProxy("127.0.0.1", 5432) as proxy:   # clients connect to proxy.port
        proxy.cut()       # every open connection dropped, every new one refused
        proxy.restore()   # the same port accepts again

Cut means what a network partition or a database restart looks like to a client: sockets
closed under it (its next read fails) and connections refused until the server is back.
"""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.processes import free_port

CHUNK = 65536


class TcpProxy:
    """Forwards every connection to `port` on 127.0.0.1 to (`target_host`, `target_port`)."""

    def __init__(self, target_host: str, target_port: int, port: int | None = None):
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self.connections = 0  # accepted since the start: a test can see the clients came back

    # -- the listening side -----------------------------------------------------------------

    def start(self) -> TcpProxy:
        """Listen on `port` (again, after a cut); returns self once it accepts."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()
        return self

    def cut(self) -> None:
        """Refuse new connections and drop every open one."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _close(listener)
            self._acceptor.join(5)
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _close(sock)

    def restore(self) -> None:
        """Accept connections on the same port again."""
        if self._listener is None:
            self.start()

    stop = cut

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.cut()

    # -- forwarding -------------------------------------------------------------------------

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:  # the listener was closed: cut
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    _close(client)
                    _close(upstream)
                    return
                self._sockets.update((client, upstream))
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        """Copy one direction until either side closes; then close both."""
        try:
            while data := source.recv(CHUNK):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    """Close at once, both directions: a peer blocked in recv() sees the end now."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
