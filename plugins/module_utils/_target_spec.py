# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Ansible option spec of one off-host target, generated from ``_targets.COMMON`` and ``_targets.PER_TYPE``:
one spec for every module that takes targets (``openwebui_backup``, ``openwebui_restore``, ``snapshot_info``,
``offsite_prune``), documented by the doc fragment ``_target``.

The spec sets no defaults: an option left out reaches the module as None and :func:`clean` drops it, so the
job (and the job file the timer runs) holds what the user wrote and ``_targets.normalize`` is the one place
of the defaults and the checks. Every ``_targets.SECRET_OPTIONS`` option is ``no_log``.

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _targets
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import option_spec

# Ansible type of each option that is not a plain string.
TYPES = {
    "enabled": "bool", "recipients": "list", "concurrency": "int", "bwlimit": "raw",
    "keep_last": "int", "keep_daily": "int", "keep_weekly": "int", "keep_monthly": "int",
    "verify_tls": "bool", "object_lock_days": "int", "ca_bundle": "path",
    "config_file": "path", "path": "path",
}
CHOICES = {
    "type": list(_targets.TYPES),
    "addressing_style": ["auto", "path", "virtual"],
    "object_lock_mode": ["GOVERNANCE", "COMPLIANCE"],
}
REQUIRED = ("name", "type")


def _names():
    """Every option name: the common ones, then each type's, in the order ``_targets`` lists them."""
    names = list(_targets.COMMON)
    for kind in _targets.TYPES:
        names += [k for k in _targets.PER_TYPE[kind] if k not in names]
    return names


def suboptions():
    """The options of one target, as AnsibleModule takes them (``options`` of a dict or list of dicts)."""
    return option_spec(_names(), TYPES, CHOICES, REQUIRED, _targets.SECRET_OPTIONS)


def targets_option():
    """The ``targets`` option: a list of targets (empty: no off-host copy)."""
    return {"type": "list", "elements": "dict", "default": [], "options": suboptions()}


def target_option():
    """The ``target`` option of a module that works on one target."""
    return {"type": "dict", "options": suboptions()}


def clean(target):
    """One target as the module got it, without the options left out (None): what ``_targets.normalize`` takes."""
    if target is None:
        return None
    return {k: v for k, v in target.items() if v is not None}


def clean_all(targets):
    return [clean(t) for t in targets or []]
