#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openwebui_backup
short_description: Run one whole Open WebUI backup job (hooks, snapshot, retention), or save it for a timer
version_added: 0.2.0
description:
  - The backup job of one instance, as the C(backup) role runs it, in one step. Pre hooks; the snapshot
    (see M(sage_open_webui.backup.openwebui_snapshot)), which resumes exactly the containers it paused or stopped
    (a host-side safety net does it if the module process dies) and nothing else; post hooks, also after a
    failure, with C(OWB_STATUS=ok|failed) and C(OWB_SNAPSHOT) in their environment;
    then retention (see M(sage_open_webui.backup.snapshot_prune)), which never deletes the newest verified snapshot.
  - With I(targets), the new snapshot is then copied off the host to each enabled target (S3, an rclone remote, a
    mounted path), once the app runs again, deduplicated against what the target holds, optionally encrypted
    with age. One failing target does not stop the others; the run ends failed when the snapshot or any target
    failed (the local snapshot stays published). Hosts never delete on a target; see
    M(sage_open_webui.backup.offsite_prune) and docs/OFFSITE.md.
  - With I(action=save) nothing is backed up; the job is checked and written to I(job_file) (mode 0600). A
    systemd timer or cron entry (role C(schedule)) then runs C(owb-backup job_file) on the host, which
    runs the very same job through the same code. One job, two triggers.
  - A host can have several jobs of one instance, one per I(plan) (for example C(daily) to S3 and C(weekly) for
    the NAS), each with its own schedule, mode, targets and retention. Two jobs of one instance never run at the
    same time, the second waits for the first (a lock in I(status_dir)). Each plan's retention applies to the
    snapshots it took or reused (and to those no plan claims); a snapshot is deleted only when no plan keeps it.
    See docs/PLANS.md.
  - Every run (not in check mode) writes its run record to I(status_dir), refreshes the Prometheus metrics in
    I(metrics_dir) and tells I(notify) of its start and end. A failure there is a warning, never a failed backup.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._snapshot
  - sage_open_webui.backup._docker
  - sage_open_webui.backup._target
  - sage_open_webui.backup._notify
attributes:
  check_mode:
    support: full
    details: Previews what would be paused or stopped, copied and deleted by retention; runs no hook and uploads nothing.
  diff_mode:
    support: full
    details: With I(action=save), the job file before and after.
  idempotent:
    support: partial
    details: I(action=run) creates a snapshot every time; I(action=save) changes the job file only when it differs.
options:
  action:
    description: C(run) the job now, or C(save) it to I(job_file) for the host-side trigger.
    type: str
    choices: [run, save]
    default: run
  job_file:
    description: Where I(action=save) writes the job (JSON, mode 0600, its directory 0700).
    type: path
  pre_hooks:
    description:
      - Commands run on the host before the snapshot, in order. Each is split like a shell would and run without a
        shell (an argv list, like M(ansible.builtin.command)), so no pipes, redirections or C($VAR) expansion; write
        C(sh -c '... "$OWB_INSTANCE"') for those. C(OWB_INSTANCE) is set in the environment. A failing pre hook stops the job before anything
        is paused or copied.
    type: list
    elements: str
    default: []
  post_hooks:
    description:
      - Commands run after the snapshot, also when it failed, without a shell like I(pre_hooks), with C(OWB_STATUS),
        C(OWB_SNAPSHOT) (path of the new snapshot) and C(OWB_INSTANCE) in their environment.
    type: list
    elements: str
    default: []
  keep_last:
    description:
      - Retention after a published snapshot; keep the newest N.
      - At least one of I(keep_last), I(keep_daily), I(keep_weekly), I(keep_monthly) must be above 0.
    type: int
    default: 7
  keep_daily:
    description: Keep the newest snapshot of each of the last N days that have one.
    type: int
    default: 7
  keep_weekly:
    description: Keep the newest snapshot of each of the last N ISO weeks that have one.
    type: int
    default: 4
  keep_monthly:
    description: Keep the newest snapshot of each of the last N months that have one.
    type: int
    default: 6
  plan:
    description:
      - Name of the plan this job belongs to (lower-case letters, digits, C(-) and C(_), at most 32; C(drill) and
        C(pull) are reserved). Names the run record (C(<instance>@<plan>.json)) and the plan's claim on the
        snapshots its retention covers.
    type: str
    default: default
  plans:
    description:
      - The names of all the instance's plans now (the schedule role sets it from C(schedule_plans) in each plan's
        job). The retention forgets every other plan it has recorded. A plan taken off the list stops keeping
        snapshots, and its snapshots count as unclaimed (the remaining plans' retention covers them).
      - Omitted, no plan is forgotten (a manual run).
    type: list
    elements: str
    version_added: 0.6.0
  reuse_within:
    description:
      - Seconds. When the newest verified local snapshot of the instance is younger, the run reuses it (no freeze,
        no new snapshot); its off-host copies to this job's I(targets), the retention and the hooks still run.
      - C(0) always takes a new snapshot.
    type: int
    default: 0
  status_dir:
    description: Directory (0700) of the run records, one per instance and plan, and of the instance's job lock.
    type: path
    default: /var/lib/sage-open-webui-backup
  metrics_dir:
    description:
      - Directory of node_exporter's textfile collector; the metrics of every run record in I(status_dir) are
        written there after each run. Empty writes no metrics.
    type: path
    default: ""
requirements:
  - Python docker SDK (C(python3-docker)) when I(container) is used.
  - For I(targets) - boto3 (C(python3-boto3)) for C(s3), the C(rclone) program for C(rclone), the C(age) program
    for targets with I(targets[].recipients).
seealso:
  - module: sage_open_webui.backup.openwebui_snapshot
  - module: sage_open_webui.backup.snapshot_prune
  - module: sage_open_webui.backup.offsite_prune
"""

EXAMPLES = r"""
---
- name: Back up the open-webui container (pause), with hooks and retention
  sage_open_webui.backup.openwebui_backup:
    container: open-webui
    repository: /var/backups/open-webui
    mode: pause
    post_hooks:
      # no shell runs a hook: sh -c expands the variable
      - sh -c 'logger -t owb "backup of $OWB_INSTANCE, status $OWB_STATUS"'
    keep_daily: 14

- name: Save the same job for the systemd timer (owb-backup /etc/sage-open-webui-backup/open-webui.json)
  sage_open_webui.backup.openwebui_backup:
    action: save
    job_file: /etc/sage-open-webui-backup/open-webui.json
    container: open-webui
    repository: /var/backups/open-webui
    mode: pause
    keep_daily: 14

- name: Back up, then copy the snapshot to B2 (S3 API, encrypted with age) and to a NAS
  sage_open_webui.backup.openwebui_backup:
    container: open-webui
    repository: /var/backups/open-webui
    targets:
      - name: b2
        type: s3
        endpoint_url: https://s3.us-west-004.backblazeb2.com
        region: us-west-004
        bucket: acme-owb-backups
        prefix: owb
        access_key_id: "{{ vault_b2_key_id }}"
        secret_access_key: "{{ vault_b2_application_key }}"
        recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
        bwlimit: 10M
      - name: nas
        type: filesystem
        path: /mnt/nas/owb
        recipients: [age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p]
  register: backup

- name: A second plan of the same instance, weekly, cold, kept for the NAS (waits while the daily plan runs)
  sage_open_webui.backup.openwebui_backup:
    container: open-webui
    repository: /var/backups/open-webui
    plan: weekly
    mode: cold
    reuse_within: 21600
    keep_last: 0
    keep_daily: 0
    keep_weekly: 8
    keep_monthly: 12

- name: Show what each target got
  ansible.builtin.debug:
    msg: "{{ backup.targets | map(attribute='name') | zip(backup.targets | map(attribute='status')) }}"
"""

RETURN = r"""
snapshot:
  description: What M(sage_open_webui.backup.openwebui_snapshot) returns (in check mode, its preview); see its RETURN.
  returned: action=run
  type: dict
  sample: {"snapshot_id": "20261127T031500Z", "path": "/var/backups/open-webui/web1/open-webui/20261127T031500Z",
           "mode": "pause", "previous": "20261126T031500Z", "summary": "20261127T031500Z: 214 files, 70.0 MiB ..."}
prune:
  description:
    - What M(sage_open_webui.backup.snapshot_prune) returns (see its RETURN); null in check mode without an
      earlier snapshot. The snapshot this run made is always kept (reason V(current run)).
    - With it, C(forgotten_plans), the plans not in I(plans) that this run's retention forgot.
  returned: action=run
  type: dict
  sample: {"deleted": ["20261120T031500Z"], "kept": [{"id": "20261127T031500Z", "verified": true,
           "reasons": ["current run", "newest verified", "last 7"]}],
           "policy": {"keep_last": 7, "keep_daily": 0, "keep_weekly": 0, "keep_monthly": 0},
           "repository_path": "/var/backups/open-webui/web1/open-webui"}
hooks:
  description: Per hook, its command, exit code, last output and duration (C(pre), C(post)).
  returned: action=run
  type: dict
  contains:
    pre:
      description: The pre hooks that ran, in order.
      type: list
      elements: dict
      sample: [{"cmd": "/usr/local/bin/notify start", "rc": 0, "output": "", "ms": 12}]
    post:
      description: The post hooks that ran, in order (they get C(OWB_STATUS) and C(OWB_SNAPSHOT)).
      type: list
      elements: dict
      sample: [{"cmd": "/usr/local/bin/notify done", "rc": 0, "output": "", "ms": 9}]
    would_run:
      description: In check mode, the hooks a real run would run (none runs).
      type: dict
      returned: check mode
      sample: {"pre": ["/usr/local/bin/notify start"], "post": []}
targets:
  description:
    - One outcome per target of I(targets), in order; empty without targets. In check mode nothing is uploaded and
      each enabled target with valid options is C(skipped) with I(would_upload=true).
    - A failed target makes the module fail too; its outcome is then in the failure's C(targets).
  returned: action=run
  type: list
  elements: dict
  contains:
    name:
      description: The target's I(name).
      type: str
      sample: b2
    type:
      description: The target's I(type).
      type: str
      sample: s3
    status:
      description: C(ok), C(failed) or C(skipped) (disabled, or check mode).
      type: str
      sample: ok
    exists:
      description: The target held this snapshot's record already (an earlier run uploaded it); nothing was sent.
      type: bool
      sample: false
    would_upload:
      description: Check mode - the target would get the new snapshot.
      type: bool
      returned: check mode
      sample: true
    error:
      description: Why the target failed (names the target and where it is; no secret), else null.
      type: str
      sample: null
    fix:
      description: What to do about I(error), else null.
      type: str
      sample: null
    snapshot_key:
      description: Key of the snapshot record on the target (its presence means the remote snapshot is complete).
      type: str
      sample: snapshots/web1/open-webui/20261127T031500Z.json
    bytes_sent:
      description: Bytes uploaded (packs, index and record, as stored - encrypted when encrypted).
      type: int
      sample: 1258291
    bytes_deduplicated:
      description: Bytes of the snapshot not sent because the target already held them.
      type: int
      sample: 72142029
    objects_sent:
      description: Objects uploaded.
      type: int
      sample: 3
    chunks_new:
      description: Chunks uploaded for the first time.
      type: int
      sample: 77
    chunks_reused:
      description: Chunks already on the target.
      type: int
      sample: 4402
    duration_s:
      description: Seconds the upload to this target took.
      type: float
      sample: 2.4
    throughput_bps:
      description: I(bytes_sent) per second.
      type: int
      sample: 524288
summary:
  description: One line for humans.
  returned: always
  type: str
  sample: "20261127T031500Z: 214 files, 70.0 MiB (1.4 MiB new), mode pause, freeze 38 ms, downtime 38 ms,
    total 2140 ms, verified; retention deleted 1; off-host: b2 ok 1.2 MiB sent (98 % deduplicated), nas ok"
job_file:
  description: Path of the saved job.
  returned: action=save
  type: str
  sample: /etc/sage-open-webui-backup/open-webui.json
job:
  description:
    - The job saved (what the timer runs), the module's options plus C(job_schema); the secrets of I(targets)
      are shown as C(********) (the file holds them, mode 0600).
  returned: action=save
  type: dict
  sample: {"job_schema": 1, "repository": "/var/backups/open-webui", "container": "open-webui", "mode": "pause",
           "keep_daily": 7}
record:
  description:
    - The run record written to I(status_dir) (record_schema 1, docs/PLANS.md); also in the result of a failed run.
    - I(snapshot.reused) is true when the run reused a recent snapshot (I(reuse_within)).
  returned: action=run, not in check mode
  type: dict
  sample: {"record_schema": 1, "kind": "backup", "host": "web1", "instance": "open-webui", "plan": "daily",
           "trigger": "ansible", "status": "ok", "snapshot": {"id": "20261202T030000Z", "reused": false},
           "targets": [{"name": "s3", "type": "s3", "status": "ok", "bytes_sent": 1258291, "error": null}]}
warnings_list:
  description: Warnings of the run (also emitted as Ansible warnings).
  returned: always
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError, run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _job, _notify_spec, _target_spec
from ansible_collections.sage_open_webui.backup.plugins.module_utils._snapshot import argument_spec as snapshot_spec

OWN = ("action", "job_file")


def argument_spec():
    spec = snapshot_spec()
    spec.update(
        action=dict(type="str", choices=["run", "save"], default="run"),
        job_file=dict(type="path"),
        pre_hooks=dict(type="list", elements="str", default=[]),
        post_hooks=dict(type="list", elements="str", default=[]),
        keep_last=dict(type="int", default=7),
        keep_daily=dict(type="int", default=7),
        keep_weekly=dict(type="int", default=4),
        keep_monthly=dict(type="int", default=6),
        targets=_target_spec.targets_option(),
        plan=dict(type="str", default="default"),
        plans=dict(type="list", elements="str"),
        reuse_within=dict(type="int", default=0),
        notify=_notify_spec.notify_option(),
        status_dir=dict(type="path", default=_job.STATUS_DIR),
        metrics_dir=dict(type="path", default=""),
    )
    return spec


def _run(module):
    p = module.params
    job = {k: v for k, v in p.items() if k not in OWN}
    job["targets"] = _target_spec.clean_all(p["targets"])
    if p["action"] == "save":
        if not p["job_file"]:
            raise BackupError("action=save needs job_file", "give job_file, e.g. /etc/sage-open-webui-backup/open-webui.json")
        result = _job.save(p["job_file"], job, check_mode=module.check_mode)
        if not module._diff:
            result.pop("diff")
        return result
    return _job.backup(job, check_mode=module.check_mode, trigger="ansible", log=module.log)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_one_of=[("container", "data_dir")],
        supports_check_mode=True,
    )
    run_module(module, lambda: _run(module))


if __name__ == "__main__":
    main()
