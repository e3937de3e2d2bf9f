# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import datetime
import random
from collections import namedtuple

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, snapshot_id_for
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _retention
from ansible_collections.sage_open_webui.backup.plugins.module_utils._retention import plan, validate_policy

UTC = datetime.timezone.utc


def at(text):
    """Aware UTC datetime from 'YYYY-MM-DD HH:MM'."""
    return datetime.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)


def snaps(*texts, unverified=()):
    """(id, created, verified) tuples for the given times; ids from the times."""
    out = []
    for text in texts:
        when = at(text)
        out.append((snapshot_id_for(when), when, text not in unverified))
    return out


def sid(text):
    return snapshot_id_for(at(text))


def daily_series(days, start="2026-01-01 03:00", per_day=1, verified=True):
    first = at(start)
    out = []
    for d in range(days):
        for h in range(per_day):
            when = first + datetime.timedelta(days=d, hours=h)
            out.append((snapshot_id_for(when), when, verified))
    return out


# --------------------------------------------------------------------------- keep_last


@pytest.mark.parametrize("keep_last, expected_kept", [
    (1, ["2026-01-05 03:00"]),
    (2, ["2026-01-05 03:00", "2026-01-04 03:00"]),
    (5, ["2026-01-05 03:00", "2026-01-04 03:00", "2026-01-03 03:00", "2026-01-02 03:00", "2026-01-01 03:00"]),
    (50, ["2026-01-05 03:00", "2026-01-04 03:00", "2026-01-03 03:00", "2026-01-02 03:00", "2026-01-01 03:00"]),
])
def test_keep_last(keep_last, expected_kept):
    result = plan(daily_series(5), keep_last=keep_last)
    assert list(result["keep"]) == [sid(t) for t in expected_kept]
    kept = set(result["keep"])
    assert result["delete"] == [e[0] for e in daily_series(5) if e[0] not in kept]


def test_keep_order_newest_first_and_delete_oldest_first():
    series = daily_series(6)
    shuffled = list(series)
    random.Random(4).shuffle(shuffled)
    result = plan(shuffled, keep_last=2)
    assert list(result["keep"]) == [series[5][0], series[4][0]]
    assert result["delete"] == [e[0] for e in series[:4]]


def test_reasons_accumulate():
    result = plan(daily_series(3), keep_last=1, keep_daily=2, keep_weekly=1, keep_monthly=1)
    newest = daily_series(3)[-1][0]
    assert result["keep"][newest] == ["newest verified", "last 1", "daily 2026-01-03", "weekly 2026-W01",
                                      "monthly 2026-01"]
    assert result["keep"][daily_series(3)[1][0]] == ["daily 2026-01-02"]


# --------------------------------------------------------------------------- calendar buckets


def test_keep_daily_takes_newest_of_each_day():
    series = snaps("2026-03-01 01:00", "2026-03-01 13:00", "2026-03-01 23:59",
                   "2026-03-02 00:00", "2026-03-02 12:00",
                   "2026-03-04 06:00")
    result = plan(series, keep_daily=3)
    assert result["keep"] == {
        sid("2026-03-04 06:00"): ["newest verified", "daily 2026-03-04"],
        sid("2026-03-02 12:00"): ["daily 2026-03-02"],
        sid("2026-03-01 23:59"): ["daily 2026-03-01"],
    }
    assert result["delete"] == [sid("2026-03-01 01:00"), sid("2026-03-01 13:00"), sid("2026-03-02 00:00")]


def test_keep_daily_counts_days_with_snapshots_not_calendar_days():
    # A 10-day gap: keep_daily=2 still keeps two days (restic/borg semantics), not "the last 2 calendar days".
    series = snaps("2026-03-01 03:00", "2026-03-02 03:00", "2026-03-12 03:00")
    result = plan(series, keep_daily=2, now=at("2026-03-12 04:00"))
    assert set(result["keep"]) == {sid("2026-03-12 03:00"), sid("2026-03-02 03:00")}
    assert result["delete"] == [sid("2026-03-01 03:00")]


@pytest.mark.parametrize("when, week", [
    ("2026-01-01 00:00", "2026-W01"),   # Thursday
    ("2025-12-29 00:00", "2026-W01"),   # Monday of ISO week 1 of 2026
    ("2025-12-28 23:59", "2025-W52"),   # Sunday
    ("2027-01-01 12:00", "2026-W53"),   # 2026 has 53 ISO weeks
    ("2026-11-27 03:15", "2026-W48"),
])
def test_iso_week_labels(when, week):
    result = plan(snaps(when), keep_weekly=1)
    assert result["keep"][sid(when)] == ["newest verified", "weekly %s" % week]


def test_keep_weekly_year_boundary():
    series = snaps("2025-12-27 10:00",   # W52 Saturday
                   "2025-12-28 10:00",   # W52 Sunday (newest of W52)
                   "2025-12-29 10:00",   # 2026-W01 Monday
                   "2026-01-02 10:00")   # 2026-W01 Friday (newest of W01)
    result = plan(series, keep_weekly=2)
    assert result["keep"] == {
        sid("2026-01-02 10:00"): ["newest verified", "weekly 2026-W01"],
        sid("2025-12-28 10:00"): ["weekly 2025-W52"],
    }
    assert result["delete"] == [sid("2025-12-27 10:00"), sid("2025-12-29 10:00")]


def test_keep_monthly():
    series = snaps("2026-01-05 03:00", "2026-01-31 23:00", "2026-02-01 00:30", "2026-02-14 03:00",
                   "2026-04-01 03:00")
    result = plan(series, keep_monthly=3)
    assert result["keep"] == {
        sid("2026-04-01 03:00"): ["newest verified", "monthly 2026-04"],
        sid("2026-02-14 03:00"): ["monthly 2026-02"],
        sid("2026-01-31 23:00"): ["monthly 2026-01"],
    }
    assert result["delete"] == [sid("2026-01-05 03:00"), sid("2026-02-01 00:30")]


def test_buckets_are_utc_whatever_the_input_zone():
    # 23:30 UTC on the 1st is 01:30 on the 2nd in UTC+2: the bucket must still be the 1st.
    plus2 = datetime.timezone(datetime.timedelta(hours=2))
    a = datetime.datetime(2026, 6, 2, 1, 30, tzinfo=plus2)    # 2026-06-01 23:30 UTC
    b = datetime.datetime(2026, 6, 1, 22, 0, tzinfo=UTC)      # 2026-06-01 22:00 UTC, same UTC day, older
    result = plan([("a", a, True), ("b", b, True)], keep_daily=5)
    assert result["keep"] == {"a": ["newest verified", "daily 2026-06-01"]}
    assert result["delete"] == ["b"]


def test_typical_policy_over_a_year_of_hourly_snapshots():
    series = []
    first = at("2026-01-01 00:00")
    for hour in range(0, 365 * 24, 6):
        when = first + datetime.timedelta(hours=hour)
        series.append((snapshot_id_for(when), when, True))
    result = plan(series, keep_last=4, keep_daily=7, keep_weekly=4, keep_monthly=12)
    reasons = [r for rs in result["keep"].values() for r in rs]
    assert sum(r.startswith("daily") for r in reasons) == 7
    assert sum(r.startswith("weekly") for r in reasons) == 4
    assert sum(r.startswith("monthly") for r in reasons) == 12
    assert sum(r.startswith("last") for r in reasons) == 4
    # 4 last (one day) + 6 more days + 3 more weeks + 11 more months, minus overlaps: small and bounded.
    assert 15 <= len(result["keep"]) <= 4 + 7 + 4 + 12
    assert len(result["keep"]) + len(result["delete"]) == len(series)


# --------------------------------------------------------------------------- keep_within


def test_keep_within_keeps_everything_in_span_including_unverified():
    series = snaps("2026-05-01 00:00", "2026-05-09 00:00", "2026-05-09 12:00", "2026-05-10 00:00",
                   unverified=("2026-05-09 12:00",))
    result = plan(series, keep_within="36h", now=at("2026-05-10 12:30"))
    assert result["keep"] == {
        sid("2026-05-10 00:00"): ["newest verified", "within 1d12h"],
        sid("2026-05-09 12:00"): ["within 1d12h"],
    }
    assert result["delete"] == [sid("2026-05-01 00:00"), sid("2026-05-09 00:00")]


@pytest.mark.parametrize("text, span", [
    ("7d", datetime.timedelta(days=7)),
    ("36h", datetime.timedelta(hours=36)),
    ("2w3d", datetime.timedelta(days=17)),
    ("1w2d3h", datetime.timedelta(days=9, hours=3)),
    (" 1w 1d ", datetime.timedelta(days=8)),
    (datetime.timedelta(hours=5), datetime.timedelta(hours=5)),
    ("0d", None),
    ("", None),
    (None, None),
])
def test_parse_duration(text, span):
    assert _retention.parse_duration(text) == span


@pytest.mark.parametrize("text", ["7", "7 days", "1y", "3m", "d", "1d1w", "-1d", 7, 1.5])
def test_parse_duration_rejects(text):
    with pytest.raises(BackupError) as err:
        _retention.parse_duration(text)
    assert "keep_within" in str(err.value)
    assert "Fix:" in str(err.value)


def test_parse_duration_rejects_negative_timedelta():
    with pytest.raises(BackupError, match="must not be negative"):
        _retention.parse_duration(datetime.timedelta(hours=-1))


# --------------------------------------------------------------------------- verification


def test_newest_verified_kept_even_when_unverified_are_newer():
    series = snaps("2026-02-01 03:00", "2026-02-02 03:00", "2026-02-03 03:00", "2026-02-04 03:00",
                   unverified=("2026-02-03 03:00", "2026-02-04 03:00"))
    result = plan(series, keep_last=1)
    assert result["keep"] == {sid("2026-02-02 03:00"): ["newest verified", "last 1"]}
    assert result["delete"] == [sid("2026-02-01 03:00"), sid("2026-02-03 03:00"), sid("2026-02-04 03:00")]


def test_unverified_never_take_a_slot():
    # Five failed nights in a row must not push the two good snapshots out of keep_daily=2 / keep_last=2.
    good = daily_series(2, start="2026-02-01 03:00")
    bad = daily_series(5, start="2026-02-03 03:00", verified=False)
    for policy in ({"keep_last": 2}, {"keep_daily": 2}, {"keep_weekly": 2}, {"keep_monthly": 2}):
        result = plan(good + bad, **policy)
        assert set(result["keep"]) >= {e[0] for e in good[-1:]}
        assert not set(result["keep"]) & {e[0] for e in bad}
    assert set(plan(good + bad, keep_last=2)["keep"]) == {e[0] for e in good}
    assert set(plan(good + bad, keep_daily=2)["keep"]) == {e[0] for e in good}


def test_keep_last_counts_only_verified():
    series = snaps("2026-02-01 03:00", "2026-02-02 03:00", "2026-02-03 03:00",
                   unverified=("2026-02-02 03:00",))
    result = plan(series, keep_last=2)
    assert set(result["keep"]) == {sid("2026-02-01 03:00"), sid("2026-02-03 03:00")}
    assert result["delete"] == [sid("2026-02-02 03:00")]


def test_no_verified_snapshot_falls_back_to_all_and_keeps_newest():
    series = daily_series(5, verified=False)
    result = plan(series, keep_last=2)
    assert list(result["keep"]) == [series[4][0], series[3][0]]
    assert result["keep"][series[4][0]] == ["newest (no snapshot is verified)", "last 2"]
    assert result["delete"] == [e[0] for e in series[:3]]


def test_empty_repository():
    assert plan([], keep_last=3) == {"keep": {}, "delete": []}


def test_single_snapshot_kept_by_any_policy():
    series = snaps("2026-02-01 03:00")
    for policy in ({"keep_last": 1}, {"keep_daily": 1}, {"keep_monthly": 9}, {"keep_within": "1h"}):
        result = plan(series, now=at("2030-01-01 00:00"), **policy)
        assert list(result["keep"]) == [sid("2026-02-01 03:00")]
        assert result["delete"] == []


def test_accepts_snapshotref_like_objects():
    Ref = namedtuple("Ref", "id path created manifest verified")
    refs = [Ref(e[0], "/x/" + e[0], e[1], {}, e[2]) for e in daily_series(4)]
    assert plan(refs, keep_last=2) == plan(daily_series(4), keep_last=2)


def test_collision_suffix_ids_ordered_after_base():
    when = at("2026-02-01 03:00")
    series = [("20260201T030000Z", when, True), ("20260201T030000Z-1", when, True)]
    result = plan(series, keep_last=1)
    assert list(result["keep"]) == ["20260201T030000Z-1"]
    assert result["delete"] == ["20260201T030000Z"]


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("kwargs", [
    {},
    {"keep_last": 0, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
    {"keep_last": None},
    {"keep_within": "0d"},
])
def test_policy_that_keeps_nothing_is_refused(kwargs):
    with pytest.raises(BackupError) as err:
        plan(daily_series(3), **kwargs)
    message = str(err.value)
    assert message.startswith("retention policy keeps nothing")
    assert "Fix: set keep_last >= 1" in message


@pytest.mark.parametrize("option, value, words", [
    ("keep_last", -1, "must be 0 or more, got -1"),
    ("keep_daily", "-3", "must be 0 or more, got -3"),
    ("keep_weekly", 1.5, "must be a whole number"),
    ("keep_monthly", "six", "must be a whole number, got 'six'"),
    ("keep_last", True, "must be a whole number, got the boolean True"),
    ("keep_daily", [7], "must be a whole number"),
])
def test_bad_counts_name_the_option(option, value, words):
    with pytest.raises(BackupError) as err:
        plan(daily_series(3), **{"keep_last": 1, option: value})
    assert option in str(err.value)
    assert words in str(err.value)
    assert "Fix:" in str(err.value)
    assert err.value.details["option"] == option


def test_numeric_strings_are_accepted():
    assert validate_policy({"keep_daily": "7", "keep_last": " 2 "})["keep_daily"] == 7


@pytest.mark.parametrize("key, hint", [
    ("keep_dayly", "keep_dayly (did you mean keep_daily?)"),
    ("keeplast", "keeplast (did you mean keep_last?)"),
    ("keep_montly", "keep_montly (did you mean keep_monthly?)"),
    ("keep_hourly", "keep_hourly (did you mean"),
    ("retain", "unknown retention option: retain."),
])
def test_validate_policy_unknown_keys(key, hint):
    with pytest.raises(BackupError) as err:
        validate_policy({"keep_last": 1, key: 3})
    assert hint in str(err.value)
    assert "Fix: remove it; known options: keep_last, keep_daily, keep_weekly, keep_monthly, keep_within" in str(err.value)


def test_validate_policy_normalises():
    assert validate_policy({"keep_daily": 7, "keep_within": "2d"}) == {
        "keep_last": 0, "keep_daily": 7, "keep_weekly": 0, "keep_monthly": 0,
        "keep_within": datetime.timedelta(days=2)}


def test_validate_policy_rejects_non_mapping():
    with pytest.raises(BackupError, match="must be a mapping"):
        validate_policy(["keep_last", 3])


def test_naive_datetime_rejected():
    with pytest.raises(BackupError, match="no time-zone-aware creation time"):
        plan([("a", datetime.datetime(2026, 1, 1), True)], keep_last=1)


def test_naive_now_rejected():
    with pytest.raises(BackupError, match="naive"):
        plan(daily_series(2), keep_within="1d", now=datetime.datetime(2026, 1, 1))


def test_duplicate_ids_rejected():
    series = daily_series(2)
    with pytest.raises(BackupError, match="not unique"):
        plan(series + series[:1], keep_last=1)


def test_bad_snapshot_shape_rejected():
    with pytest.raises(BackupError, match=r"\(id, created, verified\)"):
        plan([("a", at("2026-01-01 00:00"))], keep_last=1)


# --------------------------------------------------------------------------- randomized properties


def _random_case(rng):
    first = at("2025-06-01 00:00")
    count = rng.randint(0, 60)
    spread_hours = rng.choice([24, 24 * 10, 24 * 90, 24 * 800])
    p_verified = rng.choice([0.0, 0.3, 0.8, 1.0])
    series = []
    for i in range(count):
        when = first + datetime.timedelta(minutes=rng.randint(0, spread_hours * 60))
        series.append(("s%03d-%s" % (i, snapshot_id_for(when)), when, rng.random() < p_verified))
    policy = {name: rng.choice([0, 0, 1, 2, 3, 7, 30]) for name in _retention.COUNT_OPTIONS}
    if rng.random() < 0.3:
        policy["keep_within"] = rng.choice(["1h", "1d", "2w", "10d12h"])
    if not any(policy.get(n) for n in _retention.COUNT_OPTIONS) and not policy.get("keep_within"):
        policy["keep_last"] = 1
    now = first + datetime.timedelta(hours=rng.randint(0, spread_hours + 48))
    return series, policy, now


@pytest.mark.parametrize("seed", range(400))
def test_properties_random(seed):
    rng = random.Random(seed)
    series, policy, now = _random_case(rng)
    result = plan(series, now=now, **policy)
    keep, delete = set(result["keep"]), result["delete"]
    all_ids = {e[0] for e in series}
    by_id = {e[0]: e for e in series}

    # Partition: keep and delete cover everything, disjoint, no duplicates.
    assert keep | set(delete) == all_ids
    assert not keep & set(delete)
    assert len(delete) == len(set(delete))
    assert all(result["keep"][i] for i in keep), "every kept snapshot has a reason"

    # Delete is oldest first; keep is newest first.
    assert [by_id[i][1] for i in delete] == sorted(by_id[i][1] for i in delete)
    kept_times = [by_id[i][1] for i in result["keep"]]
    assert kept_times == sorted(kept_times, reverse=True)

    # Never deletes everything; the newest verified snapshot is always kept.
    verified = sorted((e for e in series if e[2]), key=lambda e: (e[1], e[0]))
    if series:
        assert keep
    if verified:
        assert verified[-1][0] in keep
        assert "newest verified" in result["keep"][verified[-1][0]]

    # keep_last: the N newest verified snapshots are kept.
    for e in sorted(verified, key=lambda e: (e[1], e[0]), reverse=True)[:policy.get("keep_last", 0)]:
        assert e[0] in keep

    # keep_daily: every one of the N most recent days with a verified snapshot keeps its newest one.
    pool = verified or sorted(series, key=lambda e: (e[1], e[0]))
    days = {}
    for e in pool:
        days[e[1].date()] = e  # ascending order: the last one per day is the newest
    for day in sorted(days, reverse=True)[:policy.get("keep_daily", 0)]:
        assert days[day][0] in keep

    # Unverified snapshots are kept only by keep_within when a verified one exists.
    if verified:
        for i in keep:
            if not by_id[i][2]:
                assert all(r.startswith("within") for r in result["keep"][i])

    # Idempotence: planning again on what was kept deletes nothing more.
    again = plan([by_id[i] for i in keep], now=now, **policy)
    assert again["delete"] == []
    assert set(again["keep"]) == keep

    # Unverified snapshots never cause a verified one to be deleted: dropping them changes nothing
    # for the verified ones.
    if verified:
        only_verified = plan(verified, now=now, **policy)
        assert {i for i in keep if by_id[i][2]} == set(only_verified["keep"])


# --------------------------------------------------------------------------- B10: the clock went backwards

def test_plan_never_deletes_a_protected_snapshot():
    older_by_clock = snaps("2026-11-27 03:00", "2026-11-28 03:00")
    current = sid("2026-11-27 03:00")          # this run's snapshot, made by a clock one day behind
    decision = plan(older_by_clock, keep_last=1, protect=[current])
    assert decision["delete"] == []
    assert decision["keep"][current] == ["current run"]


def _fixture_job(tmp_path):
    import os
    import tarfile
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
    data = tmp_path / "data"
    data.mkdir()
    with tarfile.open(os.path.join(root, "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")) as tar:
        tar.extractall(str(data), **({"filter": "tar"} if hasattr(tarfile, "data_filter") else {}))
    return {"data_dir": str(data), "repository": str(tmp_path / "repo"), "host": "h1", "instance": "owui",
            "secret_key": "skip", "keep_last": 1, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0,
            "status_dir": str(tmp_path / "status")}


def test_backup_after_the_clock_went_back_keeps_its_snapshot_and_warns(tmp_path, monkeypatch):
    """Through _job.backup: the second run's clock is a day behind; keep_last=1 must not delete that run's
    own snapshot (it did, and the run reported success)."""
    from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _snapshot
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
    job = _fixture_job(tmp_path)
    monkeypatch.setattr(_snapshot, "utcnow", lambda: at("2026-11-28 03:00"))
    first = _job.backup(dict(job))["snapshot"]["snapshot_id"]
    monkeypatch.setattr(_snapshot, "utcnow", lambda: at("2026-11-27 03:00"))
    second = _job.backup(dict(job))
    current = second["snapshot"]["snapshot_id"]
    assert current < first
    on_disk = [ref.id for ref in Repository(job["repository"], "h1", "owui").list()]
    assert current in on_disk
    assert "current run" in {k["id"]: k["reasons"] for k in second["prune"]["kept"]}[current]
    assert any("CLOCK WENT BACKWARDS" in w and first in w for w in second["warnings"])


# --------------------------------------------------------------------------- plans (docs/PLANS.md)

DAILY = {"keep_last": 0, "keep_daily": 2, "keep_weekly": 0, "keep_monthly": 0}
WEEKLY = {"keep_last": 0, "keep_daily": 0, "keep_weekly": 2, "keep_monthly": 0}


def test_plan_union_applies_each_plan_to_its_own_snapshots():
    """daily keeps 2 days of its own snapshots, weekly 2 weeks of its own: the weekly snapshot of last week is
    older than every daily one, and daily's policy alone would delete it."""
    s = snaps("2026-11-22 03:00", "2026-11-29 03:00", "2026-11-30 03:00", "2026-12-01 03:00", "2026-12-02 03:00")
    claims = {sid(t): ["weekly"] for t in ("2026-11-22 03:00", "2026-11-29 03:00")}
    claims.update({sid(t): ["daily"] for t in ("2026-11-30 03:00", "2026-12-01 03:00", "2026-12-02 03:00")})
    decision = _retention.plan_union(s, {"daily": DAILY, "weekly": WEEKLY}, claims)
    assert decision["delete"] == [sid("2026-11-30 03:00")]
    assert decision["keep"][sid("2026-11-22 03:00")] == ["weekly: weekly 2026-W47"]
    assert decision["keep"][sid("2026-12-02 03:00")] == ["daily: newest verified", "daily: daily 2026-12-02"]


def test_plan_union_a_snapshot_is_deleted_only_when_no_plan_keeps_it():
    """One snapshot claimed by both plans (a reuse): daily no longer keeps it, weekly still does."""
    s = snaps("2026-11-29 03:00", "2026-11-30 03:00", "2026-12-01 03:00")
    shared = sid("2026-11-29 03:00")
    claims = {shared: ["daily", "weekly"], sid("2026-11-30 03:00"): ["daily"], sid("2026-12-01 03:00"): ["daily"]}
    decision = _retention.plan_union(s, {"daily": DAILY, "weekly": WEEKLY}, claims)
    assert decision["delete"] == [] and decision["keep"][shared] == ["weekly: newest verified", "weekly: weekly 2026-W48"]
    decision = _retention.plan_union(s, {"daily": DAILY}, claims)  # weekly's claim without its policy: no claim
    assert decision["delete"] == [shared]


def test_plan_union_unclaimed_snapshots_count_for_every_plan():
    """Snapshots of older versions (no claims file) fill every plan's slots, as if each plan had taken them."""
    s = snaps("2026-11-15 03:00", "2026-11-22 03:00", "2026-12-01 03:00", "2026-12-02 03:00")
    decision = _retention.plan_union(s, {"daily": DAILY, "weekly": WEEKLY}, {})
    assert decision["delete"] == [sid("2026-11-15 03:00")]
    assert decision["keep"][sid("2026-11-22 03:00")] == ["weekly: weekly 2026-W47"]
    assert "weekly: weekly 2026-W49" in decision["keep"][sid("2026-12-02 03:00")]
    assert "daily: daily 2026-12-01" in decision["keep"][sid("2026-12-01 03:00")]


def test_plan_union_never_deletes_the_newest_verified_snapshot():
    s = snaps("2026-11-29 03:00", "2026-12-02 03:00")
    decision = _retention.plan_union(s, {"weekly": WEEKLY}, {sid("2026-12-02 03:00"): ["gone"], sid("2026-11-29 03:00"): ["weekly"]})
    assert decision["delete"] == []


def test_plan_union_with_one_plan_is_plan():
    s = daily_series(40, per_day=2)
    policy = {"keep_last": 3, "keep_daily": 7, "keep_weekly": 4, "keep_monthly": 2}
    assert _retention.plan_union(s, {"default": policy}, {}) == plan(s, **policy)


def _published(root, *texts):
    import json
    import os
    for text in texts:
        path = os.path.join(str(root), "h1", "owui", sid(text))
        os.makedirs(path)
        with open(os.path.join(path, "manifest.json"), "w") as f:
            json.dump({"schema_version": 1, "verification": {"status": "verified"}}, f)


def _on_disk(root):
    from ansible_collections.sage_open_webui.backup.plugins.module_utils._repository import Repository
    return [r.id for r in Repository(str(root), "h1", "owui").list()]


def test_prune_by_plan_keeps_what_another_plan_keeps(tmp_path):
    """The daily plan's prune must not delete the weekly plan's snapshots (fails without the union rule: daily's
    keep_last 1 over every snapshot deletes them)."""
    import json
    _published(tmp_path, "2026-11-22 03:00", "2026-11-29 03:00")
    params = {"repository": str(tmp_path), "host": "h1", "instance": "owui"}
    for text in ("2026-11-22 03:00", "2026-11-29 03:00"):
        _retention.prune(dict(params, **WEEKLY), protect=[sid(text)], plan_name="weekly")
    for text in ("2026-12-01 03:00", "2026-12-02 03:00"):
        _published(tmp_path, text)
        res = _retention.prune(dict(params, keep_last=1), protect=[sid(text)], plan_name="daily")
    assert res["deleted"] == [sid("2026-12-01 03:00")]
    assert _on_disk(tmp_path) == [sid("2026-11-22 03:00"), sid("2026-11-29 03:00"), sid("2026-12-02 03:00")]
    with open(str(tmp_path / "h1" / "owui" / ".plans.json")) as f:
        state = json.load(f)
    assert state["claims"] == {sid("2026-11-22 03:00"): ["weekly"], sid("2026-11-29 03:00"): ["weekly"],
                               sid("2026-12-02 03:00"): ["daily"]}
    assert state["plans"]["daily"]["keep_last"] == 1 and state["plans"]["weekly"]["keep_weekly"] == 2


def test_prune_by_plan_in_check_mode_writes_no_claim(tmp_path):
    _published(tmp_path, "2026-12-01 03:00", "2026-12-02 03:00")
    res = _retention.prune({"repository": str(tmp_path), "host": "h1", "instance": "owui", "keep_last": 1},
                           check_mode=True, protect=[sid("2026-12-02 03:00")], plan_name="daily")
    assert res["deleted"] == [sid("2026-12-01 03:00")] and len(_on_disk(tmp_path)) == 2
    assert not (tmp_path / "h1" / "owui" / ".plans.json").exists()


def test_a_plan_taken_off_the_list_is_forgotten_and_its_snapshots_become_unclaimed(tmp_path):
    """The weekly plan was removed from schedule_plans: the daily plan's next run (current_plans [daily]) forgets
    it, and daily's keep_last 1 now covers weekly's snapshots (fails without: they were kept forever). A run that
    does not know the current plans (a manual run) forgets nothing."""
    import json
    _published(tmp_path, "2026-11-22 03:00", "2026-11-29 03:00")
    params = {"repository": str(tmp_path), "host": "h1", "instance": "owui"}
    for text in ("2026-11-22 03:00", "2026-11-29 03:00"):
        _retention.prune(dict(params, **WEEKLY), protect=[sid(text)], plan_name="weekly", current_plans=["daily", "weekly"])
    _published(tmp_path, "2026-12-01 03:00")
    res = _retention.prune(dict(params, keep_last=1), protect=[sid("2026-12-01 03:00")], plan_name="daily")
    assert res["deleted"] == [] and res["forgotten_plans"] == []
    check = _retention.prune(dict(params, keep_last=1), check_mode=True, protect=[sid("2026-12-01 03:00")],
                             plan_name="daily", current_plans=["daily"])
    assert check["forgotten_plans"] == ["weekly"] and len(check["deleted"]) == 2 and len(_on_disk(tmp_path)) == 3
    _published(tmp_path, "2026-12-02 03:00")
    res = _retention.prune(dict(params, keep_last=1), protect=[sid("2026-12-02 03:00")], plan_name="daily",
                           current_plans=["daily"])
    assert res["forgotten_plans"] == ["weekly"]
    assert res["deleted"] == [sid("2026-11-22 03:00"), sid("2026-11-29 03:00"), sid("2026-12-01 03:00")]
    assert _on_disk(tmp_path) == [sid("2026-12-02 03:00")]
    with open(str(tmp_path / "h1" / "owui" / ".plans.json")) as f:
        state = json.load(f)
    assert sorted(state["plans"]) == ["daily"] and state["claims"] == {sid("2026-12-02 03:00"): ["daily"]}
    assert "forgotten_plans" not in _retention.prune(dict(params, keep_last=1)), "snapshot_prune (no plan) has no such key"
