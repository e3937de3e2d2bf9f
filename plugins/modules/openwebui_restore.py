#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
---
module: openwebui_restore
short_description: Restore Open WebUI from a verified snapshot, or run a restore drill
version_added: 0.1.0
description:
  - With I(action=restore), picks a snapshot (C(latest), an id, or the newest at or before a time), checks every
    file of it against its manifest (sha256, no links, no paths leaving the snapshot) and refuses a C(webui.db) whose
    alembic revision the target image does not know, all before anything on the host changes.
  - It then copies the snapshot into a staging directory on the data directory's filesystem (hashing every byte
    again), stops the container, renames the current data into C(owb-rollback-<time>/) beside the data directory
    (kept for I(rollback_keep_hours)), renames the restored data in, sets owners and modes from the manifest,
    writes the secret key file into the container, starts it and waits until it is healthy.
  - When the app does not become healthy, the previous data (and key) are put back, the app is started again and
    the module fails, naming both outcomes.
  - On a new host, a missing I(volume) is created; a container is created only when I(image) is given, otherwise
    the module returns the commands to run (C(guidance)).
  - With I(action=drill), restores the newest verified snapshot of every host and instance in the repository (or
    the given ones) into I(scratch), runs C(PRAGMA integrity_check) on both databases, compares row counts and
    upload hashes with the manifest, boots the image on it when available (on Docker's bridge network, its port
    published on 127.0.0.1 only) and records the restore time (RTO). With I(source) naming a target, the drill
    runs on the target's snapshots (every host and instance there, or the given ones), downloaded and checked
    like a restore's. Each drill's result and RTO go to a run record in I(status_dir) (kind C(drill), plan
    C(drill)) and to I(notify); with I(job_file), the drill is saved for the drill timer instead.
  - With I(source) naming one of I(targets), the snapshot comes from that off-host target - only the content
    it needs is downloaded, each object checked against its sha256, decrypted with I(age_identity) when the store
    is encrypted, and every file checked against the manifest into a work directory, all before the app stops.
    A damaged or tampered object, or a wrong identity, fails the restore with nothing on the host changed. This is
    the disaster recovery path of a new host that has only the target's credentials and the identity.
  - Check mode creates, deletes and locks nothing (a shared lock waits for a running backup) and creates no
    probe container; the image's migrations are then read only from an existing container.
author:
  - sage_open_webui.backup contributors (@sage-open-webui)
extends_documentation_fragment:
  - sage_open_webui.backup._attributes
  - sage_open_webui.backup._attributes.actiongroup_openwebui
  - sage_open_webui.backup._docker
  - sage_open_webui.backup._target
  - sage_open_webui.backup._notify
attributes:
  check_mode:
    support: full
    details: Picks and verifies the snapshot, checks the image and the key, and says what would be done; changes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run replaces the data with the snapshot's.
options:
  action:
    description: C(restore) the instance, or C(drill) (restore into a scratch directory and check it).
    type: str
    choices: [restore, drill]
    default: restore
  repository:
    description:
      - Absolute path of the local snapshot repository. With an off-host I(source), the snapshot is downloaded
        into a work copy under C(<repository>/.offsite-fetch), removed after the restore.
    type: path
    required: true
  source:
    description:
      - Where the snapshot is read from - C(local) (I(repository)), or the I(name) of one of I(targets).
      - With a target, I(host) and I(instance) name the host and instance that were backed up (list them with
        M(sage_open_webui.backup.snapshot_info) and I(target)); on a new host, give I(host).
    type: str
    default: local
  age_identity:
    description:
      - Path, on the restoring host, of the age identity file (C(age-keygen) output) that decrypts an encrypted
        target's snapshots. Needed only for a target with I(recipients).
      - Keep the identity off the hosts that back up; bring it for a restore only (the C(restore) role writes
        C(restore_age_identity_content) to a 0600 temporary file and removes it afterwards).
    type: path
  host:
    description:
      - Host name in the repository layout (the host that was backed up). Defaults to the short host name.
      - For I(action=drill), limits the drill to this host.
    type: str
  instance:
    description:
      - Instance name in the repository layout. Defaults to the container name, else the volume, else C(open-webui).
      - For I(action=drill), limits the drill to this instance.
    type: str
  snapshot:
    description: C(latest) (the newest verified snapshot) or a snapshot id.
    type: str
    default: latest
  before:
    description: Restore the newest verified snapshot taken at or before this time (ISO 8601, UTC when no offset).
    type: str
  container:
    description:
      - Name or id of the Open WebUI container to restore. Its data mount is found through the Docker API.
      - On a new host, the name of the container to create (with I(image)).
    type: str
  volume:
    description: Named volume to restore into when the container does not exist (created when missing).
    type: str
  data_dir:
    description: Data directory on the host (a plain install, or to override the container's mount).
    type: path
  image:
    description:
      - Image the restored data will run on. Its alembic migrations are compared with the snapshot.
      - When I(container) does not exist, a container is created from it (see I(create_container)).
    type: str
  create_container:
    description:
      - Settings of the container created on a new host. Keys C(env) (dict), C(ports) (container port to host
        port), C(network_mode) (default C(host) without ports, else C(bridge)), C(restart_policy), C(labels).
    type: dict
  components:
    description:
      - C(all), or any of C(database) (webui.db), C(uploads), C(vector_db).
      - C(ollama) restores the Ollama model store(s) of a snapshot taken with I(include_ollama) into their
        volume (created when missing) or I(ollama_dir). It is verified first, the containers using the store are
        stopped around the swap and started again, the previous content is kept like a data rollback. Never
        part of C(all); alone, Open WebUI's data is not touched.
    type: list
    elements: str
    choices: [all, database, uploads, vector_db, ollama]
    default: [all]
  ollama_dir:
    description: With I(components=ollama), the directory to put the (single) Ollama store in instead of its volume.
    type: path
    version_added: 0.2.0
  secret_key:
    description:
      - C(auto) writes the snapshot's key to C(/app/backend/.webui_secret_key) in the container, or fails before any
        change when the container sets a different C(WEBUI_SECRET_KEY) in its environment, saying what to set.
      - C(skip) leaves the key alone.
    type: str
    choices: [auto, skip]
    default: auto
  alembic_check:
    description: C(strict) refuses a database newer than the image, C(warn) only warns, C(skip) does not look.
    type: str
    choices: [strict, warn, skip]
    default: strict
  migrations_path:
    description: Directory of Open WebUI's alembic versions inside the image, when it is not found automatically.
    type: str
  preserve:
    description: Paths of the current data kept across a full restore (never in snapshots, e.g. model caches).
    type: list
    elements: str
    default: [cache/embedding/models, cache/whisper/models, cache/tiktoken]
  owner:
    description: C(uid:gid) for every restored file instead of the owners recorded in the manifest.
    type: str
  rollback_keep_hours:
    description: Hours the previous data is kept beside the data directory; older rollback copies are removed by the next restore.
    type: float
    default: 72
  health_timeout:
    description: Seconds to wait for the app to be healthy after the start.
    type: int
    default: 240
  health_url:
    description: URL that must answer 200 too (e.g. C(http://127.0.0.1:8080/health)), besides the Docker health check.
    type: str
  stop_timeout:
    description: Seconds C(docker stop) waits before killing.
    type: int
    default: 30
  start:
    description:
      - Start the container after the restore and wait until it is healthy.
      - With C(false) a container that was running is left stopped (the safety net that starts it again if the
        restore dies is disarmed once the data is in place).
    type: bool
    default: true
  pre_start_commands:
    description:
      - Shell commands run after the data is in place and before the start (C(OWB_DATA_DIR), C(OWB_SNAPSHOT) set).
      - A failure puts the previous data back.
    type: list
    elements: str
    default: []
  scratch:
    description:
      - For I(action=drill), the directory the snapshots are restored into (emptied afterwards).
      - It must belong to the user running the drill and not be a link; it is created, or set, 0700.
    type: path
    default: /var/tmp/owb-drill
  boot:
    description: For I(action=drill), boot the image on the restored data (C(auto) when the image is on the host).
    type: str
    choices: [auto, always, never]
    default: auto
  lock_timeout:
    description: Seconds to wait for a backup of the same instance to finish.
    type: float
    default: 0
  job_file:
    description:
      - With I(action=drill), check the drill's options and save them to this file (JSON, mode 0600, its directory
        0700) instead of running the drill; C(owb-drill job_file) (the drill timer of the C(schedule) role) runs it.
    type: path
    version_added: 0.5.0
  status_dir:
    description:
      - With I(action=drill), the directory of the run records, one per drilled instance (C(<instance>@drill.json)),
        which the status report, the metrics and the notifications read. Empty writes none.
    type: path
    default: ""
    version_added: 0.5.0
  metrics_dir:
    description:
      - With I(action=drill) and I(status_dir), node_exporter's textfile collector directory the metrics of every
        run record are written to. Empty writes none.
    type: path
    default: ""
    version_added: 0.5.0
requirements:
  - Python docker SDK (C(python3-docker)) when a container, volume or image is used.
  - With an off-host I(source) - boto3 (C(python3-boto3)) for C(s3), the C(rclone) program for C(rclone), the
    C(age) program for an encrypted store.
notes:
  - The restored data is moved in with C(rename(2)); the downtime is the stop, a few renames, and the app's start.
  - Roll back by hand with the C(owb-rollback.json) note in the rollback directory.
  - A detached safety net starts the container again if the restore is killed while the app is down.
seealso:
  - module: sage_open_webui.backup.openwebui_snapshot
  - module: sage_open_webui.backup.snapshot_info
"""

EXAMPLES = r"""
---
- name: Restore the newest verified snapshot into the open-webui container
  sage_open_webui.backup.openwebui_restore:
    repository: /var/backups/open-webui
    container: open-webui

- name: Restore only the database as it was at 03:00 UTC
  sage_open_webui.backup.openwebui_restore:
    repository: /var/backups/open-webui
    container: open-webui
    before: "2026-11-27T03:00:00Z"
    components: [database]

- name: Disaster recovery on a new host, creating the volume and the container
  sage_open_webui.backup.openwebui_restore:
    repository: /mnt/backups/open-webui
    host: web1
    instance: open-webui
    container: open-webui
    volume: open-webui
    image: ghcr.io/open-webui/open-webui:v0.12.4
    create_container:
      ports: {8080: 3000}

- name: Disaster recovery from an encrypted S3 (B2) target on a new host
  sage_open_webui.backup.openwebui_restore:
    source: b2
    targets:
      - name: b2
        type: s3
        endpoint_url: https://s3.us-west-004.backblazeb2.com
        region: us-west-004
        bucket: acme-owb-backups
        prefix: owb
        access_key_id: "{{ vault_b2_key_id }}"
        secret_access_key: "{{ vault_b2_application_key }}"
    age_identity: /root/owb-identity.txt
    repository: /var/backups/open-webui
    host: web1
    container: open-webui
    volume: open-webui
    image: ghcr.io/open-webui/open-webui:v0.12.4

- name: Restore drill of every host in the repository
  sage_open_webui.backup.openwebui_restore:
    action: drill
    repository: /var/backups/open-webui

- name: Save the drill job for the weekly drill timer (owb-drill), as the schedule role does
  sage_open_webui.backup.openwebui_restore:
    action: drill
    repository: /var/backups/open-webui
    boot: always
    job_file: /etc/sage-open-webui-backup/owb-drill.json
"""

RETURN = r"""
source:
  description: With an off-host I(source), what was downloaded from the target (the work copy is removed).
  returned: action=restore and I(source) is a target
  type: dict
  contains:
    target:
      description: The target's name.
      type: str
      sample: b2
    packs:
      description: Packs downloaded (only those the snapshot or the chosen components need).
      type: int
      sample: 5
    bytes_downloaded:
      description: Bytes downloaded (as stored, encrypted when encrypted).
      type: int
      sample: 73531392
    files:
      description: Files assembled and checked against the manifest.
      type: int
      sample: 214
    workdir:
      description: The work copy the snapshot was assembled in.
      type: str
      sample: /var/backups/open-webui/.offsite-fetch/b2-20261127T031500Z
    removed:
      description: Whether the work copy is gone.
      type: bool
      sample: true
snapshot_id:
  description: Snapshot restored (or checked).
  returned: action=restore
  type: str
  sample: 20261127T031500Z
snapshot_path:
  description: Path of that snapshot.
  returned: action=restore
  type: str
  sample: /var/backups/open-webui/web1/open-webui/20261127T031500Z
data_dir:
  description: Data directory restored into.
  returned: action=restore
  type: str
  sample: /var/lib/docker/volumes/open-webui/_data
components:
  description: Components of the data directory restored (empty when only C(ollama) was asked for).
  returned: action=restore
  type: list
  elements: str
  sample: ["database", "vector_db", "uploads"]
ollama:
  description: Per Ollama store restored, its label, volume, directory, files, bytes, rollback path and the containers restarted.
  returned: action=restore and I(components) has C(ollama)
  type: list
  elements: dict
  sample: [{"label": "ollama", "volume": "ollama", "dir": "/var/lib/docker/volumes/ollama/_data/models", "files": 12,
            "bytes": 4661211136, "rollback": "/var/lib/docker/volumes/ollama/_data/owb-rollback-20261127T101500Z",
            "restarted": ["ollama"]}]
container:
  description: The container that runs the restored data (null when none was given or created).
  returned: action=restore and not check mode
  type: str
  sample: open-webui
container_created:
  description: Whether the run created the container (from O(image)).
  returned: action=restore and not check mode
  type: bool
  sample: false
volume_created:
  description: Whether the run created the Docker volume.
  returned: action=restore and not check mode
  type: bool
  sample: false
rollback_path:
  description: Where the previous data is kept.
  returned: action=restore and not check mode
  type: str
  sample: /var/lib/docker/volumes/open-webui/owb-rollback-20261127T101500Z
rollback_keep_hours:
  description: How long rollback copies are kept before a later restore removes them.
  returned: action=restore and not check mode
  type: float
  sample: 72.0
rollbacks_pruned:
  description: Older rollback copies removed by this run.
  returned: action=restore and not check mode
  type: list
  elements: str
  sample: []
moved_aside:
  description: Entries of the data directory moved into I(rollback_path).
  returned: action=restore and not check mode
  type: list
  elements: str
  sample: ["webui.db", "vector_db", "uploads"]
restored:
  description: Entries put in place.
  returned: action=restore and not check mode
  type: list
  elements: str
  sample: ["webui.db", "vector_db", "uploads"]
preserved:
  description: Entries of the data directory left as they were (components not restored).
  returned: action=restore and not check mode
  type: list
  elements: str
  sample: ["cache"]
files:
  description: Files put in place.
  returned: action=restore and not check mode
  type: int
  sample: 214
bytes:
  description: Bytes put in place.
  returned: action=restore and not check mode
  type: int
  sample: 73400320
alembic:
  description: Snapshot revision, image heads and the verdict.
  returned: action=restore
  type: dict
  sample: {"status": "ok", "message": "snapshot 0bd252b206fb is the head of the image", "snapshot_revision": "0bd252b206fb", "image_heads": ["0bd252b206fb"],
           "image": "ghcr.io/open-webui/open-webui:0.12.4", "path": "/app/backend/open_webui/migrations/versions"}
secret_key:
  description: What was done with the secret key (never its value).
  returned: action=restore
  type: dict
  contains:
    action:
      description: V(put) (key file written), V(none), V(guidance) (no container yet) or V(skip).
      type: str
      sample: put
    message:
      description: The same for humans.
      type: str
      sample: key file written to /app/backend/.webui_secret_key
health:
  description: How the app came up (null when nothing was started).
  returned: action=restore and not check mode
  type: dict
  sample: {"seconds": 41.2, "health": "healthy", "status": "running"}
guidance:
  description: Commands to run when no container was given or created.
  returned: action=restore and not check mode
  type: list
  elements: str
  sample: ["docker run -d --name open-webui -v open-webui:/app/backend/data ghcr.io/open-webui/open-webui:0.12.4"]
timing_ms:
  description: Durations in milliseconds.
  returned: action=restore and not check mode
  type: dict
  contains:
    total:
      description: The whole run.
      type: int
      sample: 52310
    verify:
      description: Checking the snapshot against its manifest.
      type: int
      sample: 1200
    stage:
      description: Copying the snapshot into the staging directory.
      type: int
      sample: 3400
    stop:
      description: Stopping the app.
      type: int
      sample: 2100
    start_to_healthy:
      description: From starting the app to healthy.
      type: int
      sample: 41200
    downtime:
      description: The app down, from stop to healthy.
      type: int
      sample: 43700
would:
  description: In check mode, the steps a run would take.
  returned: check mode
  type: list
  elements: str
  sample: ["stop open-webui", "put 214 files (70.0 MiB) in place", "secret key: key file written to /app/backend/.webui_secret_key"]
drills:
  description: Per host and instance, the snapshot, checks, problems, boot time and RTO.
  returned: action=drill
  type: list
  elements: dict
  sample: [{"host": "web1", "instance": "open-webui", "snapshot_id": "20261127T031500Z", "files": 214, "bytes": 73400320,
            "uploads_checked": 12, "booted_image": "ghcr.io/open-webui/open-webui:0.12.4", "boot_to_healthy_s": 38.5,
            "rto_s": 52.1, "problems": [], "ok": true}]
summary:
  description: One line for humans.
  returned: always
  type: str
  sample: "restored 20261127T031500Z into /var/lib/docker/volumes/open-webui/_data (214 files, 70.0 MiB): verify 1200 ms,
    stage 3400 ms, downtime 43700 ms, healthy after 41200 ms"
events:
  description: Timeline of the run.
  returned: action=restore
  type: list
  elements: str
  sample: ["  1200 ms  snapshot 20261127T031500Z verified (1200 ms)"]
warnings_list:
  description: Warnings of the run.
  returned: always
  type: list
  elements: str
  sample: []
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import run_module
from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import docker_host_option
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _drill_job, _notify_spec, _restore, _target_spec

DRILL_ONLY = ("scratch", "boot", "job_file", "status_dir", "metrics_dir", "notify")


def argument_spec():
    return dict(
        action=dict(type="str", choices=["restore", "drill"], default="restore"),
        repository=dict(type="path", required=True),
        source=dict(type="str", default="local"),
        targets=_target_spec.targets_option(),
        age_identity=dict(type="path"),
        host=dict(type="str"),
        instance=dict(type="str"),
        snapshot=dict(type="str", default="latest"),
        before=dict(type="str"),
        container=dict(type="str"),
        volume=dict(type="str"),
        data_dir=dict(type="path"),
        image=dict(type="str"),
        create_container=dict(type="dict"),
        components=dict(type="list", elements="str", choices=["all", "database", "uploads", "vector_db", "ollama"], default=["all"]),
        ollama_dir=dict(type="path"),
        secret_key=dict(type="str", choices=["auto", "skip"], default="auto", no_log=False),
        alembic_check=dict(type="str", choices=["strict", "warn", "skip"], default="strict"),
        migrations_path=dict(type="str"),
        preserve=dict(type="list", elements="str", default=list(_restore.DEFAULT_PRESERVE)),
        owner=dict(type="str"),
        rollback_keep_hours=dict(type="float", default=72),
        health_timeout=dict(type="int", default=240),
        health_url=dict(type="str"),
        stop_timeout=dict(type="int", default=30),
        start=dict(type="bool", default=True),
        pre_start_commands=dict(type="list", elements="str", default=[]),
        scratch=dict(type="path", default="/var/tmp/owb-drill"),
        boot=dict(type="str", choices=["auto", "always", "never"], default="auto"),
        lock_timeout=dict(type="float", default=0),
        job_file=dict(type="path"),
        status_dir=dict(type="path", default=""),
        metrics_dir=dict(type="path", default=""),
        notify=_notify_spec.notify_option(),
        docker_host=docker_host_option(),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
    )
    run_module(module, lambda: _run(module))


def _run(module):
    p = module.params
    if p["action"] == "drill":
        job = dict({k: p[k] for k in _drill_job.DEFAULTS}, targets=_target_spec.clean_all(p["targets"]))
        if p["job_file"]:
            return _drill_job.save(p["job_file"], job, check_mode=module.check_mode)
        return _drill_job.drill_now(job, check_mode=module.check_mode)
    job = {k: v for k, v in p.items() if k not in DRILL_ONLY and k != "action"}
    job["targets"] = _target_spec.clean_all(p["targets"])
    if job["before"] and job["snapshot"] == "latest":
        job["snapshot"] = None
    return _restore.run(job, check_mode=module.check_mode)


if __name__ == "__main__":
    main()
