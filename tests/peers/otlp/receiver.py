#!/usr/bin/env python3
"""An OTLP/HTTP logs receiver for the tests: every request body is parsed with the OpenTelemetry
project's own protobuf definitions (opentelemetry-proto, `json_format.Parse` without ignoring
unknown fields), so a body the collector would reject is rejected here too (400). Each accepted log
record is printed on stdout as one JSON line (the proto's own JSON mapping).

    python receiver.py            first line on stdout: {"endpoint": "http://127.0.0.1:PORT/v1/logs"}
    --fail N                      answer 503 to the first N exports (a collector that is down)
"""
import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

args = argparse.ArgumentParser()
args.add_argument("--fail", type=int, default=0)
opts = args.parse_args()
state = {"fail": opts.fail}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):  # quiet
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        if self.path != "/v1/logs":
            return self.answer(404, {"error": "not /v1/logs"})
        if self.headers.get("content-type", "").split(";")[0] != "application/json":
            return self.answer(415, {"error": "content-type must be application/json"})
        if state["fail"] > 0:
            state["fail"] -= 1
            return self.answer(503, {"error": "injected"})
        try:
            req = json_format.Parse(body, ExportLogsServiceRequest())
        except json_format.ParseError as e:
            return self.answer(400, {"error": str(e)})
        for rl in req.resource_logs:
            resource = json_format.MessageToDict(rl.resource)
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    out = json_format.MessageToDict(rec)
                    out["resource"] = resource
                    out["scope"] = sl.scope.name
                    print(json.dumps(out), flush=True)
        return self.answer(200, {})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(json.dumps({"endpoint": f"http://127.0.0.1:{server.server_port}/v1/logs"}), flush=True)
server.serve_forever()
