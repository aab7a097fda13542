"""A TCP relay that holds every byte for a fixed time in each direction, as a network link between hosts would.

    python3 bench/relay.py LISTEN_PORT TARGET_HOST TARGET_PORT ONE_WAY_MS

The bench puts it between localzoom and PostgreSQL to count the round trips a request waits for: the time per
request with a delay, less the time with none, over the round-trip time.
"""
import collections
import socket
import sys
import threading
import time


def pipe(src, dst, delay):
    """Copies src to dst, each chunk sent `delay` seconds after it arrived, in order."""
    queue, ready = collections.deque(), threading.Condition()

    def read():
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            with ready:
                queue.append((time.monotonic() + delay, data))
                ready.notify()
            if not data:
                return

    def write():
        while True:
            with ready:
                while not queue:
                    ready.wait()
                due, data = queue.popleft()
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                dst.sendall(data)
            except OSError:
                return

    threading.Thread(target=read, daemon=True).start()
    threading.Thread(target=write, daemon=True).start()


def main():
    port, host, target_port, one_way_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    listener = socket.create_server(("127.0.0.1", port))
    while True:
        client, _ = listener.accept()
        try:
            server = socket.create_connection((host, target_port))
        except OSError:
            client.close()
            continue
        for s in (client, server):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pipe(client, server, one_way_ms / 1000)
        pipe(server, client, one_way_ms / 1000)


if __name__ == "__main__":
    main()
