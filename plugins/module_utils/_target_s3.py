# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The ``s3`` target through boto3: AWS S3, Backblaze B2's S3 API, MinIO, Wasabi, Cloudflare R2.

- Every put carries ``x-amz-checksum-sha256`` (the caller's sha256, base64): the endpoint verifies the body.
  Objects of ``multipart_threshold`` bytes or more go multipart, parts in parallel (``concurrency``), each
  part with its own SHA256 the endpoint verifies; the whole object's sha256 is checked here before sending.
- No overwrite: ``If-None-Match: *`` on PutObject / CompleteMultipartUpload (412 = it exists: nothing
  written). An endpoint that does not implement conditional writes (501 NotImplemented, or a 400 naming
  the header) is detected once per backend; from then on a HEAD comes before each PUT.
- Failures: botocore retries (standard mode, ``BOTO_ATTEMPTS``) with short connect/read timeouts, then
  :func:`_targets.retry` for transient errors; every error becomes a TargetError naming the target and the
  fix, scrubbed of every key and secret (boto3 may echo them).
- ``bwlimit``: the request body is a file object that takes from the target's shared RateLimit as it is read.

boto3 is imported lazily (Debian: python3-boto3). Plain Python, no Ansible imports. This is a private module
of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime
import hashlib
import io
import threading
from urllib.parse import urlsplit

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils._targets import (
    SECRET_OPTIONS, Backend, TargetError, retry)

_MIB = 1 << 20
_POLICY_DOC = "docs/OFFSITE.md (Bucket policies)"
_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken",
                     "InvalidSecurity", "AuthorizationHeaderMalformed", "InvalidClientTokenId")
_FULL_CODES = ("EntityTooLarge", "QuotaExceeded", "InsufficientStorage", "XMinioStorageFull", "StorageFull",
               "ServiceQuotaExceeded", "AccountProblem")
_TRANSIENT_CODES = ("InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout", "RequestTimeTooSkewed",
                    "ConditionalRequestConflict", "OperationAborted")
_CHECKSUM_CODES = ("BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch")


def _b64(digest):
    return base64.b64encode(digest).decode("ascii")


def _import_boto3():
    try:
        import boto3
        import botocore.config
        import botocore.exceptions
    except ImportError as e:
        raise BackupError("the s3 target needs the Python package boto3, which is missing (%s)" % e,
                          "install python3-boto3 on this host (apt-get install python3-boto3; the install role does it)")
    return boto3, botocore


class _Body(io.BytesIO):
    """A request body that takes its bytes from the target's bandwidth limit as the HTTP layer reads it."""

    def __init__(self, data, limit):
        super().__init__(data)
        self._limit = limit

    def read(self, size=-1):
        piece = super().read(size)
        self._limit.take(len(piece))
        return piece


class S3Backend(Backend):
    kind = "s3"
    # Tunables (attributes, so a test or a future option can change them per backend).
    multipart_threshold = 16 * _MIB
    part_size = 8 * _MIB
    BOTO_ATTEMPTS = 3            # botocore's own tries per request (standard retry mode)
    ATTEMPTS = 3                 # ours around them, for transient errors (0.5 s, 1 s back-off)
    CONNECT_TIMEOUT = 5
    READ_TIMEOUT = 60

    def __init__(self, target):
        super().__init__(target)
        self.bucket = target["bucket"]
        self.prefix = target.get("prefix") or ""
        self.concurrency = int(target.get("concurrency") or 4)
        self.conditional = None  # If-None-Match: None = not tried yet, True = works, False = HEAD before PUT
        self._client = None
        self._client_lock = threading.Lock()
        self._secrets = [str(target[k]) for k in SECRET_OPTIONS if target.get(k)]
        # Bodies in flight (whole objects and parts, from every caller thread) stay within ``concurrency``.
        self._upload_slots = threading.BoundedSemaphore(self.concurrency)

    # ------------------------------------------------------------------ setup

    @property
    def location(self):
        where = "s3://%s/%s" % (self.bucket, self.prefix) if self.prefix else "s3://%s" % self.bucket
        url = self.target.get("endpoint_url")
        if url:
            parts = urlsplit(url)
            where += " at %s://%s" % (parts.scheme, parts.hostname + (":%d" % parts.port if parts.port else ""))
        return where

    @property
    def client(self):
        with self._client_lock:
            if self._client is None:
                self._client = self._make_client()
        return self._client

    def _make_client(self):
        boto3, botocore = _import_boto3()
        t = self.target
        options = dict(
            region_name=t.get("region") or None,
            signature_version="s3v4",
            s3={"addressing_style": t.get("addressing_style") or "auto", "payload_signing_enabled": False},
            retries={"mode": "standard", "total_max_attempts": self.BOTO_ATTEMPTS},
            connect_timeout=self.CONNECT_TIMEOUT, read_timeout=self.READ_TIMEOUT,
            max_pool_connections=2 * self.concurrency + 4)
        # botocore >= 1.36 adds a CRC32 of its own to every request that can carry one; we send SHA256 where it
        # counts. Debian 12's botocore (1.29) has neither the option nor the behaviour.
        newer = {"request_checksum_calculation": "when_required", "response_checksum_validation": "when_required"}
        options.update((k, v) for k, v in newer.items() if k in botocore.config.Config.OPTION_DEFAULTS)
        config = botocore.config.Config(**options)
        keys = {}
        if t.get("access_key_id") or t.get("secret_access_key"):
            keys = {"aws_access_key_id": t.get("access_key_id"), "aws_secret_access_key": t.get("secret_access_key"),
                    "aws_session_token": t.get("session_token")}
        try:
            session = boto3.session.Session(profile_name=t.get("profile") or None, **keys)
        except botocore.exceptions.ProfileNotFound:
            raise self.error("AWS profile %r is not configured on this host" % t["profile"],
                             "add it to ~/.aws/config and ~/.aws/credentials of root, or give access_key_id/secret_access_key")
        self._remember_secrets(session)
        verify = t.get("ca_bundle") or bool(t.get("verify_tls", True))
        client = session.client("s3", endpoint_url=t.get("endpoint_url") or None, verify=verify, config=config)
        for op in ("PutObject", "CompleteMultipartUpload"):  # a header, not the parameter: botocore < 1.35 lacks it
            client.meta.events.register("before-sign.s3.%s" % op, self._if_none_match)
        return client

    def _if_none_match(self, request, **kw):
        if self.conditional is not False:
            request.headers["If-None-Match"] = "*"

    def _remember_secrets(self, session):
        """Add the credentials the default chain found (env, profile, role) to the texts errors are scrubbed of."""
        try:
            creds = session.get_credentials()
            frozen = creds.get_frozen_credentials() if creds else None
        except Exception:  # a broken credential source shows up again, mapped, at the first request
            frozen = None
        if frozen:
            self._secrets += [s for s in (frozen.access_key, frozen.secret_key, frozen.token) if s]

    def _key(self, key):
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
            raise TargetError("object key %r is not valid" % key, "this is a bug: report it")
        return "%s/%s" % (self.prefix, key) if self.prefix else key

    # ------------------------------------------------------------------ errors

    def scrub(self, text):
        for secret in self._secrets:
            text = text.replace(secret, "********")
        return text

    def error(self, problem, fix, **kw):
        return super().error(self.scrub(problem), self.scrub(fix), **kw)

    def _map(self, exc, op, what):
        """Any exception of one boto3 call -> TargetError (``code`` = the S3 error code or None)."""
        dummy, botocore = _import_boto3()
        exc_mod = botocore.exceptions
        if isinstance(exc, exc_mod.ClientError):
            err = self._map_client_error(exc, op, what)
        elif isinstance(exc, exc_mod.NoCredentialsError):
            err = self.error("no credentials found for %s" % what,
                             "give access_key_id/secret_access_key, a profile, the AWS_* environment or an instance role")
        elif isinstance(exc, (exc_mod.EndpointConnectionError, exc_mod.ConnectTimeoutError)):
            err = self.error("the endpoint is unreachable (%s) during %s" % (type(exc).__name__, what),
                             "check endpoint_url/region and the network path to the endpoint; retried, the local snapshot is kept",
                             transient=True)
        elif isinstance(exc, exc_mod.SSLError):
            err = self.error("TLS to the endpoint failed during %s: %s" % (what, exc),
                             "give the endpoint's CA in ca_bundle (or verify_tls: false for a lab endpoint)")
        elif isinstance(exc, (exc_mod.ConnectionClosedError, exc_mod.ReadTimeoutError, exc_mod.ConnectionError,
                              exc_mod.ResponseStreamingError, ConnectionError, TimeoutError)):
            err = self.error("the connection broke during %s (%s)" % (what, type(exc).__name__),
                             "a flaky network or an overloaded endpoint: it was retried; run again later", transient=True)
        else:
            err = self.error("%s failed: %s: %s" % (what, type(exc).__name__, exc), "see the message; report it if unclear")
        if not isinstance(exc, exc_mod.ClientError):
            err.code, err.status = None, 0
        return err

    def _map_client_error(self, exc, op, what):
        error = exc.response.get("Error", {}) or {}
        code = str(error.get("Code") or "")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0)
        said = "%s (HTTP %d): %s" % (code or "no code", status, error.get("Message") or "no message")
        if code == "PreconditionFailed" or status == 412:
            code, err = "PreconditionFailed", self.error("%s: the object exists already" % what, "nothing to write")
        elif code != "NoSuchBucket" and (code in ("NoSuchKey", "NotFound") or status == 404):
            err = self.error("%s: the object is missing (%s)" % (what, said),
                             "the target lost it; use another snapshot", missing=True)
        elif code in _CREDENTIAL_CODES:
            err = self.error("the endpoint refused the credentials (%s) for %s" % (code, what),
                             "wrong credentials: check access_key_id/secret_access_key (and session_token, region)")
        elif code == "NoSuchBucket":
            err = self.error("bucket %s does not exist" % self.bucket,
                             "create it (see playbooks/examples/s3-bucket.yml) or fix bucket/endpoint_url/region")
        elif code in _FULL_CODES or status == 507 or "cap exceeded" in said.lower():  # B2: storage cap
            err = self.error("the target is full or over its quota (%s) during %s" % (said, what),
                             "free space or raise the bucket/account quota; the local snapshot is kept")
        elif code == "AccessDenied" or status == 403:
            err = self.error("access denied for %s (s3:%s on %s)" % (what, op, self.bucket),
                             "grant s3:%s to this credential on the bucket/prefix; see the bucket policies in %s" % (op, _POLICY_DOC))
        elif "objectlock" in said.lower().replace(" ", ""):  # AWS: "Bucket is missing Object Lock Configuration"
            err = self.error("the bucket refuses Object Lock for %s (%s)" % (what, said),
                             "enable Object Lock on bucket %s (see playbooks/examples/s3-bucket.yml) or set "
                             "object_lock_days: 0" % self.bucket)
        elif code in _CHECKSUM_CODES:
            err = self.error("the endpoint found the body of %s does not match its sha256 (%s)" % (what, code),
                             "the data changed on the way or the sha256 given was wrong; run again, report it if it repeats")
        elif code == "NotImplemented" or status == 501:
            err = self.error("the endpoint does not implement a feature %s uses (%s)" % (what, said),
                             "leave out the option it names (object_lock_days, sse, storage_class) for this endpoint")
        elif code in _TRANSIENT_CODES or status >= 500:
            err = self.error("the endpoint answered %s during %s" % (said, what),
                             "the endpoint is overloaded or failing: it was retried; run again later", transient=True)
        else:
            err = self.error("%s failed: %s" % (what, said), "see the endpoint's message")
        err.code = code or str(status)
        err.status = status
        return err

    def _call(self, op, what, body=None, read=None, **kw):
        """One S3 request (boto3 method ``op``), retried while transient; returns the answer, or ``read(answer)``
        (a streamed download, retried as a whole). ``body`` (bytes) is wrapped afresh for each try so the
        bandwidth limit and the retry see the whole body again."""
        method = getattr(self.client, op)

        def once():
            self.count()
            args = dict(kw, Body=_Body(body, self.limit)) if body is not None else kw
            try:
                with self._upload_slots if body is not None else contextlib.nullcontext():
                    answer = method(**args)
                return read(answer) if read else answer
            except Exception as e:  # every boto3/botocore failure: mapped, scrubbed
                raise self._map(e, _ACTIONS.get(op, op), what)
        return retry(once, what, attempts=self.ATTEMPTS)

    # ------------------------------------------------------------------ write

    def _write_args(self):
        t = self.target
        args = {}
        if t.get("storage_class"):
            args["StorageClass"] = t["storage_class"]
        if t.get("sse"):
            args["ServerSideEncryption"] = t["sse"]
        if t.get("sse_kms_key_id"):
            args["SSEKMSKeyId"] = t["sse_kms_key_id"]
        days = int(t.get("object_lock_days") or 0)
        if days > 0:
            args["ObjectLockMode"] = t.get("object_lock_mode") or "GOVERNANCE"
            args["ObjectLockRetainUntilDate"] = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
        return args

    @staticmethod
    def _unsupported(err):
        """The endpoint does not implement If-None-Match (the answer S3-compatibles give to unknown conditions)."""
        text = str(err)
        return (getattr(err, "code", None) in ("NotImplemented", "501")
                or (getattr(err, "status", 0) == 400 and "If-None-Match" in text))

    def put(self, key, data, sha256_hex):
        name = self._key(key)
        if self.conditional is False and self.exists(key):
            return False
        if len(data) >= self.multipart_threshold:
            written = self._put_multipart(key, name, data, sha256_hex)
        else:
            written = self._put_single(key, name, data, sha256_hex)
        if written:
            self.count(sent=len(data), objects=1, requests=0)
        return written

    def _conditional_write(self, key, write):
        """``write()`` (signed with If-None-Match while the endpoint takes it); 412 -> False (it exists)."""
        tried = self.conditional is not False
        try:
            write()
        except TargetError as e:
            if getattr(e, "code", None) == "PreconditionFailed":
                self.conditional = True
                return False
            if not (tried and self._unsupported(e)):
                raise
            self.conditional = False
            if self.exists(key):
                return False
            write()
            return True
        if tried:
            self.conditional = True
        return True

    def _put_single(self, key, name, data, sha256_hex):
        checksum = _b64(bytes.fromhex(sha256_hex))
        args = dict(self._write_args(), Bucket=self.bucket, Key=name, ContentLength=len(data),
                    ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
        return self._conditional_write(key, lambda: self._call("put_object", "put %s" % key, body=data, **args))

    def _put_multipart(self, key, name, data, sha256_hex):
        if hashlib.sha256(data).hexdigest() != sha256_hex:
            raise self.error("put %s: the data does not match the sha256 given" % key, "this is a bug: report it")
        upload = self._call("create_multipart_upload", "start multipart %s" % key, Bucket=self.bucket, Key=name,
                            ChecksumAlgorithm="SHA256", **self._write_args())["UploadId"]
        written = False
        try:
            parts = self._upload_parts(key, name, upload, data)
            written = self._conditional_write(key, lambda: self._call(
                "complete_multipart_upload", "complete multipart %s" % key, Bucket=self.bucket, Key=name,
                UploadId=upload, MultipartUpload={"Parts": parts}))
        finally:
            if not written:
                self._abort(name, upload)
        return written

    def _upload_parts(self, key, name, upload, data):
        view = memoryview(data)
        offsets = range(0, len(data), self.part_size)

        def one(number, offset):
            piece = bytes(view[offset:offset + self.part_size])
            checksum = _b64(hashlib.sha256(piece).digest())
            answer = self._call("upload_part", "put %s part %d" % (key, number), body=piece, Bucket=self.bucket,
                                Key=name, UploadId=upload, PartNumber=number, ContentLength=len(piece),
                                ChecksumAlgorithm="SHA256", ChecksumSHA256=checksum)
            return {"PartNumber": number, "ETag": answer["ETag"], "ChecksumSHA256": checksum}

        workers = max(1, min(self.concurrency, len(offsets)))
        with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="s3-part") as pool:
            futures = [pool.submit(one, n, off) for n, off in enumerate(offsets, 1)]
            return [f.result() for f in futures]

    def _abort(self, name, upload):
        """Best effort: a left-over upload costs storage until the bucket's lifecycle rule removes it."""
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload)
        except Exception:  # the original error is the one to report
            pass

    # ------------------------------------------------------------------ read

    def get(self, key):
        buf = io.BytesIO()
        self._get_into(key, buf)
        return buf.getvalue()

    def get_to(self, key, path):
        with open(path, "wb") as f:
            return self._get_into(key, f)

    def _get_into(self, key, out):
        def read(answer):
            out.seek(0)
            out.truncate()
            for piece in answer["Body"].iter_chunks(_MIB):
                out.write(piece)
            return out.tell()
        return self._call("get_object", "get %s" % key, read=read, Bucket=self.bucket, Key=self._key(key))

    def exists(self, key):
        try:
            self._call("head_object", "check %s" % key, Bucket=self.bucket, Key=self._key(key))
        except TargetError as e:
            if getattr(e, "status", 0) == 404 and e.code != "NoSuchBucket":
                return False
            raise
        return True

    def list(self, prefix=""):
        full = (self.prefix + "/" if self.prefix else "") + prefix
        skip = len(self.prefix) + 1 if self.prefix else 0
        out = []
        token = None
        while True:
            kw = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", "list %s" % (prefix or "/"), Bucket=self.bucket, Prefix=full, **kw)
            out += [(o["Key"][skip:], int(o["Size"])) for o in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return out

    # ------------------------------------------------------------------ delete (prune only)

    def delete(self, keys):
        failed = []
        keys = list(keys)
        for start in range(0, len(keys), 1000):
            batch = keys[start:start + 1000]
            answer = self._call("delete_objects", "delete %d objects" % len(batch), Bucket=self.bucket,
                                Delete={"Objects": [{"Key": self._key(k)} for k in batch], "Quiet": True})
            skip = len(self.prefix) + 1 if self.prefix else 0
            failed += [(e["Key"][skip:], self.scrub("%s %s" % (e.get("Code", ""), e.get("Message", ""))).strip())
                       for e in answer.get("Errors", [])]
        return failed

    def close(self):
        with self._client_lock:
            if self._client is not None:
                self._client.close()
                self._client = None


# boto3 method -> the IAM action a policy must allow (named in AccessDenied messages).
_ACTIONS = {"put_object": "PutObject", "get_object": "GetObject", "head_object": "GetObject",
            "list_objects_v2": "ListBucket", "delete_objects": "DeleteObject",
            "create_multipart_upload": "PutObject", "upload_part": "PutObject",
            "complete_multipart_upload": "PutObject", "abort_multipart_upload": "AbortMultipartUpload"}
