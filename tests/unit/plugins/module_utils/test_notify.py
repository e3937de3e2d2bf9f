# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the notifiers: the checks, who fires on which event, and each sender against the real
receivers of tests/testbed/receiver.py (HTTP and SMTP on 127.0.0.1). The Apprise CLI is a recording fake here;
tests/integration/test_signals.py runs the real one."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import yaml

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _notify, _notify_spec
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "testbed"))
import receiver  # noqa: E402  (tests/testbed/receiver.py)

SECRET = "s3cr3t-token-0123"
RECORD = {"record_schema": 1, "kind": "backup", "host": "web1", "instance": "open-webui", "plan": "daily",
          "trigger": "timer", "started": "2026-12-02T03:00:00+00:00", "status": "failed",
          "summary": "snapshot failed: the disk is full", "error": "no space left", "targets": []}


@pytest.fixture
def receivers():
    with receiver.Receivers() as r:
        yield r


def test_normalize_defaults():
    hook, mail = _notify.normalize([
        {"type": "webhook", "url": "http://127.0.0.1:1/x"},
        {"type": "email", "name": "ops", "smtp_host": "mail", "to": "ops@example.com", "starttls": True}])
    assert (hook["name"], hook["events"], hook["timeout"]) == ("webhook", ["failure"], 10)
    assert (mail["smtp_port"], mail["to"], mail["from"].startswith("sage-open-webui-backup@")) == (
        587, ["ops@example.com"], True)
    assert _notify.normalize([{"type": "email", "smtp_host": "m", "to": ["a@b"]}])[0]["smtp_port"] == 25
    assert _notify.normalize([{"type": "email", "smtp_host": "m", "to": ["a@b"], "smtp_ssl": True}])[0]["smtp_port"] == 465


def test_normalize_takes_on_and_drops_none():
    (n,) = _notify.normalize([{"type": "apprise", "url": "json://x", "on": ["success", "failure"], "password": None}])
    assert n["events"] == ["success", "failure"] and "on" not in n


@pytest.mark.parametrize("given, message", [
    ({"type": "slack", "url": "x"}, "set type to one of apprise, webhook, email, healthchecks"),
    ({"url": "x"}, "has type None"),
    ({"type": "webhook"}, "url is missing"),
    ({"type": "apprise", "url": "json://a b"}, "white space"),
    ({"type": "healthchecks", "url": "ftp://hc/" + SECRET}, "not an http(s) URL"),
    ({"type": "webhook", "url": "http://h/" + SECRET, "events": ["sometimes"]}, "set events to a list of"),
    ({"type": "webhook", "url": "http://h/" + SECRET, "events": []}, "events is []"),
    ({"type": "webhook", "url": "http://h/" + SECRET, "events": ["start"]}, "events is ['start']"),
    ({"type": "webhook", "url": "http://h/" + SECRET, "evnets": ["failure"]}, "evnets (did you mean events?)"),
    ({"type": "webhook", "url": "http://h/" + SECRET, "timeout": 0}, "timeout is 0"),
    ({"type": "webhook", "url": "http://h/" + SECRET, "name": "a b"}, "the name is not"),
    ({"type": "email", "to": ["a@b"]}, "needs smtp_host"),
    ({"type": "email", "smtp_host": "m"}, "needs to"),
    ({"type": "email", "smtp_host": "m", "to": ["nobody"]}, "needs to"),
    ({"type": "email", "smtp_host": "m", "to": ["a@b"], "password": SECRET}, "without username"),
    ({"type": "email", "smtp_host": "m", "to": ["a@b"], "starttls": True, "smtp_ssl": True}, "both set"),
    ({"type": "email", "smtp_host": "mail.example.com", "to": ["a@b"], "username": "u", "password": SECRET},
     "would cross the network in clear"),
    ("webhook", "is not a dictionary"),
])
def test_normalize_refuses(given, message):
    with pytest.raises(BackupError) as e:
        _notify.normalize([given])
    assert message in str(e.value) and "Fix:" in str(e.value)
    assert SECRET not in str(e.value)


def test_normalize_refuses_two_of_one_name():
    with pytest.raises(BackupError, match="two notifiers are named ops"):
        _notify.normalize([{"type": "webhook", "name": "ops", "url": "http://a"},
                           {"type": "healthchecks", "name": "ops", "url": "http://b"}])


def test_healthchecks_start_fail_success(receivers):
    hc = [{"type": "healthchecks", "url": receivers.url + "/ping/abcd/", "events": ["failure"]}]
    assert _notify.send(hc, "start", RECORD) == [
        {"name": "healthchecks", "type": "healthchecks", "event": "start", "ok": True, "error": None}]
    _notify.send(hc, "failure", RECORD)
    _notify.send(hc, "success", dict(RECORD, status="ok", summary="all good"))
    _notify.send(hc, "warning", dict(RECORD, status="warning", summary="a warning"))
    assert receivers.paths() == ["/ping/abcd/start", "/ping/abcd/fail", "/ping/abcd", "/ping/abcd"]
    assert [r["body"] for r in receivers.requests[1:]] == [RECORD["summary"], "all good", "a warning"]
    assert receivers.requests[0]["body"].startswith("started at 2026-12-02T03:00:00+00:00")


def test_webhook_posts_the_record_on_its_events_only(receivers):
    hooks = [{"type": "webhook", "name": "fail", "url": receivers.url + "/fail-only"},
             {"type": "webhook", "name": "all", "url": receivers.url + "/all", "events": ["failure", "success", "warning"]}]
    assert _notify.send(hooks, "start", RECORD) == []
    outcomes = _notify.send(hooks, "failure", RECORD)
    assert [(o["name"], o["ok"]) for o in outcomes] == [("fail", True), ("all", True)]
    _notify.send(hooks, "success", dict(RECORD, status="ok"))
    assert receivers.paths() == ["/fail-only", "/all", "/all"]
    posted = receivers.requests[0]["json"]
    assert posted == dict(RECORD, event="failure", title="web1/open-webui daily: backup failed")
    assert receivers.requests[0]["content_type"] == "application/json"
    assert receivers.requests[2]["json"]["title"] == "web1/open-webui daily: backup ok"


def test_webhook_url_credentials_become_basic_auth(receivers):
    url = receivers.url.replace("//", "//owb:%s@" % SECRET) + "/hook"
    assert _notify.send([{"type": "webhook", "url": url}], "failure", RECORD)[0]["ok"] is True
    (request,) = receivers.requests
    assert request["path"] == "/hook"
    assert request["authorization"] == "Basic " + base64.b64encode(("owb:" + SECRET).encode()).decode()


def test_failing_endpoints_are_outcomes_without_secrets(receivers):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts connections, never answers
    silent = "http://user:%s@127.0.0.1:%d/%s" % (SECRET, listener.getsockname()[1], SECRET)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = "http://127.0.0.1:%d/hook/%s" % (closed.getsockname()[1], SECRET)
    notifiers = [{"type": "webhook", "name": "e500", "url": receivers.url + "/status/500/" + SECRET},
                 {"type": "webhook", "name": "refused", "url": refused},
                 {"type": "healthchecks", "name": "silent", "url": silent, "timeout": 1},
                 {"type": "telegram", "name": "bad", "url": SECRET}]
    t0 = time.monotonic()
    try:
        outcomes = _notify.send(notifiers, "failure", RECORD)
    finally:
        listener.close()
    assert time.monotonic() - t0 < 5
    expected = [("e500", False), ("refused", False), ("silent", False), ("bad", False)]
    assert [(o["name"], o["ok"]) for o in outcomes] == expected
    assert "500" in outcomes[0]["error"] and "timed out" in outcomes[2]["error"]
    assert "set type to one of" in outcomes[3]["error"]
    assert SECRET not in json.dumps(outcomes)


def test_email_through_smtp(receivers):
    mail = [{"type": "email", "smtp_host": "127.0.0.1", "smtp_port": receivers.smtp_port, "from": "owb@web1",
             "to": ["ops@example.com", "dev@example.com"], "username": "owb", "password": SECRET}]
    assert _notify.send(mail, "failure", RECORD)[0]["ok"] is True
    (msg,) = receivers.messages
    assert msg["subject"] == "web1/open-webui daily: backup failed"
    assert (msg["from"], msg["to"], msg["user"]) == ("owb@web1", ["ops@example.com", "dev@example.com"], "owb")
    assert msg["body"].strip() == RECORD["summary"]


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (no system CA knows it): ``(certificate file, key file)``."""
    d = tmp_path_factory.mktemp("tls")
    crt, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", key, "-out", crt, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return crt, key


@pytest.mark.parametrize("mode", ["starttls", "smtp_ssl"])
def test_email_over_tls_checks_the_certificate(cert, monkeypatch, mode):
    """A real TLS handshake with the receiver (STARTTLS on its SMTP port, SMTPS on the other): refused while the
    certificate is unknown, nothing sent (the password neither); sent over TLS once the CA file trusts it."""
    with receiver.Receivers(tls=cert) as r:
        mail = [{"type": "email", "smtp_host": "127.0.0.1", mode: True, "to": ["a@example.com"], "username": "u",
                 "password": SECRET, "smtp_port": r.smtps_port if mode == "smtp_ssl" else r.smtp_port}]
        (untrusted,) = _notify.send(mail, "failure", RECORD)
        assert untrusted["ok"] is False and "CERTIFICATE_VERIFY_FAILED" in untrusted["error"], untrusted
        assert r.messages == []
        monkeypatch.setenv("SSL_CERT_FILE", cert[0])  # what the system's CA store would say of a real server
        (trusted,) = _notify.send(mail, "failure", RECORD)
        assert trusted["ok"] is True, trusted
        (msg,) = r.messages
        assert msg["tls"] is True and msg["user"] == "u" and msg["to"] == ["a@example.com"]


def test_apprise_missing_is_an_outcome(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    (outcome,) = _notify.send([{"type": "apprise", "url": "json://x/" + SECRET}], "failure", RECORD)
    assert outcome["ok"] is False and "install the apprise package" in outcome["error"]


@pytest.fixture
def fake_apprise(tmp_path, monkeypatch):
    """An ``apprise`` on PATH that records its arguments, its config file (content and mode) and its stdin."""
    log = tmp_path / "apprise.json"
    script = tmp_path / "bin" / "apprise"
    script.parent.mkdir()
    script.write_text("""#!%s
import json, os, sys
config = sys.argv[sys.argv.index("--config") + 1]
json.dump({"argv": sys.argv[1:], "config": open(config).read(), "mode": os.stat(config).st_mode & 0o777,
           "path": config, "stdin": sys.stdin.read()}, open(%r, "w"))
if "fail" in open(config).read():
    print("2026-12-02 03:00:00,000 - WARNING - Failed to send to fail://%s: error=500.")
    sys.exit(1)
""" % (sys.executable, str(log), SECRET))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (script.parent, os.environ["PATH"]))
    return log


def test_apprise_url_stays_off_the_command_line(fake_apprise):
    url = "ntfys://ntfy.sh/" + SECRET
    outcomes = _notify.send([{"type": "apprise", "url": url}], "failure", RECORD)
    assert outcomes[0]["ok"] is True
    seen = json.loads(fake_apprise.read_text())
    assert not any(SECRET in a for a in seen["argv"])
    assert (seen["config"], seen["mode"], seen["stdin"]) == (url + "\n", 0o600, RECORD["summary"])
    assert not os.path.exists(seen["path"])
    assert seen["argv"][seen["argv"].index("--notification-type") + 1] == "failure"
    assert seen["argv"][seen["argv"].index("--title") + 1] == "web1/open-webui daily: backup failed"
    (failed,) = _notify.send([{"type": "apprise", "url": "fail://" + SECRET}], "failure", RECORD)
    assert failed["ok"] is False and "Failed to send" in failed["error"] and SECRET not in failed["error"]


def test_spec_matches_the_doc_fragment():
    from ansible_collections.sage_open_webui.backup.plugins.doc_fragments._notify import ModuleDocFragment
    sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "plugins", "modules"))
    pytest.importorskip("ansible.module_utils.basic")
    from test_module_docs import option_problems
    doc = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert option_problems(doc, {"notify": _notify_spec.notify_option()}, "") == []
    secret = sorted(k for k, v in _notify_spec.suboptions().items() if v.get("no_log"))
    assert secret == sorted(_notify.SECRET_OPTIONS) == ["password", "url"]


def test_spec_names_every_option_of_normalize():
    known = set(_notify.COMMON)
    for options in _notify.PER_TYPE.values():
        known |= set(options)
    assert set(_notify_spec.suboptions()) == known
