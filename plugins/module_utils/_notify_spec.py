# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Ansible option spec of ``notify`` (a list of notifiers), generated from ``_notify.COMMON`` and
``_notify.PER_TYPE`` and documented by the doc fragment ``_notify``.

The spec sets no defaults: an option left out reaches the module as None, ``_notify.normalize`` drops it and
is the one place of the defaults and the checks. Every ``_notify.SECRET_OPTIONS`` option is ``no_log``.

Plain Python, no Ansible imports. This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _notify
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import option_spec

# Ansible type of each option that is not a plain string.
TYPES = {"events": "list", "timeout": "int", "smtp_port": "int", "starttls": "bool", "smtp_ssl": "bool", "to": "list"}
CHOICES = {"type": list(_notify.TYPES), "events": list(_notify.ON_EVENTS)}
ALIASES = {"events": ["on"]}
REQUIRED = ("type",)


def suboptions():
    """The options of one notifier, as AnsibleModule takes them."""
    names = list(_notify.COMMON)
    for kind in _notify.TYPES:
        names += [k for k in _notify.PER_TYPE[kind] if k not in names]
    return option_spec(names, TYPES, CHOICES, REQUIRED, _notify.SECRET_OPTIONS, ALIASES)


def notify_option():
    """The ``notify`` option: a list of notifiers (empty: nobody is told)."""
    return {"type": "list", "elements": "dict", "default": [], "options": suboptions()}
