#!/usr/bin/env python3
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Notification receivers on 127.0.0.1 for the tests: one HTTP server (a JSON webhook, Apprise's ``json://``,
healthchecks-style ``/<uuid>``, ``/<uuid>/start``, ``/<uuid>/fail`` pings: it records every request) and a small
SMTP server (Python 3.12 has no ``smtpd``) recording every message. A path under ``/status/<code>/`` answers
that HTTP status (a failing endpoint).

As a script (Molecule): ``receiver.py --port-file F --log F`` writes ``{"http": port, "smtp": port}`` to the port
file once both listen, and appends one JSON line per request or message to the log.
From pytest: ``with Receivers() as r: ... r.http_port, r.smtp_port, r.requests, r.messages``. Given ``tls``
(certificate and key files), the SMTP server also offers STARTTLS, and ``r.smtps_port`` speaks TLS from the first
byte (SMTPS); each message records whether it came over TLS.
"""

from __future__ import annotations

import argparse
import base64
import email
import email.policy
import http.server
import json
import os
import re
import socketserver
import ssl
import threading

STATUS_RE = re.compile(r"^/status/(\d{3})(/|$)")


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self._record(b"")

    def do_POST(self):
        self._record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _record(self, raw):
        body = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.server.owner.add("http", {"method": self.command, "path": self.path, "body": body, "json": parsed,
                                       "content_type": self.headers.get("Content-Type"),
                                       "authorization": self.headers.get("Authorization")})
        match = STATUS_RE.match(self.path)
        code = int(match.group(1)) if match else 200
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"OK")

    def log_message(self, *args):
        pass


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Enough SMTP for smtplib: EHLO/HELO, AUTH PLAIN (any password; the user name is recorded), MAIL, RCPT, DATA,
    RSET, NOOP, QUIT."""

    tls = False

    def reply(self, line):
        self.wfile.write((line + "\r\n").encode("ascii"))

    def _start_tls(self):
        self.connection = self.server.owner.tls.wrap_socket(self.connection, server_side=True)
        self.rfile = self.connection.makefile("rb")
        self.wfile = self.connection.makefile("wb", buffering=0)
        self.tls = True

    def handle(self):
        if getattr(self.server, "implicit_tls", False):
            try:
                self._start_tls()
            except (ssl.SSLError, OSError):  # a client that does not trust the certificate hangs up
                return
        self.reply("220 owb-test-receiver ESMTP")
        mail = {"from": None, "to": [], "user": None}
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb, _sep, arg = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-owb-test-receiver")
                if self.server.owner.tls and not self.tls:
                    self.reply("250-STARTTLS")
                self.reply("250 AUTH PLAIN")
            elif verb == "STARTTLS" and self.server.owner.tls and not self.tls:
                self.reply("220 Ready to start TLS")
                try:
                    self._start_tls()
                except (ssl.SSLError, OSError):
                    return
            elif verb == "HELO" or verb in ("NOOP", "RSET"):
                self.reply("250 OK")
            elif verb == "AUTH" and arg.upper().startswith("PLAIN "):
                mail["user"] = base64.b64decode(arg.split(" ", 1)[1]).split(b"\0")[1].decode()
                self.reply("235 2.7.0 Authentication successful")
            elif verb == "MAIL":
                mail["from"] = arg.split(":", 1)[1].strip().strip("<>")
                self.reply("250 OK")
            elif verb == "RCPT":
                mail["to"].append(arg.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                self._data(mail)
                mail = {"from": None, "to": [], "user": mail["user"]}
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def _data(self, mail):
        lines = []
        while True:
            line = self.rfile.readline()
            if line in (b".\r\n", b".\n", b""):
                break
            lines.append(line[1:] if line.startswith(b"..") else line)
        msg = email.message_from_bytes(b"".join(lines), policy=email.policy.default)
        self.server.owner.add("smtp", dict(mail, subject=str(msg["Subject"]), body=msg.get_content(), tls=self.tls))
        self.reply("250 OK: queued")


class _ThreadingTCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Receivers(object):
    """The HTTP and SMTP receivers, started on free ports of 127.0.0.1."""

    def __init__(self, log=None, tls=None):
        self.log = log
        self.requests = []
        self.messages = []
        self.lock = threading.Lock()
        self.tls = None
        if tls:
            self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.tls.load_cert_chain(*tls)
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HTTPHandler)
        self.smtp = _ThreadingTCP(("127.0.0.1", 0), _SMTPHandler)
        self.servers = [self.http, self.smtp]
        if self.tls:
            self.smtps = _ThreadingTCP(("127.0.0.1", 0), _SMTPHandler)
            self.smtps.implicit_tls = True
            self.smtps.owner = self
            self.smtps_port = self.smtps.server_address[1]
            self.servers.append(self.smtps)
        self.http.owner = self.smtp.owner = self
        self.http_port = self.http.server_address[1]
        self.smtp_port = self.smtp.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.http_port

    def add(self, kind, entry):
        with self.lock:
            (self.requests if kind == "http" else self.messages).append(entry)
            if self.log:
                with open(self.log, "a", encoding="utf-8") as f:
                    f.write(json.dumps(dict(entry, kind=kind), sort_keys=True) + "\n")

    def paths(self):
        return [r["path"] for r in self.requests]

    def start(self):
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for server in self.servers:
            server.shutdown()
            server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--port-file", required=True, help='written once listening: {"http": port, "smtp": port}')
    parser.add_argument("--log", required=True, help="one JSON line per request or message")
    args = parser.parse_args()
    receivers = Receivers(log=args.log)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"http": receivers.http_port, "smtp": receivers.smtp_port}, f)
    os.replace(tmp, args.port_file)
    threading.Thread(target=receivers.smtp.serve_forever, daemon=True).start()
    receivers.http.serve_forever()


if __name__ == "__main__":
    main()
