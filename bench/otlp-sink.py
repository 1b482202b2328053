#!/usr/bin/env python3
"""An OTLP/HTTP sink for the benchmark: answers every POST /v1/traces with 200 and counts what
it was sent, so the server's cost of exporting traces can be measured without a collector.

    bench/otlp-sink.py PORT    serves on 127.0.0.1:PORT until killed; on SIGTERM prints
                               "N exports, B bytes" to stderr
"""
import http.server
import signal
import sys

exports = 0
received = 0


class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        global exports, received
        length = int(self.headers.get("Content-Length", 0))
        received += len(self.rfile.read(length))
        exports += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"{exports} exports, {received} bytes", file=sys.stderr)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
