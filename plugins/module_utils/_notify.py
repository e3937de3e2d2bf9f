# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Notifications of a run: Apprise URLs (through Debian's ``apprise`` CLI), a plain JSON webhook, email through
SMTP, and healthchecks.io-style pings (start, then success or fail: a dead man's switch).

:func:`normalize` checks the notifiers when a job is saved or checked (BackupError on bad input);
:func:`send` never raises: a notifier that fails is an outcome with its error, never a lost backup result.
No outcome or error holds a secret (``url``, ``password``). See docs/NOTIFY.md.

Plain Python (stdlib), no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import base64
import email.message
import json
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import urllib.parse
import urllib.request

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, check_known, default_host
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import scrub

TYPES = ("apprise", "webhook", "email", "healthchecks")
ON_EVENTS = ("failure", "warning", "success")
EVENTS = ("start",) + ON_EVENTS
SECRET_OPTIONS = ("url", "password")
COMMON = {"name": None, "type": None, "events": ["failure"], "timeout": 10}
# ``on`` (the design's name) is an alias of ``events``: YAML reads an unquoted ``on:`` key as the boolean true.
ALIASES = {"on": "events"}
PER_TYPE = {
    "apprise": {"url": None},
    "webhook": {"url": None},
    "healthchecks": {"url": None},
    "email": {"smtp_host": None, "smtp_port": None, "starttls": False, "smtp_ssl": False, "username": None,
              "password": None, "from": None, "to": None},
}
LOOPBACK = ("localhost", "127.0.0.1", "::1")  # a local relay: a password to it never crosses the network
NAME_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
APPRISE_TYPES = {"start": "info", "success": "success", "warning": "warning", "failure": "failure"}
HEALTHCHECKS_SUFFIX = {"start": "/start", "success": "", "warning": "", "failure": "/fail"}
MAX_BODY = 10000  # healthchecks.io keeps the first 100 kB of a ping body; a summary is one screen


def _bad(name, problem, fix):
    return BackupError("notifier %s: %s" % (name, problem), fix)


def _check_url(name, n):
    url = n.get("url")
    if not url or not isinstance(url, str) or any(c.isspace() for c in url):
        raise _bad(name, "url is missing or holds white space", "set url (no spaces), e.g. %s" % {
            "apprise": "ntfys://ntfy.sh/mytopic", "webhook": "https://hooks.example.com/backup",
            "healthchecks": "https://hc-ping.com/<uuid>"}[n["type"]])
    if n["type"] != "apprise" and urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise _bad(name, "url is not an http(s) URL", "give an http:// or https:// URL")


def _check_email(name, n):
    if not n["smtp_host"]:
        raise _bad(name, "an email notifier needs smtp_host", "set smtp_host (and smtp_port, starttls or smtp_ssl)")
    if isinstance(n["to"], str):
        n["to"] = [n["to"]]
    if not n["to"] or not all(isinstance(a, str) and "@" in a for a in n["to"]):
        raise _bad(name, "an email notifier needs to (a list of addresses)", "set to, e.g. [ops@example.com]")
    if n["password"] and not n["username"]:
        raise _bad(name, "password is set without username", "set username too, or remove password")
    if n["starttls"] and n["smtp_ssl"]:
        raise _bad(name, "starttls and smtp_ssl are both set", "choose one: smtp_ssl for port 465 (TLS from the start), "
                   "starttls for port 587")
    if n["password"] and not (n["starttls"] or n["smtp_ssl"]) and n["smtp_host"] not in LOOPBACK:
        raise _bad(name, "the SMTP password would cross the network in clear (neither starttls nor smtp_ssl)",
                   "set starttls (port 587) or smtp_ssl (port 465)")
    n["smtp_port"] = int(n["smtp_port"] or (465 if n["smtp_ssl"] else 587 if n["starttls"] else 25))
    n["from"] = n["from"] or "sage-open-webui-backup@%s" % default_host()


def _normalize_one(given, index):
    if not isinstance(given, dict):
        raise BackupError("notifier #%d is not a dictionary" % (index + 1), "give each notifier as name/type/url/on")
    given = {ALIASES.get(k, k): v for k, v in given.items() if v is not None}  # options the module left out
    kind = given.get("type")
    if kind not in TYPES:
        raise BackupError("notifier #%d has type %r" % (index + 1, kind), "set type to one of %s" % ", ".join(TYPES))
    known = dict(COMMON, **PER_TYPE[kind])
    check_known(given, known, "%s notifier" % kind)
    n = dict(known, **given)
    n["name"] = str(n["name"] or kind)
    if not NAME_RE.match(n["name"]):
        raise _bad(n["name"], "the name is not letters, digits, '.', '_' or '-' (up to 64)", "rename it")
    events = [n["events"]] if isinstance(n["events"], str) else n["events"]
    if not isinstance(events, list) or not events or any(e not in ON_EVENTS for e in events):
        raise _bad(n["name"], "events is %r" % (n["events"],), "set events to a list of %s" % ", ".join(ON_EVENTS))
    n["events"] = events
    if not isinstance(n["timeout"], int) or isinstance(n["timeout"], bool) or not 1 <= n["timeout"] <= 300:
        raise _bad(n["name"], "timeout is %r" % (n["timeout"],), "give whole seconds from 1 to 300")
    if kind == "email":
        _check_email(n["name"], n)
    else:
        _check_url(n["name"], n)
    return n


def normalize(notifiers):
    """The notifiers with their defaults, checked; BackupError on an unknown type or option, a missing url, a bad
    ``events`` value, an email notifier without smtp_host or to, or two notifiers of one name."""
    result = [_normalize_one(n, i) for i, n in enumerate(notifiers or [])]
    names = [n["name"] for n in result]
    twice = sorted({x for x in names if names.count(x) > 1})
    if twice:
        raise BackupError("two notifiers are named %s" % ", ".join(twice), "give each notifier its own name")
    return result


def _title(event, record):
    status = "started" if event == "start" else record.get("status")
    return "%s/%s %s: %s %s" % (record.get("host"), record.get("instance"), record.get("plan"),
                                record.get("kind") or "backup", status)


def _body(event, record):
    if event == "start":
        return "started at %s (%s)" % (record.get("started"), record.get("trigger"))
    return (record.get("summary") or record.get("error") or "")[:MAX_BODY]


def _post(url, data, content_type, timeout):
    """POST ``data``; user:password in the URL becomes basic authentication (urllib would take it for the host)."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Content-Type": content_type, "User-Agent": "sage-open-webui-backup"}
    if parts.username is not None:
        credentials = "%s:%s" % (urllib.parse.unquote(parts.username), urllib.parse.unquote(parts.password or ""))
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode("utf-8")).decode("ascii")
        url = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
    request = urllib.request.Request(url, data=data, method="POST", headers=headers)
    with urllib.request.build_opener().open(request, timeout=timeout) as response:  # the stdlib opener (no Ansible on the host)
        response.read()


def _send_webhook(n, event, record):
    payload = dict(record, event=event, title=_title(event, record))
    _post(n["url"], json.dumps(payload, sort_keys=True).encode("utf-8"), "application/json", n["timeout"])


def _send_healthchecks(n, event, record):
    url = n["url"].rstrip("/") + HEALTHCHECKS_SUFFIX[event]
    _post(url, _body(event, record).encode("utf-8"), "text/plain; charset=utf-8", n["timeout"])


def _send_email(n, event, record):
    msg = email.message.EmailMessage()
    msg["Subject"] = _title(event, record)
    msg["From"] = n["from"]
    msg["To"] = ", ".join(n["to"])
    msg.set_content(_body(event, record) + "\n")
    context = ssl.create_default_context()  # smtplib's own default checks no certificate
    if n["smtp_ssl"]:
        connection = smtplib.SMTP_SSL(n["smtp_host"], n["smtp_port"], timeout=n["timeout"], context=context)
    else:
        connection = smtplib.SMTP(n["smtp_host"], n["smtp_port"], timeout=n["timeout"])
    with connection as smtp:
        if n["starttls"]:
            smtp.starttls(context=context)
        if n["username"]:
            smtp.login(n["username"], n["password"] or "")
        smtp.send_message(msg)


def _send_apprise(n, event, record):
    """The URL goes in a 0600 config file, not on the command line (where ``ps`` shows it); the body on stdin."""
    if not shutil.which("apprise"):
        raise RuntimeError("the apprise command is missing: install the apprise package (the install role does)")
    fd, config = tempfile.mkstemp(prefix="owb-apprise-", suffix=".txt")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(n["url"] + "\n")
        proc = subprocess.run(["apprise", "-v", "--config", config, "--notification-type", APPRISE_TYPES[event],  # pylint: disable=ansible-bad-function
                               "--title", _title(event, record)],
                              input=_body(event, record), capture_output=True, text=True, timeout=n["timeout"], check=False)
    finally:
        os.unlink(config)
    if proc.returncode != 0:  # -v: apprise logs why ("<time> - WARNING - Failed to send ...")
        why = [line.split(" - ", 2)[-1] for line in (proc.stdout + proc.stderr).splitlines()
               if " - WARNING - " in line or " - ERROR - " in line]
        raise RuntimeError("apprise exited with %d: %s" % (proc.returncode, "; ".join(why[-3:]) or "nothing sent"))


SENDERS = {"apprise": _send_apprise, "webhook": _send_webhook, "email": _send_email,
           "healthchecks": _send_healthchecks}


def _fires(n, event):
    return n["type"] == "healthchecks" or event in n["events"]


def _secrets(n):
    url = n.get("url") or ""
    parts = urllib.parse.urlsplit(url) if url else None
    found = [url, n.get("password")]
    if parts:
        found += [parts.password, parts.path, parts.query]
    return [s for s in found if isinstance(s, str)]


def send(notifiers, event, record):
    """Notify ``event`` (start, success, warning, failure) of ``record`` to each notifier that takes it (its
    ``events``;
    a healthchecks notifier takes every event). Returns one outcome per notifier that fired:
    ``{"name", "type", "event", "ok", "error"}``. Never raises; errors hold no secret."""
    outcomes = []
    for index, given in enumerate(notifiers or []):
        try:
            n = _normalize_one(given, index)
        except BackupError as e:
            outcomes.append({"name": str(given.get("name") if isinstance(given, dict) else index), "type": None,
                             "event": event, "ok": False,
                             "error": scrub(str(e), _secrets(given if isinstance(given, dict) else {}))})
            continue
        if not _fires(n, event):
            continue
        outcome = {"name": n["name"], "type": n["type"], "event": event, "ok": True, "error": None}
        try:
            SENDERS[n["type"]](n, event, record)
        except Exception as e:  # noqa: BLE001 - a notifier never fails the run
            outcome.update(ok=False, error=scrub("%s: %s" % (type(e).__name__, e), _secrets(n)))
        outcomes.append(outcome)
    return outcomes
