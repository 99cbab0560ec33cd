"""A receiver for the relay benchmark: answers 200 to every POST on the
ports given, and writes how many each got, and when the last arrived, to
<out> whenever asked with SIGUSR1 (and on exit)."""

import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

out, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
counts = {p: 0 for p in ports}
last = [0.0]
lock = threading.Lock()


def handler_for(port):
    class Handler(BaseHTTPRequestHandler):
        # Keep-alive, as receivers behind a web server answer: with HTTP/1.0
        # every answer closes its connection, and a sender reusing one the
        # receiver just closed sees it fail.
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with lock:
                counts[port] += 1
                last[0] = time.time()
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Handler


def dump(*_):
    with lock:
        line = " ".join(str(counts[p]) for p in ports) + f" {last[0]:.3f}\n"
    with open(out, "w") as f:
        f.write(line)


class Server(ThreadingHTTPServer):
    # The default backlog of 5 refuses connections when the worker sends a
    # burst; a real receiver listens with a deeper one.
    request_queue_size = 512
    daemon_threads = True


signal.signal(signal.SIGUSR1, dump)
servers = [Server(("127.0.0.1", p), handler_for(p)) for p in ports]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
dump()
try:
    signal.pause() if hasattr(signal, "pause") else time.sleep(10**9)
    while True:
        signal.pause()
except KeyboardInterrupt:
    pass
finally:
    dump()
