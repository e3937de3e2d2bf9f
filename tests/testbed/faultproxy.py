# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of an S3 endpoint (moto, tests/testbed/s3.sh).

Clients use the proxy's URL as ``endpoint_url`` with path-style addressing. Requests are forwarded unchanged
(Host kept: SigV4 signatures stay valid); keep-alive, ``Expect: 100-continue`` (answered here), Content-Length
and chunked bodies (boto3's aws-chunked uploads pass through as they are) are handled.

Faults (in-process: methods of :class:`FaultProxy`; out of process: the control API):
  refuse()          stop listening and cut open connections: "endpoint down" (connection refused)
  restore()         listen again, clear every fault
  drop_next(n)      read the next n requests, then close the connection without an answer
  fail_next(n, status=503, code=None)   answer the next n requests with an S3 error (500 InternalError,
                    503 SlowDown, or the code given: e.g. 400 EntityTooLarge, 507 InsufficientStorage)
  no_conditional    (default False) answer 501 NotImplemented to a request with If-None-Match, as S3-compatible
                    endpoints without conditional writes do
  reset_after(nbytes)        once nbytes more request-body bytes arrived, reset the connection (TCP RST) in the
                    middle of that body (e.g. inside a multipart upload's part)
  verify_checksums  (default True) refuse a body whose x-amz-checksum-sha256 does not match with 400 BadDigest,
                    as AWS does (moto 5.2.5 stores whatever checksum it is given)
Counters (``counters()``): requests by method, request-body bytes received (what the clients sent, counted at
the endpoint), the most PUT bodies received at once, delete calls (DeleteObject, DeleteObjects), puts to keys that existed (a HEAD upstream before
each PutObject/CompleteMultipartUpload) and overwrites (such a put the endpoint accepted), faults injected.

Control API (``--control-port``): GET /counters -> JSON; POST /control with a JSON object, e.g.
{"refuse": true} {"restore": true} {"drop_next": 2} {"fail_next": [3, 503]} {"reset_after": 1048576}
{"fail_next": [1, 400, "EntityTooLarge"]} {"verify_checksums": false} {"no_conditional": true} {"reset_counters": true}.

    python3 faultproxy.py --upstream http://127.0.0.1:5000 [--port 0] [--control-port 0]
prints "proxy http://127.0.0.1:P control http://127.0.0.1:C" and serves until killed.
"""

from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import http.client
import http.server
import json
import socket
import struct
import sys
import threading
from urllib.parse import parse_qs, urlsplit

_HOP = ("connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "expect")
_ANY_SIGNATURE = ("AWS4-HMAC-SHA256 Credential=faultproxy/20260101/us-east-1/s3/aws4_request, "
                  "SignedHeaders=host, Signature=0")
_REASONS = {500: ("InternalError", "We encountered an internal error. Please try again."),
            503: ("SlowDown", "Please reduce your request rate.")}


class _Cut(Exception):
    """The proxy cut the client connection on purpose (drop / reset)."""


class FaultProxy(object):
    def __init__(self, upstream, port=0, host="127.0.0.1"):
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname, parts.port or 80)
        self.host = host
        self.port = port
        self.verify_checksums = True
        self.no_conditional = False
        self._lock = threading.Lock()
        self._listener = None
        self._conns = set()
        self._uploads = 0  # PUT bodies being received now
        self._stopped = threading.Event()
        self._clear_faults()
        self.reset_counters()

    # ------------------------------------------------------------------ control

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def start(self):
        self._listen()
        threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True).start()
        return self

    def stop(self):
        self._stopped.set()
        self.refuse()

    def _clear_faults(self):
        with self._lock:
            self._drop = 0
            self._fail = collections.deque()
            self._reset_at = None

    def reset_counters(self):
        with self._lock:
            self._counters = {"requests": collections.Counter(), "body_bytes": 0, "deletes": 0, "delete_keys": 0,
                              "puts_to_existing": 0, "overwrites": 0, "dropped": 0, "failed": 0, "resets": 0,
                              "bad_digest": 0, "connections": 0, "uploads_in_flight_max": 0}

    def counters(self):
        with self._lock:
            out = dict(self._counters)
            out["requests"] = dict(out["requests"])
            return out

    def refuse(self):
        """Endpoint down: no listener (connection refused) and every open connection cut."""
        with self._lock:
            listener, self._listener = self._listener, None
            conns = list(self._conns)
        for s in ([listener] if listener else []) + conns:
            _close(s)

    def restore(self):
        self._clear_faults()
        if self._listener is None and not self._stopped.is_set():
            self._listen()

    def drop_next(self, n):
        with self._lock:
            self._drop += int(n)

    def fail_next(self, n, status=503, code=None):
        with self._lock:
            self._fail.extend([(int(status), code)] * int(n))

    def reset_after(self, nbytes):
        with self._lock:
            self._reset_at = self._counters["body_bytes"] + int(nbytes)

    def control(self, command):
        """The JSON control API's verbs (see the module text)."""
        for verb, arg in command.items():
            if verb == "fail_next":
                self.fail_next(*(arg if isinstance(arg, list) else [arg]))
            elif verb in ("verify_checksums", "no_conditional"):
                setattr(self, verb, bool(arg))
            elif verb in ("refuse", "restore", "reset_counters"):
                getattr(self, verb)()
            elif verb in ("drop_next", "reset_after"):
                getattr(self, verb)(arg)
            else:
                raise ValueError("unknown control verb %r" % verb)

    # ------------------------------------------------------------------ serving

    def _listen(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        s.settimeout(0.2)
        self.port = s.getsockname()[1]
        with self._lock:
            self._listener = s

    def _accept_loop(self):
        while not self._stopped.is_set():
            listener = self._listener
            if listener is None:
                self._stopped.wait(0.05)
                continue
            try:
                conn, dummy = listener.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(None)
            with self._lock:
                self._conns.add(conn)
                self._counters["connections"] += 1
            threading.Thread(target=self._serve, args=(conn,), name="faultproxy-conn", daemon=True).start()

    def _serve(self, conn):
        upstream = http.client.HTTPConnection(*self.upstream, timeout=120)
        reader = conn.makefile("rb")
        try:
            while self._one(conn, reader, upstream):
                pass
        except (_Cut, OSError, http.client.HTTPException):
            pass
        finally:
            with self._lock:
                self._conns.discard(conn)
            upstream.close()
            _close(conn)

    def _one(self, conn, reader, upstream):
        """Serve one request; False when the connection is to be closed."""
        line = reader.readline(65537)
        if not line.strip():
            return False
        method, target, dummy = line.decode("latin-1").split(" ", 2)
        headers = http.client.parse_headers(reader)
        with self._lock:
            self._counters["requests"][method] += 1
        if headers.get("Expect", "").lower() == "100-continue":
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self._read_body(conn, reader, headers, upload=method == "PUT")
        with self._lock:
            drop = self._drop > 0
            self._drop -= drop
            fail = self._fail.popleft() if self._fail and not drop else None
            if drop or fail:
                self._counters["dropped" if drop else "failed"] += 1
        if drop:
            raise _Cut()
        if fail:
            status, code = fail
            code, message = (code, "injected by faultproxy") if code else _REASONS.get(status, ("ServiceUnavailable", "Unavailable"))
            return self._answer(conn, status, {"Content-Type": "application/xml"}, _error_xml(code, message), method)
        if self.no_conditional and headers.get("If-None-Match"):
            return self._answer(conn, 501, {"Content-Type": "application/xml"},
                                _error_xml("NotImplemented", "A header you provided implies functionality that is not implemented"), method)
        bad = self._bad_digest(headers, body)
        if bad:
            return self._answer(conn, 400, {"Content-Type": "application/xml"}, bad, method)
        write_key = self._object_write(method, target)
        existed = write_key is not None and self._exists(write_key)
        self._count_deletes(method, target, body)
        status, out_headers, out_body = self._forward(upstream, method, target, headers, body)
        with self._lock:
            self._counters["puts_to_existing"] += existed
            self._counters["overwrites"] += existed and 200 <= status < 300
        close = headers.get("Connection", "").lower() == "close"
        return self._answer(conn, status, out_headers, out_body, method, keep=not close, raw_length=method == "HEAD")

    def _read_body(self, conn, reader, headers, upload):
        """The request body; a PUT's counts as an upload in flight while it is being received."""
        with self._lock:
            self._uploads += upload
            self._counters["uploads_in_flight_max"] = max(self._counters["uploads_in_flight_max"], self._uploads)
        try:
            return self._read_body_framed(conn, reader, headers)
        finally:
            with self._lock:
                self._uploads -= upload

    def _read_body_framed(self, conn, reader, headers):
        if headers.get("Transfer-Encoding", "").lower() == "chunked":
            pieces = []
            while True:
                size = int(reader.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while reader.readline(65537).strip():
                        pass
                    return b"".join(pieces)
                pieces.append(self._read_counted(conn, reader, size))
                reader.readline(3)
        return self._read_counted(conn, reader, int(headers.get("Content-Length") or 0))

    def _read_counted(self, conn, reader, size):
        """Read ``size`` body bytes, counting them, and reset the connection where ``reset_after`` says."""
        got = []
        while size > 0:
            piece = reader.read1(min(size, 1 << 16))
            if not piece:
                raise _Cut()
            size -= len(piece)
            got.append(piece)
            with self._lock:
                self._counters["body_bytes"] += len(piece)
                fire = self._reset_at is not None and self._counters["body_bytes"] >= self._reset_at
                if fire:
                    self._reset_at = None
                    self._counters["resets"] += 1
            if fire:  # RST: linger 0, and the last reference to the socket closed
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                reader.close()
                conn.close()
                raise _Cut()
        return b"".join(got)

    def _bad_digest(self, headers, body):
        want = headers.get("x-amz-checksum-sha256")
        if not self.verify_checksums or not want or "aws-chunked" in headers.get("Content-Encoding", ""):
            return None
        if base64.b64encode(hashlib.sha256(body).digest()).decode() == want:
            return None
        with self._lock:
            self._counters["bad_digest"] += 1
        return _error_xml("BadDigest", "The SHA256 you specified did not match the calculated checksum.")

    @staticmethod
    def _object_write(method, target):
        """'/bucket/key' when the request writes a whole object (PutObject, CompleteMultipartUpload)."""
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        bucket_key = parts.path.lstrip("/").split("/", 1)
        if len(bucket_key) < 2 or not bucket_key[1]:
            return None
        if (method == "PUT" and not query) or (method == "POST" and "uploadId" in query):
            return parts.path
        return None

    def _count_deletes(self, method, target, body):
        parts = urlsplit(target)
        query = parse_qs(parts.query, keep_blank_values=True)
        is_object = len(parts.path.lstrip("/").split("/", 1)) == 2
        with self._lock:
            if method == "DELETE" and is_object and "uploadId" not in query:
                self._counters["deletes"] += 1
                self._counters["delete_keys"] += 1
            elif method == "POST" and "delete" in query:
                self._counters["deletes"] += 1
                self._counters["delete_keys"] += body.count(b"<Key>")

    def _exists(self, path):
        c = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:  # moto without auth takes any signature; without one the object is anonymous-private (403)
            c.request("HEAD", path, headers={"Authorization": _ANY_SIGNATURE})
            return c.getresponse().status == 200
        finally:
            c.close()

    def _forward(self, upstream, method, target, headers, body):
        out = [(k, v) for k, v in headers.items() if k.lower() not in _HOP and k.lower() != "content-length"]
        try:
            upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            for k, v in out:
                upstream.putheader(k, v)
            if body or method in ("PUT", "POST"):
                upstream.putheader("Content-Length", str(len(body)))
            upstream.endheaders(body or None)
            resp = upstream.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException):
            upstream.close()
            return 502, {"Content-Type": "application/xml"}, _error_xml("BadGateway", "upstream failed")
        kept = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
        if method != "HEAD":
            kept.pop("Content-Length", None)
            kept.pop("content-length", None)
        return resp.status, kept, data

    @staticmethod
    def _answer(conn, status, headers, body, method, keep=True, raw_length=False):
        lines = ["HTTP/1.1 %d %s" % (status, http.client.responses.get(status, "Status"))]
        lines += ["%s: %s" % (k, v) for k, v in headers.items()]
        if not raw_length:
            lines.append("Content-Length: %d" % len(body))
        lines.append("Connection: %s" % ("keep-alive" if keep else "close"))
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if method == "HEAD" else body))
        return keep


def _error_xml(code, message):
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
            '<RequestId>faultproxy</RequestId></Error>' % (code, message)).encode()


def _close(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass


def _control_server(proxy, port):
    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, status, obj):
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._reply(200, proxy.counters()) if self.path == "/counters" else self._reply(404, {"error": "GET /counters"})

        def do_POST(self):
            try:
                proxy.control(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}"))
            except (ValueError, TypeError) as e:
                return self._reply(400, {"error": str(e)})
            self._reply(200, proxy.counters())

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    return server


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    ap.add_argument("--upstream", required=True, help="the S3 endpoint, e.g. http://127.0.0.1:5000")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    args = ap.parse_args(argv)
    proxy = FaultProxy(args.upstream, port=args.port).start()
    control = _control_server(proxy, args.control_port)
    print("proxy %s control http://127.0.0.1:%d" % (proxy.url, control.server_address[1]), flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
