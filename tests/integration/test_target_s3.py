# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The s3 target (_target_s3.S3Backend) against a real S3 endpoint on loopback: moto 5.2.5 started for this
module by tests/testbed/s3.sh, directly and through the fault proxy (tests/testbed/faultproxy.py).

The contract every target type keeps (never overwrite, sha256 checked by the endpoint, multipart, list
pagination, bwlimit), then each fault at the backend level: endpoint down, a 500/503 burst, a reset in the
middle of a multipart upload, a dropped answer, wrong credentials, a missing bucket, a full target, and no
secret in any error text. Timings are printed (-s).
"""

from __future__ import annotations

import base64
import concurrent.futures
import datetime
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import TargetError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests", "testbed"))
from faultproxy import FaultProxy  # noqa: E402  (tests/testbed is not a package)

boto3 = pytest.importorskip("boto3")  # the venv (make venv) has it; a missing one is reported by conftest's s3_client
MIB = 1 << 20
# Keys moto accepts while its authentication is off; the secret must never show in an error text.
ACCESS_KEY = "AKIAOWBTESTKEY000001"
SECRET_KEY = "owb-test-secret-0123456789abcdefSECRET"


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture(scope="module")
def moto_url():
    """moto on a free loopback port for this module only (tests/testbed/s3.sh PORT)."""
    port = _free_port()
    script = os.path.join(REPO, "tests", "testbed", "s3.sh")
    env = dict(os.environ, MOTO_PYTHON=sys.executable)
    proc = subprocess.run(["bash", script, str(port)], capture_output=True, text=True, env=env, timeout=600, check=False)
    if proc.returncode != 0:
        pytest.fail("tests/testbed/s3.sh %d failed:\n%s\n%s" % (port, proc.stdout, proc.stderr[-3000:]), pytrace=False)
    yield "http://127.0.0.1:%d" % port
    subprocess.run(["bash", script, "stop", str(port)], capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def _proxy(moto_url):
    p = FaultProxy(moto_url).start()
    yield p
    p.stop()


@pytest.fixture
def proxy(_proxy):
    """The module's fault proxy, faults cleared and counters at zero."""
    _proxy.restore()
    _proxy.verify_checksums, _proxy.no_conditional = True, False
    _proxy.reset_counters()
    yield _proxy
    _proxy.restore()


@pytest.fixture
def admin(moto_url):
    return boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)


@pytest.fixture
def bucket(admin):
    name = "owbt-%s" % uuid.uuid4().hex[:12]
    admin.create_bucket(Bucket=name)
    return name


def backend(url, bucket, **opts):
    target = dict({"name": "offsite", "type": "s3", "bucket": bucket, "prefix": "owb/host1", "endpoint_url": url,
                   "region": "us-east-1", "addressing_style": "path", "access_key_id": ACCESS_KEY,
                   "secret_access_key": SECRET_KEY, "concurrency": 8}, **opts)
    return _targets.open_backend(_targets.normalize(target))


def blob(size, seed=b""):
    data = (hashlib.sha256(seed).digest() * (size // 32 + 1))[:size] if seed else os.urandom(size)
    return data, hashlib.sha256(data).hexdigest()


def assert_clean_error(err, *words):
    text = str(err)
    assert text.startswith("target offsite (s3://"), text
    assert ". Fix: " in text, text
    for w in words:
        assert w in text, (w, text)
    assert SECRET_KEY not in text and ACCESS_KEY not in text, text


@pytest.fixture(params=["direct", "proxy"])
def via(request, moto_url, proxy):
    """Run a contract test against moto directly and through the (fault-free) proxy."""
    return moto_url if request.param == "direct" else proxy.url


# ---------------------------------------------------------------------------------------------------------------
# what moto 5.2.5 does (the report and the fallbacks below rely on it)


def test_moto_features(admin, bucket):
    """If-None-Match and Object Lock are implemented; checksums are stored but NOT verified (a wrong
    x-amz-checksum-sha256 is accepted): the proxy's verify_checksums plays AWS's part for that."""
    data = b"probe"
    good = base64.b64encode(hashlib.sha256(data).digest()).decode()
    wrong = base64.b64encode(hashlib.sha256(b"other").digest()).decode()
    admin.put_object(Bucket=bucket, Key="p", Body=data, IfNoneMatch="*")
    with pytest.raises(boto3.exceptions.botocore.exceptions.ClientError) as e:
        admin.put_object(Bucket=bucket, Key="p", Body=data, IfNoneMatch="*")
    assert e.value.response["Error"]["Code"] == "PreconditionFailed"
    admin.put_object(Bucket=bucket, Key="w", Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=wrong)
    assert admin.head_object(Bucket=bucket, Key="w", ChecksumMode="ENABLED")["ChecksumSHA256"] == wrong != good


# ---------------------------------------------------------------------------------------------------------------
# the contract


def test_put_never_overwrites(via, bucket, proxy, admin):
    b = backend(via, bucket)
    first, sha1 = blob(1000)
    second, sha2 = blob(1000)
    assert b.put("packs/ab/one", first, sha1) is True
    assert b.conditional is True  # If-None-Match worked
    assert b.put("packs/ab/one", second, sha2) is False
    assert b.get("packs/ab/one") == first
    assert b.exists("packs/ab/one") and not b.exists("packs/ab/two")
    assert b.stats["objects_sent"] == 1 and b.stats["bytes_sent"] == 1000
    stored = admin.head_object(Bucket=bucket, Key="owb/host1/packs/ab/one", ChecksumMode="ENABLED")
    assert stored["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(sha1)).decode()
    if via == proxy.url:
        c = proxy.counters()
        assert c["puts_to_existing"] == 1 and c["overwrites"] == 0 and c["deletes"] == 0, c
        assert c["body_bytes"] == 2000, c  # the refused put sent its body once; nothing else was sent


def test_wrong_sha256_refused_by_endpoint(proxy, bucket, admin):
    b = backend(proxy.url, bucket)
    data, dummy = blob(5000)
    with pytest.raises(TargetError) as e:
        b.put("packs/x", data, hashlib.sha256(b"not the data").hexdigest())
    assert_clean_error(e.value, "does not match its sha256 (BadDigest)")
    assert not e.value.transient and proxy.counters()["bad_digest"] == 1
    assert "Contents" not in admin.list_objects_v2(Bucket=bucket)


def test_wrong_sha256_multipart_refused_before_sending(proxy, bucket):
    b = backend(proxy.url, bucket)
    data, dummy = blob(20 * MIB)
    with pytest.raises(TargetError, match="does not match the sha256 given"):
        b.put("packs/big", data, "0" * 64)
    assert proxy.counters()["body_bytes"] == 0


def test_multipart_40mib(via, bucket, proxy, admin, tmp_path):
    b = backend(via, bucket)
    data, sha = blob(40 * MIB)
    t0 = time.monotonic()
    assert b.put("packs/40", data, sha) is True
    took = time.monotonic() - t0
    print("\n[s3] multipart put 40 MiB via %s: %.2fs (%.0f MiB/s)" % (via, took, 40 / took))
    assert admin.head_object(Bucket=bucket, Key="owb/host1/packs/40", PartNumber=1)["PartsCount"] == 5
    # the endpoint holds the parts' SHA256s: the composite checksum (sha256 of the parts' digests)
    digests = b"".join(hashlib.sha256(data[i:i + 8 * MIB]).digest() for i in range(0, len(data), 8 * MIB))
    stored = admin.head_object(Bucket=bucket, Key="owb/host1/packs/40", ChecksumMode="ENABLED")["ChecksumSHA256"]
    assert stored.split("-")[0] == base64.b64encode(hashlib.sha256(digests).digest()).decode()
    assert b.put("packs/40", data, sha) is False
    assert hashlib.sha256(b.get("packs/40")).hexdigest() == sha
    assert b.get_to("packs/40", str(tmp_path / "40")) == 40 * MIB
    with open(str(tmp_path / "40"), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha
    assert admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    if via == proxy.url:
        c = proxy.counters()
        assert c["overwrites"] == 0 and c["puts_to_existing"] == 1, c
        assert 80 * MIB <= c["body_bytes"] < 81 * MIB, c  # each put's parts once, no extra copy


def test_uploads_in_flight_stay_within_concurrency(proxy, bucket):
    """Callers putting in parallel (the writer's pack threads), each object multipart: bodies in flight at the
    endpoint never exceed the target's concurrency (not callers x part threads)."""
    b = backend(proxy.url, bucket, concurrency=3)
    blobs = [blob(17 * MIB, seed=b"%d" % i) for i in range(6)]
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        assert all(pool.map(lambda i: b.put("packs/c%d" % i, *blobs[i]), range(6)))
    c = proxy.counters()
    assert c["requests"]["PUT"] == 6 * 3 and 2 <= c["uploads_in_flight_max"] <= 3, c


def test_list_pagination_over_1000_keys(moto_url, proxy, bucket):
    b = backend(moto_url, bucket)
    keys = ["index/%02x/%04d.json" % (i % 256, i) for i in range(1100)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: b.put(k, k.encode(), hashlib.sha256(k.encode()).hexdigest()), keys))
    b.put("other/x", b"x", hashlib.sha256(b"x").hexdigest())
    listed = backend(proxy.url, bucket).list("index/")
    assert sorted(listed) == sorted((k, len(k)) for k in keys)
    assert proxy.counters()["requests"] == {"GET": 2}  # two pages of ListObjectsV2
    assert len(b.list("")) == 1101 and b.list("nothing/") == []


def test_bwlimit_roughly_honoured(proxy, bucket):
    b = backend(proxy.url, bucket, bwlimit="4M")
    data, sha = blob(12 * MIB)
    t0 = time.monotonic()
    b.put("packs/slow-single", data[:12 * MIB - 1], hashlib.sha256(data[:12 * MIB - 1]).hexdigest())
    single = time.monotonic() - t0
    big, big_sha = blob(20 * MIB)
    t0 = time.monotonic()
    b.put("packs/slow-multi", big, big_sha)  # 3 parts in parallel share the one limit
    multi = time.monotonic() - t0
    print("\n[s3] bwlimit 4 MiB/s: 12 MiB in %.2fs, 20 MiB multipart in %.2fs" % (single, multi))
    # a token bucket with a one-second burst: (size - 4 MiB) / 4 MiB/s
    assert 1.7 <= single <= 6.0, single
    assert 3.5 <= multi <= 9.0, multi


def test_storage_class_sse_and_object_lock(moto_url, admin):
    """moto 5.2.5 keeps Object Lock from PutObject but drops it on CreateMultipartUpload: for the multipart
    object the test checks the headers sent (as AWS documents them) and the rest at the endpoint."""
    name = "owbt-lock-%s" % uuid.uuid4().hex[:8]
    admin.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    b = backend(moto_url, name, storage_class="STANDARD_IA", sse="AES256", object_lock_days=3)
    sent = {}
    b.client.meta.events.register("before-send.s3.CreateMultipartUpload",
                                  lambda request, **kw: sent.update(request.headers))
    small, sha = blob(100)
    big, big_sha = blob(17 * MIB)
    assert b.put("packs/small", small, sha) and b.put("packs/big", big, big_sha)
    for key in ("packs/small", "packs/big"):
        head = admin.head_object(Bucket=name, Key="owb/host1/" + key)
        assert head["StorageClass"] == "STANDARD_IA" and head["ServerSideEncryption"] == "AES256", head
    head = admin.head_object(Bucket=name, Key="owb/host1/packs/small")
    until = head["ObjectLockRetainUntilDate"]
    assert head["ObjectLockMode"] == "GOVERNANCE", head
    assert sent["x-amz-object-lock-mode"] == b"GOVERNANCE" or sent["x-amz-object-lock-mode"] == "GOVERNANCE", sent
    sent_until = sent["x-amz-object-lock-retain-until-date"]
    sent_until = datetime.datetime.fromisoformat((sent_until.decode() if isinstance(sent_until, bytes) else sent_until)
                                                 .replace("Z", "+00:00"))
    for when in (until, sent_until):
        days = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds() / 86400
        assert 2.9 < days <= 3.0, when


def test_object_lock_days_on_a_bucket_without_lock(moto_url, bucket):
    b = backend(moto_url, bucket, object_lock_days=1)
    data, sha = blob(100)
    with pytest.raises(TargetError) as e:
        b.put("packs/x", data, sha)
    assert_clean_error(e.value, "the bucket refuses Object Lock", "object_lock_days: 0", "s3-bucket.yml")


def test_if_none_match_unsupported_falls_back_to_head(proxy, bucket):
    """An endpoint answering 501 NotImplemented to If-None-Match: detected once, then HEAD before PUT."""
    proxy.no_conditional = True
    b = backend(proxy.url, bucket)
    data, sha = blob(2000)
    big, big_sha = blob(17 * MIB)
    assert b.put("packs/a", data, sha) is True and b.conditional is False
    assert b.put("packs/a", data, sha) is False
    assert b.put("packs/big", big, big_sha) is True and b.put("packs/big", big, big_sha) is False
    assert b.get("packs/a") == data and b.get("packs/big") == big
    c = proxy.counters()
    assert c["overwrites"] == 0 and c["puts_to_existing"] == 0, c
    # one refused conditional PUT (the detection), then a HEAD before each write: 1 + 1 + 3 parts PUT, 4 HEAD
    assert c["requests"]["HEAD"] == 4 and c["requests"]["PUT"] == 1 + 1 + 3, c


def test_delete_batches(moto_url, proxy, bucket):
    b = backend(moto_url, bucket)
    keys = ["packs/%04d" % i for i in range(1005)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: b.put(k, b"x", hashlib.sha256(b"x").hexdigest()), keys))
    assert backend(proxy.url, bucket).delete(keys + ["packs/never-there"]) == []
    c = proxy.counters()
    assert c["deletes"] == 2 and c["delete_keys"] == 1006, c
    assert b.list("packs/") == []


def test_proxy_passes_chunked_and_aws_chunked_bodies(proxy, bucket, admin):
    """Transfer-Encoding: chunked (de-chunked here) and aws-chunked content (boto3's streaming uploads with a
    trailing checksum, passed through as it is) on one keep-alive connection."""
    import http.client
    data = os.urandom(300000)
    trailer = "x-amz-checksum-sha256:%s" % base64.b64encode(hashlib.sha256(data).digest()).decode()
    aws_chunked = b"%x\r\n%s\r\n0\r\n%s\r\n\r\n" % (len(data), data, trailer.encode())
    auth = "AWS4-HMAC-SHA256 Credential=%s/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0" % ACCESS_KEY
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    conn.request("PUT", "/%s/chunked" % bucket, body=iter([data[:1000], data[1000:]]), encode_chunked=True,
                 headers={"Authorization": auth, "Transfer-Encoding": "chunked"})
    first = conn.getresponse()
    assert first.status == 200 and first.read() == b""
    conn.request("PUT", "/%s/aws-chunked" % bucket, body=aws_chunked, headers={
        "Authorization": auth, "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(data)),
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-sha256"})
    assert conn.getresponse().status == 200
    conn.close()
    for key in ("chunked", "aws-chunked"):
        assert admin.get_object(Bucket=bucket, Key=key)["Body"].read() == data, key
    c = proxy.counters()
    assert c["connections"] == 1 and c["requests"] == {"PUT": 2}, c
    assert c["body_bytes"] == len(data) + len(aws_chunked), c


def test_proxy_control_api_out_of_process(moto_url, bucket):
    """faultproxy.py as a process (for benches and playbook runs): the JSON control API injects and counts."""
    script = os.path.join(REPO, "tests", "testbed", "faultproxy.py")
    proc = subprocess.Popen([sys.executable, script, "--upstream", moto_url], stdout=subprocess.PIPE, text=True)
    try:
        words = proc.stdout.readline().split()
        assert words[0] == "proxy" and words[2] == "control", words
        url, control = words[1], words[3]

        def command(obj):
            request = urllib.request.Request(control + "/control", data=json.dumps(obj).encode(), method="POST")
            return json.load(urllib.request.urlopen(request, timeout=10))
        command({"fail_next": [2, 500]})
        b = backend(url, bucket)
        data, sha = blob(100)
        assert b.put("packs/ctl", data, sha) is True
        counters = json.load(urllib.request.urlopen(control + "/counters", timeout=10))
        assert counters["failed"] == 2 and counters["requests"] == {"PUT": 3} and counters["body_bytes"] == 300
        assert command({"reset_counters": True})["requests"] == {}
    finally:
        proc.terminate()
        proc.wait(10)


DEBIAN_PYTHON = "/usr/bin/python3"  # hosts run Debian 12's python3-boto3 (botocore 1.29: no IfNoneMatch parameter)


def test_with_debian_botocore(proxy, bucket):
    """The same backend under the system Python with Debian's python3-boto3, as on a host: conditional puts
    (the header is added at signing time), multipart, and the HEAD fallback."""
    probe = subprocess.run([DEBIAN_PYTHON, "-c", "import botocore; print(botocore.__version__)"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.fail("%s has no botocore. Fix: apt-get install python3-boto3 (tests/testbed/up.sh)" % DEBIAN_PYTHON,
                    pytrace=False)
    print("\n[s3] system botocore %s" % probe.stdout.strip())
    root = _targets.__file__.rsplit("/ansible_collections/", 1)[0]
    script = """
import hashlib, os, sys
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets
t = _targets.normalize(dict(name="offsite", type="s3", bucket=sys.argv[2], endpoint_url=sys.argv[1], region="us-east-1",
                            addressing_style="path", access_key_id="k", secret_access_key="s"))
b = _targets.open_backend(t)
small, big = os.urandom(1000), os.urandom(17 << 20)
for key, data in (("small", small), ("big", big)):
    sha = hashlib.sha256(data).hexdigest()
    assert b.put(key, data, sha) is True and b.put(key, data, sha) is False and b.get(key) == data, key
print(b.conditional)
"""
    proc = subprocess.run([DEBIAN_PYTHON, "-c", script, proxy.url, bucket], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root), timeout=300, check=False)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stdout + proc.stderr
    c = proxy.counters()
    assert c["puts_to_existing"] == 2 and c["overwrites"] == 0 and "HEAD" not in c["requests"], c


# ---------------------------------------------------------------------------------------------------------------
# faults, through the proxy


def test_fault_endpoint_down(proxy, bucket):
    b = backend(proxy.url, bucket)
    data, sha = blob(1000)
    proxy.refuse()
    t0 = time.monotonic()
    with pytest.raises(TargetError) as e:
        b.put("packs/down", data, sha)
    took = time.monotonic() - t0
    print("\n[s3] endpoint down: failed after %.1fs: %s" % (took, e.value))
    assert_clean_error(e.value, "the endpoint is unreachable", "check endpoint_url")
    assert not e.value.transient and took < 20  # retried by the backend: final (no retry around it multiplies)
    proxy.restore()
    assert b.put("packs/down", data, sha) is True


def test_fault_burst_500_503_recovers(proxy, bucket):
    b = backend(proxy.url, bucket)
    data, sha = blob(3000)
    proxy.fail_next(3, 503)
    proxy.fail_next(2, 500)
    assert b.put("packs/burst", data, sha) is True
    assert proxy.counters()["failed"] == 5
    assert b.get("packs/burst") == data
    proxy.fail_next(100, 503)
    with pytest.raises(TargetError) as e:
        b.put("packs/burst2", data, sha)
    assert_clean_error(e.value, "answered SlowDown (HTTP 503)", "after 3 attempts", "run again later")
    assert not e.value.transient and proxy.counters()["failed"] == 5 + 9  # 3 botocore tries x 3 of ours


def test_fault_reset_mid_multipart(proxy, bucket, admin):
    b = backend(proxy.url, bucket)
    data, sha = blob(40 * MIB)
    proxy.reset_after(13 * MIB)  # inside the second part
    assert b.put("packs/reset", data, sha) is True
    c = proxy.counters()
    assert c["resets"] == 1 and c["overwrites"] == 0, c
    assert c["body_bytes"] > 40 * MIB, c  # the broken part was sent again
    assert hashlib.sha256(b.get("packs/reset")).hexdigest() == sha
    assert admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_fault_dropped_answers(proxy, bucket):
    b = backend(proxy.url, bucket)
    data, sha = blob(100)
    proxy.drop_next(2)
    assert b.put("packs/drop", data, sha) is True  # two requests lost on the way: botocore sends again
    assert proxy.counters()["dropped"] == 2 and b.get("packs/drop") == data


def test_fault_missing_bucket(proxy):
    b = backend(proxy.url, "owbt-no-such-bucket")
    data, sha = blob(100)
    with pytest.raises(TargetError) as e:
        b.put("packs/x", data, sha)
    assert_clean_error(e.value, "bucket owbt-no-such-bucket does not exist", "playbooks/examples/s3-bucket.yml")
    assert not e.value.transient
    with pytest.raises(TargetError, match="does not exist"):
        b.list("")


@pytest.mark.parametrize("status,code", [(400, "EntityTooLarge"), (507, "InsufficientStorage"), (403, "QuotaExceeded")])
def test_fault_target_full(proxy, bucket, status, code):
    b = backend(proxy.url, bucket)
    data, sha = blob(100)
    proxy.fail_next(1, status, code)
    with pytest.raises(TargetError) as e:
        b.put("packs/full", data, sha)
    assert_clean_error(e.value, "the target is full or over its quota", code)
    assert not e.value.transient


@pytest.fixture
def moto_auth(moto_url):
    """Turn moto's authentication on (IAM users: admin with s3:*, host with put/get/list only) for one test."""
    iam = boto3.client("iam", endpoint_url=moto_url, region_name="us-east-1",
                       aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    users = {}
    for user, actions in (("owb-admin", ["s3:*"]), ("owb-reader", ["s3:GetObject", "s3:ListBucket"])):
        name = "%s-%s" % (user, uuid.uuid4().hex[:6])
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        users[user] = (key["AccessKeyId"], key["SecretAccessKey"])

    def set_auth(count):
        urllib.request.urlopen(urllib.request.Request(moto_url + "/moto-api/reset-auth", data=count, method="POST",
                                                      headers={"Content-Type": "text/plain"}))
    set_auth(b"0")
    try:
        yield users
    finally:
        set_auth(b"inf")


def test_fault_wrong_credentials_and_access_denied(proxy, bucket, moto_auth):
    admin_key, admin_secret = moto_auth["owb-admin"]
    data, sha = blob(100)
    ok = backend(proxy.url, bucket, access_key_id=admin_key, secret_access_key=admin_secret)
    assert ok.put("packs/auth", data, sha) is True
    wrong = [("unknown key", dict(access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY), "InvalidAccessKeyId"),
             ("wrong secret", dict(access_key_id=admin_key, secret_access_key=SECRET_KEY), "SignatureDoesNotMatch")]
    for what, creds, code in wrong:
        b = backend(proxy.url, bucket, **creds)
        for call in (lambda: b.put("packs/y", data, sha), lambda: b.get("packs/auth"), lambda: b.list("")):
            with pytest.raises(TargetError) as e:
                call()
            assert_clean_error(e.value, code, "wrong credentials: check access_key_id/secret_access_key")
            assert admin_secret not in str(e.value), what
    reader_key, reader_secret = moto_auth["owb-reader"]
    reader = backend(proxy.url, bucket, access_key_id=reader_key, secret_access_key=reader_secret)
    assert reader.get("packs/auth") == data
    with pytest.raises(TargetError) as e:
        reader.put("packs/z", data, sha)
    assert_clean_error(e.value, "access denied", "s3:PutObject", "docs/OFFSITE.md")
    assert reader_secret not in str(e.value) and reader_key not in str(e.value)


def test_delete_reports_per_key_errors(moto_url, admin, bucket):
    """A bucket policy denying DeleteObject on some keys: delete() names each key that stayed (moto checks the
    bucket policy per key in DeleteObjects, not the IAM user's policy)."""
    b = backend(moto_url, bucket)
    for key in ("packs/gone", "packs/locked-1"):
        assert b.put(key, b"x", hashlib.sha256(b"x").hexdigest())
    admin.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject",
        "Resource": "arn:aws:s3:::%s/owb/host1/packs/locked-*" % bucket}]}))
    assert b.delete(["packs/gone", "packs/locked-1"]) == [("packs/locked-1", "AccessDenied Access Denied")]
    assert [k for k, dummy in b.list("")] == ["packs/locked-1"]


# ---------------------------------------------------------------------------------------------------------------
# throughput (printed; the report quotes it)


def test_throughput_256mib_concurrency_8(moto_url, bucket):
    b = backend(moto_url, bucket, concurrency=8)
    data, sha = blob(256 * MIB, seed=b"throughput")
    t0 = time.monotonic()
    assert b.put("packs/256", data, sha) is True
    took = time.monotonic() - t0
    print("\n[s3] put 256 MiB (multipart, 8 MiB parts, concurrency 8) to moto on loopback: %.2fs = %.0f MiB/s"
          % (took, 256 / took))
    assert b.stats["bytes_sent"] == 256 * MIB
