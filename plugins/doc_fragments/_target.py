# -*- coding: utf-8 -*-
# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Note that this doc fragment is **PRIVATE** to the collection. It can have breaking changes at any time.
# It documents the options of _target_spec.suboptions() (one off-host target); keep the two in step
# (tests/unit/plugins/modules/test_module_docs.py compares them with every module's live argument_spec).
# DOCUMENTATION: the option `targets` (a list of targets); ONE: the option `target` (one target). Both list the same
# suboptions, written out twice because ansible-test reads these strings as literals;
# test_module_docs.py checks both against the one spec.

from __future__ import annotations


class ModuleDocFragment:

    # The off-host targets of a job
    DOCUMENTATION = r"""
options:
  targets:
    description:
      - Off-host targets (see docs/OFFSITE.md). A backup uploads each new snapshot to every enabled target once the
        app runs again (deduplicated, optionally encrypted with age); one failing target does not stop the others,
        and the run ends failed when any failed. A restore reads from the target its I(source) names.
      - Give the same list to backups and restores (the C(backup) role's C(backup_targets)).
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the target, unique within the job. It names the target in messages, results and the status
            file, the local dedup cache (C(<repository>/.offsite-cache/<name>/)) and the I(source) of a restore.
          - Letters, digits, C(.), C(_) and C(-), up to 64.
        type: str
        required: true
      type:
        description:
          - C(s3) (AWS S3, Backblaze B2's S3 API, MinIO, Wasabi, Cloudflare R2 through boto3), C(rclone) (any
            configured rclone remote) or C(filesystem) (a mounted path, e.g. an NFS/SMB NAS or a USB disk).
        type: str
        required: true
        choices: [s3, rclone, filesystem]
      enabled:
        description: V(false) skips the target (its outcome is C(skipped)). Default V(true).
        type: bool
      recipients:
        description:
          - age public keys (C(age1...), from C(age-keygen -y KEYFILE)). When given, the store is encrypted - content
            and manifests go through C(age -r), object names reveal neither file names nor plaintext hashes.
          - Only public keys go to the hosts. The identity (private key) stays with you; a host cannot decrypt its own
            backups. A store is encrypted or not from its first upload on.
        type: list
        elements: str
      dedup_secret:
        description:
          - Encrypted stores name chunks with an HMAC whose key comes from the sorted I(recipients); give a secret here
            to use it instead (the same on every host that shares the target, so they deduplicate against each other).
        type: str
      concurrency:
        description: Parallel uploads (and downloads) of packs, 1..64. Default V(4).
        type: int
      bwlimit:
        description:
          - Upload rate cap in bytes per second for this target, shared by its parallel uploads (home uplinks).
            A number, or with a unit C(K), C(M), C(G) (powers of 1024), e.g. V(10M). Default unlimited.
        type: raw
      keep_last:
        description:
          - Retention on the target, applied by M(sage_open_webui.backup.offsite_prune) (hosts never delete) - keep the
            newest N snapshots of each host/instance. Default V(7).
          - The newest snapshot of every host/instance is always kept.
        type: int
      keep_daily:
        description: Keep the newest snapshot of each of the last N days that have one. Default V(7).
        type: int
      keep_weekly:
        description: Keep the newest snapshot of each of the last N ISO weeks that have one. Default V(4).
        type: int
      keep_monthly:
        description: Keep the newest snapshot of each of the last N months that have one. Default V(6).
        type: int
      bucket:
        description: C(s3), required. The bucket name.
        type: str
      prefix:
        description: C(s3). Key prefix inside the bucket (one store per prefix), e.g. V(owb). Default the bucket's root.
        type: str
      endpoint_url:
        description:
          - C(s3). The S3 endpoint for providers other than AWS, e.g. V(https://s3.us-west-004.backblazeb2.com) (B2),
            V(https://<account>.r2.cloudflarestorage.com) (R2), V(http://minio.lan:9000). Default AWS.
        type: str
      region:
        description: C(s3). The region (B2 - the part of the endpoint such as V(us-west-004)). Default from the environment or profile.
        type: str
      addressing_style:
        description: C(s3). Bucket in the host name (V(virtual)) or in the path (V(path), MinIO). Default V(auto).
        type: str
        choices: [auto, path, virtual]
      storage_class:
        description: C(s3). Storage class of uploaded objects, e.g. V(STANDARD_IA). Default the bucket's.
        type: str
      sse:
        description: C(s3). Server-side encryption, V(AES256) or V(aws:kms). Default the bucket's.
        type: str
      sse_kms_key_id:
        description: C(s3). The KMS key for I(sse=aws:kms).
        type: str
      access_key_id:
        description:
          - C(s3). Access key id (B2 - the application key id). Without it boto3 finds credentials as usual - the
            C(AWS_*) environment, I(profile), an instance role.
          - Give the host a key that can only put, get and list (see docs/OFFSITE.md); hosts never delete.
        type: str
      secret_access_key:
        description: C(s3). Secret access key (B2 - the application key). Keep it in Ansible Vault.
        type: str
      session_token:
        description: C(s3). Session token of temporary credentials.
        type: str
      profile:
        description: C(s3). Profile of the host's C(~/.aws/credentials) to use.
        type: str
      ca_bundle:
        description: C(s3). CA bundle (on the host) that signs the endpoint's certificate.
        type: path
      verify_tls:
        description: C(s3). V(false) accepts any certificate (test endpoints only). Default V(true).
        type: bool
      object_lock_days:
        description:
          - C(s3). With Object Lock enabled on the bucket, each upload carries a retain-until date this many days
            ahead, so nobody (not even a stolen key) can delete it before. Default V(0) (none).
        type: int
      object_lock_mode:
        description: C(s3). Object Lock mode of I(object_lock_days). Default V(GOVERNANCE).
        type: str
        choices: [GOVERNANCE, COMPLIANCE]
      remote:
        description: C(rclone), required. C(remote:path) as rclone names it, e.g. V(b2:my-bucket/owb), V(nas-sftp:/backups/owb).
        type: str
      config_file:
        description:
          - C(rclone). The rclone config file on the host (mode 0600). The C(backup) role deploys
            C(backup_rclone_config) to C(/etc/sage-open-webui-backup/rclone.conf) and uses it by default.
        type: path
      rclone_config_pass:
        description: C(rclone). Password of an encrypted rclone config (passed to rclone in its environment, never on its command line).
        type: str
      rclone_binary:
        description: C(rclone). The rclone program. Default V(rclone) (from C(PATH)).
        type: str
      path:
        description: C(filesystem), required. Absolute path of the mounted directory on the host, e.g. V(/mnt/nas/owb).
        type: path
"""

    # One target
    ONE = r"""
options:
  target:
    description:
      - One off-host target (the same options as an item of C(targets) of M(sage_open_webui.backup.openwebui_backup)).
    type: dict
    suboptions:
      name:
        description:
          - Name of the target, unique within the job. It names the target in messages, results and the status
            file, the local dedup cache (C(<repository>/.offsite-cache/<name>/)) and the I(source) of a restore.
          - Letters, digits, C(.), C(_) and C(-), up to 64.
        type: str
        required: true
      type:
        description:
          - C(s3) (AWS S3, Backblaze B2's S3 API, MinIO, Wasabi, Cloudflare R2 through boto3), C(rclone) (any
            configured rclone remote) or C(filesystem) (a mounted path, e.g. an NFS/SMB NAS or a USB disk).
        type: str
        required: true
        choices: [s3, rclone, filesystem]
      enabled:
        description: V(false) skips the target (its outcome is C(skipped)). Default V(true).
        type: bool
      recipients:
        description:
          - age public keys (C(age1...), from C(age-keygen -y KEYFILE)). When given, the store is encrypted - content
            and manifests go through C(age -r), object names reveal neither file names nor plaintext hashes.
          - Only public keys go to the hosts. The identity (private key) stays with you; a host cannot decrypt its own
            backups. A store is encrypted or not from its first upload on.
        type: list
        elements: str
      dedup_secret:
        description:
          - Encrypted stores name chunks with an HMAC whose key comes from the sorted I(recipients); give a secret here
            to use it instead (the same on every host that shares the target, so they deduplicate against each other).
        type: str
      concurrency:
        description: Parallel uploads (and downloads) of packs, 1..64. Default V(4).
        type: int
      bwlimit:
        description:
          - Upload rate cap in bytes per second for this target, shared by its parallel uploads (home uplinks).
            A number, or with a unit C(K), C(M), C(G) (powers of 1024), e.g. V(10M). Default unlimited.
        type: raw
      keep_last:
        description:
          - Retention on the target, applied by M(sage_open_webui.backup.offsite_prune) (hosts never delete) - keep the
            newest N snapshots of each host/instance. Default V(7).
          - The newest snapshot of every host/instance is always kept.
        type: int
      keep_daily:
        description: Keep the newest snapshot of each of the last N days that have one. Default V(7).
        type: int
      keep_weekly:
        description: Keep the newest snapshot of each of the last N ISO weeks that have one. Default V(4).
        type: int
      keep_monthly:
        description: Keep the newest snapshot of each of the last N months that have one. Default V(6).
        type: int
      bucket:
        description: C(s3), required. The bucket name.
        type: str
      prefix:
        description: C(s3). Key prefix inside the bucket (one store per prefix), e.g. V(owb). Default the bucket's root.
        type: str
      endpoint_url:
        description:
          - C(s3). The S3 endpoint for providers other than AWS, e.g. V(https://s3.us-west-004.backblazeb2.com) (B2),
            V(https://<account>.r2.cloudflarestorage.com) (R2), V(http://minio.lan:9000). Default AWS.
        type: str
      region:
        description: C(s3). The region (B2 - the part of the endpoint such as V(us-west-004)). Default from the environment or profile.
        type: str
      addressing_style:
        description: C(s3). Bucket in the host name (V(virtual)) or in the path (V(path), MinIO). Default V(auto).
        type: str
        choices: [auto, path, virtual]
      storage_class:
        description: C(s3). Storage class of uploaded objects, e.g. V(STANDARD_IA). Default the bucket's.
        type: str
      sse:
        description: C(s3). Server-side encryption, V(AES256) or V(aws:kms). Default the bucket's.
        type: str
      sse_kms_key_id:
        description: C(s3). The KMS key for I(sse=aws:kms).
        type: str
      access_key_id:
        description:
          - C(s3). Access key id (B2 - the application key id). Without it boto3 finds credentials as usual - the
            C(AWS_*) environment, I(profile), an instance role.
          - Give the host a key that can only put, get and list (see docs/OFFSITE.md); hosts never delete.
        type: str
      secret_access_key:
        description: C(s3). Secret access key (B2 - the application key). Keep it in Ansible Vault.
        type: str
      session_token:
        description: C(s3). Session token of temporary credentials.
        type: str
      profile:
        description: C(s3). Profile of the host's C(~/.aws/credentials) to use.
        type: str
      ca_bundle:
        description: C(s3). CA bundle (on the host) that signs the endpoint's certificate.
        type: path
      verify_tls:
        description: C(s3). V(false) accepts any certificate (test endpoints only). Default V(true).
        type: bool
      object_lock_days:
        description:
          - C(s3). With Object Lock enabled on the bucket, each upload carries a retain-until date this many days
            ahead, so nobody (not even a stolen key) can delete it before. Default V(0) (none).
        type: int
      object_lock_mode:
        description: C(s3). Object Lock mode of I(object_lock_days). Default V(GOVERNANCE).
        type: str
        choices: [GOVERNANCE, COMPLIANCE]
      remote:
        description: C(rclone), required. C(remote:path) as rclone names it, e.g. V(b2:my-bucket/owb), V(nas-sftp:/backups/owb).
        type: str
      config_file:
        description:
          - C(rclone). The rclone config file on the host (mode 0600). The C(backup) role deploys
            C(backup_rclone_config) to C(/etc/sage-open-webui-backup/rclone.conf) and uses it by default.
        type: path
      rclone_config_pass:
        description: C(rclone). Password of an encrypted rclone config (passed to rclone in its environment, never on its command line).
        type: str
      rclone_binary:
        description: C(rclone). The rclone program. Default V(rclone) (from C(PATH)).
        type: str
      path:
        description: C(filesystem), required. Absolute path of the mounted directory on the host, e.g. V(/mnt/nas/owb).
        type: path
"""
