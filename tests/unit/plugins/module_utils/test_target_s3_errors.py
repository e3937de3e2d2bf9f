# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_target_s3: error mapping and scrubbing with botocore's Stubber (answers an endpoint may give that moto
never does), and the missing-boto3 message. The behaviour against a real endpoint is in
tests/integration/test_target_s3.py."""

from __future__ import annotations

import builtins
import hashlib

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _target_s3, _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

stub = pytest.importorskip("botocore.stub")

KEY = "AKIAUNITTESTKEY00001"
SECRET = "unit-test-secret/0123456789+abcdefXYZ"


def backend(monkeypatch, **opts):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    target = dict({"name": "offsite", "type": "s3", "bucket": "owb-bucket", "prefix": "p", "region": "us-east-1",
                   "endpoint_url": "https://s3.example.test", "access_key_id": KEY, "secret_access_key": SECRET}, **opts)
    b = _targets.open_backend(_targets.normalize(target))
    b.ATTEMPTS = 1
    return b


def failing(b, code, status, message, op="put_object"):
    s = stub.Stubber(b.client)
    s.add_client_error(op, service_error_code=code, service_message=message, http_status_code=status)
    s.activate()
    return s


# Endpoints echo what they were sent (the key id in SignatureDoesNotMatch's StringToSign, a secret in a
# misconfigured gateway's message): every text must come out scrubbed.
ECHO = "echo %s %s" % (KEY, SECRET)


@pytest.mark.parametrize("code,status,message,words,transient", [
    ("SignatureDoesNotMatch", 403, ECHO, ["SignatureDoesNotMatch", "check access_key_id/secret_access_key"], False),
    ("InvalidAccessKeyId", 403, ECHO, ["InvalidAccessKeyId", "check access_key_id/secret_access_key"], False),
    ("AccessDenied", 403, ECHO, ["access denied", "s3:PutObject", "docs/OFFSITE.md"], False),
    ("NoSuchBucket", 404, ECHO, ["bucket owb-bucket does not exist", "playbooks/examples/s3-bucket.yml"], False),
    ("XMinioStorageFull", 507, ECHO, ["the target is full"], False),
    ("AccessDenied", 403, "Cannot upload files, storage cap exceeded", ["the target is full"], False),  # B2
    ("SlowDown", 503, ECHO, ["answered SlowDown (HTTP 503)", "run again later"], True),
])
def test_error_mapping_names_target_and_fix_and_never_a_secret(monkeypatch, code, status, message, words, transient):
    b = backend(monkeypatch)
    failing(b, code, status, message)
    with pytest.raises(_targets.TargetError) as e:
        b.put("packs/x", b"data", hashlib.sha256(b"data").hexdigest())
    text = str(e.value)
    assert text.startswith("target offsite (s3://owb-bucket/p at https://s3.example.test): "), text
    for w in words:
        assert w in text, (w, text)
    assert KEY not in text and SECRET not in text, text
    assert e.value.transient is transient


def test_not_implemented_is_not_retried(monkeypatch):
    b = backend(monkeypatch)
    b.ATTEMPTS = 3
    failing(b, "NotImplemented", 501, ECHO, op="get_object")  # a second call would find no stubbed answer
    with pytest.raises(_targets.TargetError, match="does not implement a feature get packs/x uses") as e:
        b.get("packs/x")
    assert not e.value.transient and SECRET not in str(e.value)


def test_credentials_from_the_environment_are_scrubbed_too(monkeypatch):
    b = backend(monkeypatch, access_key_id=None, secret_access_key=None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFROMENVIRONMENT1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret-value-42")
    failing(b, "InternalError", 500, "echo AKIAFROMENVIRONMENT1 env-secret-value-42")
    with pytest.raises(_targets.TargetError) as e:
        b.put("packs/x", b"data", hashlib.sha256(b"data").hexdigest())
    assert "AKIAFROMENVIRONMENT1" not in str(e.value) and "env-secret-value-42" not in str(e.value)
    assert "********" in str(e.value)


def test_missing_boto3_names_the_package(monkeypatch):
    real = builtins.__import__

    def no_boto3(name, *args, **kwargs):
        if name.split(".")[0] in ("boto3", "botocore"):
            raise ImportError("No module named %r" % name)
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_boto3)
    b = _target_s3.S3Backend(_targets.normalize({"name": "offsite", "type": "s3", "bucket": "b"}))
    with pytest.raises(BackupError, match="install python3-boto3"):
        b.exists("x")
