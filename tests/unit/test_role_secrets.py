# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The roles never show a secret (no Ansible needed; PyYAML only).

Secret variables are the rclone config, the age identity text, and every list of targets (their keys). A task
may use one only where its value is not printed: as an argument of this collection's modules (their secret
options are ``no_log``), in an ``include_role``, in a condition (``when``, an assert's ``that``), or in a task
with ``no_log: true``. Never in a task name, a debug, a fail or an assert message. Role argument specs mark
the secret text variables ``no_log``. (tests/integration/test_offsite_playbook.py greps a real run at -vvv.)
"""
from __future__ import annotations

import glob
import os
import re

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET_TEXT = ("backup_rclone_config", "restore_age_identity_content")
SECRET_VARS = SECRET_TEXT + ("backup_targets", "restore_targets", "verify_targets", "__backup_targets", "__backup_targets_in",
                             "backup_notify", "schedule_plans", "__schedule_plans", "__schedule_plan_vars", "__backup_plan_vars")
_SECRET = re.compile(r"\b(%s)\b" % "|".join(SECRET_VARS))
_JINJA = re.compile(r"{{.*?}}|{%.*?%}", re.S)
QUIET_KEYS = ("name", "when", "tags", "register", "changed_when", "failed_when", "check_mode", "no_log", "loop_control")
SAFE_ACTIONS = ("ansible.builtin.include_role", "ansible.builtin.import_tasks", "ansible.builtin.include_tasks")
BLOCK_KEYS = ("block", "rescue", "always")


def _tasks(items):
    for task in items or []:
        if any(k in task for k in BLOCK_KEYS):
            yield task
            for key in BLOCK_KEYS:
                yield from _tasks(task.get(key))
        else:
            yield task


def _action(task):
    return next((k for k in task if k not in QUIET_KEYS and k not in ("vars", "loop") + BLOCK_KEYS), None)


def _secret_in(text):
    """The first secret variable a template of ``text`` expands (names in plain prose are fine)."""
    for expr in _JINJA.findall(text):
        found = _SECRET.search(expr)
        if found:
            return found.group(1)
    return None


def problems(tasks, where):
    found = []
    for task in _tasks(tasks):
        name = str(task.get("name", ""))
        if _secret_in(name):
            found.append("%s: task name %r shows a secret variable" % (where, name))
        action = _action(task)
        if action is None or task.get("no_log") is True or action in SAFE_ACTIONS:
            continue
        args = task[action]
        if action.startswith("sage_open_webui.backup."):
            continue
        if action == "ansible.builtin.assert":
            args = {k: v for k, v in (args or {}).items() if k != "that"}
        secret = _secret_in(yaml.safe_dump({"args": args, "loop": task.get("loop"), "vars": task.get("vars")}, width=1 << 20))
        if secret:
            found.append("%s: task %r (%s) uses %s without no_log" % (where, name, action, secret))
    return found


def _task_files():
    return sorted(glob.glob(os.path.join(ROOT, "roles", "*", "tasks", "*.yml")))


@pytest.mark.parametrize("path", _task_files(), ids=lambda p: os.path.relpath(p, ROOT))
def test_no_task_shows_a_secret(path):
    with open(path, encoding="utf-8") as f:
        tasks = yaml.safe_load(f)
    found = problems(tasks, os.path.relpath(path, ROOT))
    assert not found, "\n".join(found)


def test_secret_text_variables_are_no_log_in_the_argument_specs():
    declared = {}
    for path in glob.glob(os.path.join(ROOT, "roles", "*", "meta", "argument_specs.yml")):
        with open(path, encoding="utf-8") as f:
            declared.update(yaml.safe_load(f)["argument_specs"]["main"]["options"])
    assert sorted(k for k in declared if k in SECRET_TEXT) == sorted(SECRET_TEXT)
    assert [k for k in SECRET_TEXT if declared[k].get("no_log") is not True] == []


def test_the_scan_sees_each_kind_of_leak():
    leaks = [
        {"name": "Deploy {{ backup_rclone_config }}", "ansible.builtin.copy": {"content": "x", "dest": "/x"}, "no_log": True},
        {"name": "Show", "ansible.builtin.debug": {"msg": "{{ backup_targets }}"}},
        {"name": "Copy", "ansible.builtin.copy": {"content": "{{ restore_age_identity_content }}", "dest": "/x"}},
        {"block": [{"name": "Set", "ansible.builtin.set_fact": {"x": "{{ __backup_targets }}"}}]},
        {"name": "Check", "ansible.builtin.assert": {"that": ["backup_targets | length > 0"], "fail_msg": "{{ backup_targets }}"}},
    ]
    assert len(problems(leaks, "t")) == 5
    fine = [
        {"name": "Job", "sage_open_webui.backup.openwebui_backup": {"targets": "{{ __backup_targets }}"}},
        {"name": "Check", "ansible.builtin.assert": {"that": ["backup_targets | length > 0"], "fail_msg": "bad"}},
        {"name": "Set", "ansible.builtin.set_fact": {"x": "{{ __backup_targets }}"}, "no_log": True},
        {"name": "Targets", "ansible.builtin.include_role": {"name": "x"}, "vars": {"__backup_targets_in": "{{ restore_targets }}"}},
    ]
    assert problems(fine, "t") == []
