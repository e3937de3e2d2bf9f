# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""_store_prune on an s3 target (moto on 127.0.0.1), with snapshots uploaded by the real writer: the two
phases at the endpoint, and a versioned bucket with Object Lock where a prune's delete only hides objects."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _store, _store_prune, _targets
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import test_store_write as w

NOW = datetime.datetime(2026, 12, 3, 12, 0, tzinfo=datetime.timezone.utc)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def s3_target(s3_endpoint, s3_client, tmp_path):
    def make(bucket=None, **kw):
        raw = dict({"name": "s3", "type": "s3", "bucket": bucket or s3_client.bucket, "prefix": "owb",
                    "endpoint_url": s3_endpoint, "region": "us-east-1", "access_key_id": "testing",
                    "secret_access_key": "testing", "keep_last": 1, "keep_daily": 0, "keep_weekly": 0,
                    "keep_monthly": 0}, **kw)
        for n, sid in enumerate(("20261201T100000Z", "20261202T100000Z", "20261203T100000Z")):
            snap = w.make_snapshot(tmp_path / ("repo-%s-%d" % (raw["bucket"], n)), sid, db_rows=200 + n * 50)
            w.upload(_targets.normalize(raw), snap, tmp_path)
        return raw
    return make


def _keys(client, bucket, prefix):
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="owb/" + prefix)
    return sorted(o["Key"][len("owb/"):] for page in pages for o in page.get("Contents", []))


def test_two_phases_at_an_s3_endpoint(s3_target, s3_client):
    raw = s3_target()
    packs_before = _keys(s3_client, s3_client.bucket, "packs/")
    first = _store_prune.prune(raw, now=NOW)
    assert len(first["deleted"]) == 2 and first["marked"] >= 1 and first["packs_deleted"] == 0
    assert _keys(s3_client, s3_client.bucket, "packs/") == packs_before
    assert len(_keys(s3_client, s3_client.bucket, "prune/")) == 1
    second = _store_prune.prune(raw, now=NOW + 25 * HOUR)
    assert second["packs_deleted"] == first["marked"] and second["pending_removed"] == 1
    assert second["bytes_freed"] > 5 << 20  # a 5 MiB random file of a deleted snapshot at least
    assert len(_keys(s3_client, s3_client.bucket, "packs/")) == len(packs_before) - first["marked"]
    assert _keys(s3_client, s3_client.bucket, "prune/") == []
    target = _targets.normalize(raw)
    assert [s["id"] for s in _store.list_snapshots(_targets.open_backend(target))] == ["20261203T100000Z"]
    assert w.read_back(target, "20261203T100000Z")  # every pack and file checked


def test_object_lock_bucket_prune_hides_and_the_versions_stay(s3_target, s3_client):
    bucket = s3_client.bucket + "-lock"
    s3_client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    raw = s3_target(bucket=bucket, object_lock_days=1)
    _store_prune.prune(raw, now=NOW)
    result = _store_prune.prune(raw, now=NOW + 25 * HOUR)
    assert result["packs_deleted"] >= 1 and result["warnings"] == []
    listed = _keys(s3_client, bucket, "packs/")
    versions = s3_client.list_object_versions(Bucket=bucket, Prefix="owb/packs/")
    locked = [v for v in versions.get("Versions", []) if v["Key"][len("owb/"):] not in listed]
    assert len(locked) == result["packs_deleted"]  # hidden by a delete marker, still there until the lifecycle rule
    head = s3_client.head_object(Bucket=bucket, Key=locked[0]["Key"], VersionId=locked[0]["VersionId"])
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockRetainUntilDate"] > datetime.datetime.now(datetime.timezone.utc)
    assert w.read_back(_targets.normalize(raw), "20261203T100000Z")
