# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which snapshots a retention policy keeps. A pure function; plain Python, no Ansible imports.

This is a private module of the sage_open_webui.backup collection; its API may change at any time.
``plan()`` and ``validate_policy()`` are pure; ``prune()`` at the end applies a policy to one repository
(the work of the snapshot_prune module and of the backup job's retention step).

Semantics (like ``restic forget`` / ``borg prune``):

* ``keep_last=N`` keeps the N newest snapshots.
* ``keep_daily=N`` keeps the newest snapshot of each of the N most recent days that have a snapshot;
  ``keep_weekly`` does the same per ISO week (``2026-W48``), ``keep_monthly`` per calendar month.
  Days, weeks and months are **UTC** buckets, whatever the host's time zone, so a policy gives the same
  answer on every host and across daylight-saving changes.
* ``keep_within`` (optional; a ``datetime.timedelta`` or a string such as ``"7d"``, ``"36h"``,
  ``"2w3d"``) keeps every snapshot created within that span before ``now``. It takes no slots.
* The rules add up: a snapshot is kept when any rule keeps it, and carries every reason.

Verification:

* Only *verified* snapshots fill the ``keep_*`` slots. An unverified snapshot never takes a slot, so a run
  of failed or unverifiable snapshots can never push a good one out; adding unverified snapshots never
  changes what happens to verified ones. Unverified snapshots are deleted unless ``keep_within`` covers
  them.
* The newest verified snapshot is always kept (reason ``"newest verified"``), whatever the policy.
* When no snapshot is verified at all (for example verification was switched off), the rules apply to
  all snapshots instead and the newest snapshot is always kept: the plan never deletes everything.

Plans (several schedules of one instance, docs/PLANS.md): ``plan_union()`` applies each plan's policy to the
snapshots that plan took or reused (its *claims*) plus the snapshots no plan claims (older versions count for
every plan); a snapshot is deleted only when no plan keeps it. ``prune(..., plan=NAME)`` records the plan's
policy and its claim on the protected (current) snapshot in ``<instance dir>/.plans.json``, under the lock;
given the instance's current plans, it forgets the others (a plan taken off the list: its snapshots become
unclaimed).

A policy that keeps nothing (every ``keep_*`` 0 and no ``keep_within``) is refused: it is almost
always a mistake (an unset variable), and pruning with it would silently thin the repository down to one
snapshot.
"""

from __future__ import annotations

import datetime
import os
import re

from ansible_collections.sage_open_webui.backup.plugins.module_utils._catalog import open_repository
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, check_known, read_json, write_json

COUNT_OPTIONS = ("keep_last", "keep_daily", "keep_weekly", "keep_monthly")
POLICY_OPTIONS = COUNT_OPTIONS + ("keep_within",)

_DURATION_RE = re.compile(r"^\s*(?:(\d+)w)?\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*$")


def _count(name, value):
    """A non-negative integer for option ``name``; BackupError otherwise."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise BackupError(
            "retention option %s must be a whole number, got the boolean %r" % (name, value),
            "set %s to a whole number such as 7 (0 disables it)" % name,
            option=name)
    if isinstance(value, str):
        text = value.strip()
        if re.match(r"^[+-]?\d+$", text):
            value = int(text)
        else:
            raise BackupError(
                "retention option %s must be a whole number, got %r" % (name, value),
                "set %s to a whole number such as 7 (0 disables it)" % name,
                option=name)
    if not isinstance(value, int):
        raise BackupError(
            "retention option %s must be a whole number, got %r (%s)" % (name, value, type(value).__name__),
            "set %s to a whole number such as 7 (0 disables it)" % name,
            option=name)
    if value < 0:
        raise BackupError(
            "retention option %s must be 0 or more, got %d" % (name, value),
            "set %s to a number of snapshots to keep (0 disables it)" % name,
            option=name)
    return value


def parse_duration(value, name="keep_within"):
    """``None`` or a positive ``timedelta`` from a timedelta or a ``"1w2d3h"`` string; BackupError otherwise.

    A zero duration (``"0d"``) means "not set" and returns None.
    """
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        span = value
    elif isinstance(value, str) and value.strip() == "":
        return None
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match or not any(match.groups()):
            raise BackupError(
                "retention option %s must be a duration such as 7d, 36h or 2w3d, got %r" % (name, value),
                "write %s as weeks (w), days (d) and hours (h), largest first, e.g. 1w3d or 48h" % name,
                option=name)
        weeks, days, hours = (int(g) if g else 0 for g in match.groups())
        span = datetime.timedelta(weeks=weeks, days=days, hours=hours)
    else:
        raise BackupError(
            "retention option %s must be a duration such as 7d, got %r (%s)" % (name, value, type(value).__name__),
            "write %s as a string of weeks (w), days (d) and hours (h), e.g. 7d" % name,
            option=name)
    if span < datetime.timedelta(0):
        raise BackupError(
            "retention option %s must not be negative, got %r" % (name, value),
            "set %s to a positive duration such as 7d, or leave it unset" % name,
            option=name)
    if span == datetime.timedelta(0):
        return None
    return span


def format_duration(span):
    """``"1w2d3h"``-style text for a timedelta (whole hours; smaller units as ``"90s"``)."""
    seconds = int(span.total_seconds())
    if seconds % 3600:
        return "%ds" % seconds
    hours = seconds // 3600
    weeks, hours = divmod(hours, 24 * 7)
    days, hours = divmod(hours, 24)
    out = ""
    for amount, unit in ((weeks, "w"), (days, "d"), (hours, "h")):
        if amount:
            out += "%d%s" % (amount, unit)
    return out or "0h"


def validate_policy(policy):
    """Normalised policy dict from user input (a role variable, module parameters).

    Returns ``{"keep_last": int, "keep_daily": int, "keep_weekly": int, "keep_monthly": int,
    "keep_within": timedelta | None}``. Raises BackupError for unknown keys (with a "did you mean" hint),
    negative or non-integer counts, a malformed duration, and a policy that keeps nothing.
    """
    if policy is None:
        policy = {}
    if not isinstance(policy, dict):
        raise BackupError(
            "retention policy must be a mapping of %s, got %s" % (", ".join(POLICY_OPTIONS), type(policy).__name__),
            "write the policy as a dictionary, e.g. {keep_daily: 7, keep_weekly: 4}")
    check_known(policy, POLICY_OPTIONS, "retention")
    result = {name: _count(name, policy.get(name)) for name in COUNT_OPTIONS}
    result["keep_within"] = parse_duration(policy.get("keep_within"))
    if not any(result[name] for name in COUNT_OPTIONS) and result["keep_within"] is None:
        raise BackupError(
            "retention policy keeps nothing: keep_last, keep_daily, keep_weekly and keep_monthly are all 0 "
            "and keep_within is not set, so pruning would delete every snapshot but the newest verified one",
            "set keep_last >= 1 (or keep_daily / keep_weekly / keep_monthly >= 1), "
            "e.g. keep_last: 3, keep_daily: 7, keep_weekly: 4, keep_monthly: 6")
    return result


def _entry(item):
    """(id, created, verified) from a tuple or a SnapshotRef-like object, checked."""
    if isinstance(item, (tuple, list)) and not hasattr(item, "verified"):
        if len(item) != 3:
            raise BackupError(
                "retention plan needs (id, created, verified) per snapshot, got %r" % (item,),
                "pass one (id, created datetime, verified bool) tuple per snapshot")
        snap_id, created, verified = item
    else:
        try:
            snap_id, created, verified = item.id, item.created, item.verified
        except AttributeError:
            raise BackupError(
                "retention plan needs (id, created, verified) per snapshot, got %r" % (item,),
                "pass one (id, created datetime, verified bool) tuple per snapshot")
    if not isinstance(created, datetime.datetime) or created.tzinfo is None or created.utcoffset() is None:
        raise BackupError(
            "snapshot %s has no time-zone-aware creation time (%r)" % (snap_id, created),
            "give created as an aware datetime, e.g. datetime.now(timezone.utc)",
            snapshot=str(snap_id))
    return str(snap_id), created.astimezone(datetime.timezone.utc), bool(verified)


def _keep_buckets(ordered, count, key_of, label, keep):
    """Keep the newest snapshot of each of the ``count`` most recent buckets (``ordered`` is newest first)."""
    if count <= 0:
        return
    seen = set()
    for snap_id, created, _verified in ordered:
        bucket = key_of(created)
        if bucket in seen:
            continue
        seen.add(bucket)
        keep.setdefault(snap_id, []).append("%s %s" % (label, bucket))
        if len(seen) >= count:
            return


def _day(created):
    return created.strftime("%Y-%m-%d")


def _week(created):
    year, week, _weekday = created.isocalendar()
    return "%04d-W%02d" % (year, week)


def _month(created):
    return created.strftime("%Y-%m")


def plan(snapshots, keep_last=0, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_within=None, now=None,
         protect=()):
    """Decide which snapshots a policy keeps.

    ``snapshots``: iterable of ``(id, created, verified)`` (``created`` an aware datetime; any order) or of
    objects with ``.id``, ``.created`` and ``.verified`` (``_repository.SnapshotRef``).
    ``now``: aware datetime for ``keep_within`` (default: the current UTC time).
    ``protect``: ids never deleted, whatever their time (reason ``"current run"``): the snapshot the running
    backup just made, which a clock that went backwards would otherwise make look like the oldest.

    Returns ``{"keep": {id: [reasons]}, "delete": [ids, oldest first]}``; ``keep`` is ordered newest
    first. Every snapshot is in exactly one of the two. See the module docstring for the semantics.
    """
    policy = validate_policy({"keep_last": keep_last, "keep_daily": keep_daily, "keep_weekly": keep_weekly,
                              "keep_monthly": keep_monthly, "keep_within": keep_within})
    if now is None:
        now = datetime.datetime.now(datetime.timezone.utc)
    elif not isinstance(now, datetime.datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise BackupError("retention plan got a naive or invalid 'now' (%r)" % (now,),
                          "pass now as an aware datetime, e.g. datetime.now(timezone.utc)")

    entries = [_entry(item) for item in snapshots]
    ids = [e[0] for e in entries]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise BackupError("snapshot ids are not unique: %s" % ", ".join(dupes),
                          "list each snapshot once", duplicates=dupes)
    # Newest first; the id breaks ties (ids sort by time, "-N" suffixes after the base id).
    ordered = sorted(entries, key=lambda e: (e[1], e[0]), reverse=True)
    verified = [e for e in ordered if e[2]]
    candidates = verified if verified else ordered

    keep = {snap_id: ["current run"] for snap_id in ids if snap_id in protect}
    if candidates:
        newest = candidates[0][0]
        keep.setdefault(newest, []).append("newest verified" if verified else "newest (no snapshot is verified)")
    for snap_id, _created, _verified in candidates[:policy["keep_last"]]:
        keep.setdefault(snap_id, []).append("last %d" % policy["keep_last"])
    _keep_buckets(candidates, policy["keep_daily"], _day, "daily", keep)
    _keep_buckets(candidates, policy["keep_weekly"], _week, "weekly", keep)
    _keep_buckets(candidates, policy["keep_monthly"], _month, "monthly", keep)
    if policy["keep_within"] is not None:
        since = now.astimezone(datetime.timezone.utc) - policy["keep_within"]
        label = "within %s" % format_duration(policy["keep_within"])
        for snap_id, created, _verified in ordered:
            if created >= since:
                keep.setdefault(snap_id, []).append(label)

    keep_ordered = {e[0]: keep[e[0]] for e in ordered if e[0] in keep}
    delete = [e[0] for e in reversed(ordered) if e[0] not in keep]
    return {"keep": keep_ordered, "delete": delete}


def plan_union(snapshots, policies, claims, protect=(), now=None):
    """Decide which snapshots several plans keep together.

    ``policies``: ``{plan: {keep_*: n}}``; ``claims``: ``{snapshot id: [plans that took or reused it]}``. Each
    plan's policy sees its own snapshots and the unclaimed ones (a claim by a plan without a policy counts as
    none); a snapshot is kept when any plan keeps it (reasons prefixed with the plan when there are several),
    and the newest verified snapshot (else the newest) always. Same return value as :func:`plan`.
    """
    entries = [_entry(item) for item in snapshots]
    owners = {sid: [p for p in claims.get(sid, []) if p in policies] for sid, _c, _v in entries}
    keep = {}
    for name in sorted(policies):
        mine = [e for e in entries if not owners[e[0]] or name in owners[e[0]]]
        decided = plan(mine, protect=protect, now=now, **policies[name])
        for sid, reasons in decided["keep"].items():
            keep.setdefault(sid, []).extend(reasons if len(policies) == 1 else ["%s: %s" % (name, r) for r in reasons])
    ordered = sorted(entries, key=lambda e: (e[1], e[0]), reverse=True)
    newest = ([e for e in ordered if e[2]] or ordered)[:1]
    for sid, _created, _verified in newest:
        if sid not in keep:
            keep[sid] = ["newest verified"]
    return {"keep": {e[0]: keep[e[0]] for e in ordered if e[0] in keep},
            "delete": [e[0] for e in reversed(ordered) if e[0] not in keep]}


# --------------------------------------------------------------------------- prune: the policy applied

LOCK_TIMEOUT = 10.0


def _clock_warnings(refs, protect):
    """A loud warning for each protected (current run's) id that sorts before an existing snapshot's id."""
    warnings = []
    for snap_id in protect:
        newer = sorted(ref.id for ref in refs if ref.id > snap_id and ref.id not in protect)
        if newer:
            warnings.append(
                "CLOCK WENT BACKWARDS: this run's snapshot %s sorts before the existing snapshot %s; it was kept, but "
                "retention now orders snapshots by the wrong time. Fix the system clock (timedatectl, NTP) and "
                "check the snapshots newer than now" % (snap_id, newer[-1]))
    return warnings


def _decide(repo, policy, protect, plans):
    """What the prune keeps and deletes: ``policy`` over every snapshot, or (``plans``: the claims state with
    this run's plan and claim added) the union of every plan's policy over its own snapshots."""
    refs = repo.list()
    if plans is None:
        decision = plan(refs, protect=protect, **policy)
    else:
        decision = plan_union(refs, plans["plans"], plans["claims"], protect=protect)
    verified = {ref.id: ref.verified for ref in refs}
    kept = [{"id": sid, "verified": verified[sid], "reasons": reasons} for sid, reasons in decision["keep"].items()]
    warnings = _clock_warnings(refs, protect)
    if refs and not any(verified.values()):
        warnings.append("no snapshot in %s is verified; the policy was applied to unverified snapshots and the "
                        "newest one is kept. Check why verification fails (snapshot_info verify=true)" % repo.path)
    return refs, kept, decision["delete"], warnings


PLANS_FILE = ".plans.json"


def _claims_path(repo):
    return os.path.join(repo.path, PLANS_FILE)


def _load_plans(repo, name, policy, protect, current=None):
    """The claims state of ``repo`` (``{"plans": {plan: policy}, "claims": {id: [plans]}, "forgotten": [plans]}``)
    with plan ``name``'s current policy and its claim on ``protect`` added (in memory). ``current``: the
    instance's plans now (None: unknown); every other recorded plan is forgotten, its policy and its claims
    dropped, so its snapshots count as unclaimed."""
    path = _claims_path(repo)
    state = read_json(path, "plans file", "", "delete it (%s); every snapshot then counts for every plan" % path) \
        if os.path.exists(path) else {}
    plans = {p: dict(v) for p, v in (state.get("plans") or {}).items()}
    claims = {sid: list(v) for sid, v in (state.get("claims") or {}).items()}
    forgotten = sorted(set(plans) - set(current) - {name}) if current is not None else []
    for gone in forgotten:
        del plans[gone]
    claims = {sid: [p for p in v if p not in forgotten] for sid, v in claims.items()}
    plans[name] = {k: policy[k] for k in COUNT_OPTIONS}
    for sid in protect:
        claims[sid] = sorted(set(claims.get(sid, [])) | {name})
    return {"plans": plans, "claims": {sid: v for sid, v in claims.items() if v}, "forgotten": forgotten}


def _save_plans(repo, plans, refs, deleted):
    """Write the claims state, without the claims of snapshots that are gone (called under the lock)."""
    present = {ref.id for ref in refs} - set(deleted)
    write_json(_claims_path(repo), {"plans": plans["plans"],
                                    "claims": {sid: v for sid, v in sorted(plans["claims"].items()) if sid in present}})


def prune(params, check_mode=False, protect=(), plan_name=None, current_plans=None):
    """Apply the retention policy in ``params`` (repository, host, instance, keep_*) to one repository: the
    work of ``snapshot_prune``, without Ansible. ``protect``: ids never deleted (the current run's snapshot).
    ``plan_name``: the backup job's plan; its policy then covers the snapshots it claims (``protect`` is claimed
    for it) and the unclaimed ones, and nothing another plan keeps is deleted (:func:`plan_union`).
    ``current_plans``: the instance's plans now; a recorded plan not among them is forgotten (``forgotten_plans``
    in the result). Returns the result dict or raises BackupError."""
    protect = tuple(protect)
    policy = validate_policy({name: params.get(name) for name in COUNT_OPTIONS})
    policy.pop("keep_within")
    repo = open_repository(params["repository"], params.get("host"), params.get("instance") or "open-webui")

    deleted = []
    if check_mode:
        plans = _load_plans(repo, plan_name, policy, protect, current_plans) if plan_name else None
        refs, kept, to_delete, warnings = _decide(repo, policy, protect, plans)
        deleted = list(to_delete)
    else:
        with repo.lock(timeout=LOCK_TIMEOUT):
            # Decide under the lock: the list and the claims cannot change between the plan and the deletions.
            plans = _load_plans(repo, plan_name, policy, protect, current_plans) if plan_name else None
            refs, kept, to_delete, warnings = _decide(repo, policy, protect, plans)
            for snapshot_id in to_delete:
                try:
                    repo.delete(snapshot_id)
                except OSError as err:
                    raise BackupError(
                        "deleting snapshot %s in %s failed (%s); deleted before it: %s"
                        % (snapshot_id, repo.path, err, ", ".join(deleted) or "none"),
                        "check the permissions and free space of the repository, then run the prune again",
                        deleted=deleted, repository_path=repo.path)
                deleted.append(snapshot_id)
            if plans is not None:
                _save_plans(repo, plans, refs, deleted)

    before = [ref.id for ref in refs]
    result = {
        "changed": bool(deleted),
        "repository_path": repo.path,
        "kept": kept,
        "deleted": deleted,
        "policy": policy,
        "warnings": warnings,
        "diff": {"before": "\n".join(before) + ("\n" if before else ""),
                 "after": "".join(sid + "\n" for sid in before if sid not in deleted),
                 "before_header": repo.path, "after_header": repo.path},
    }
    if plans is not None:
        result["forgotten_plans"] = plans["forgotten"]
    return result
