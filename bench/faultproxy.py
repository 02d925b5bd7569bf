"""An HTTP proxy in front of an S3 server that answers a share of the requests with 503 SlowDown
(without forwarding them), for the benchmark's fault run (issue 8). Counts what it did, and how
many requests were in flight when each one arrived (the client's concurrency)."""

import http.client
import random
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SLOWDOWN = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
            b'<Message>Please reduce your request rate.</Message></Error>')


class FaultProxy:
    def __init__(self, upstream_port, share, seed=1):
        self.upstream_port = upstream_port
        self.share = share
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.forwarded = 0
        self.refused = 0
        self.in_flight = 0
        self.arrivals = []  # requests in flight (this one included) as each arrived
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def handle_any(self):
                with proxy.lock:
                    proxy.in_flight += 1
                    proxy.arrivals.append(proxy.in_flight)
                try:
                    self.relay()
                finally:
                    with proxy.lock:
                        proxy.in_flight -= 1

            def relay(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with proxy.lock:
                    refuse = proxy.random.random() < proxy.share
                    if refuse:
                        proxy.refused += 1
                    else:
                        proxy.forwarded += 1
                if refuse:
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(SLOWDOWN)))
                    self.end_headers()
                    self.wfile.write(SLOWDOWN)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=120)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding"):
                        self.send_header(k, v)
                data = resp.read()
                if resp.getheader("Content-Length") is None:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def concurrency(self):
        """(mean, max) of the requests in flight as each request arrived."""
        with self.lock:
            a = list(self.arrivals)
        return (sum(a) / len(a), max(a)) if a else (0.0, 0)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
