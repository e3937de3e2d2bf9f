# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one target option spec (_target_spec) against _targets (every option, secrets no_log, no stale entry)
and against its doc fragment (_target: both variables), the way validate-modules compares them."""

from __future__ import annotations

import os
import sys

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _target_spec, _targets
from ansible_collections.sage_open_webui.backup.plugins.doc_fragments._target import ModuleDocFragment

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "modules"))
import test_module_docs as docs  # noqa: E402 - the one doc/spec comparison


def every_option():
    names = set(_targets.COMMON)
    for kind in _targets.TYPES:
        names |= set(_targets.PER_TYPE[kind])
    return names


def test_the_spec_has_every_target_option_and_nothing_else():
    spec = _target_spec.suboptions()
    assert set(spec) == every_option()
    assert set(_target_spec.TYPES) <= every_option(), "a type for an option _targets no longer has"
    assert set(_target_spec.CHOICES) <= every_option()
    assert _target_spec.CHOICES["type"] == list(_targets.TYPES)


def test_every_secret_is_no_log_and_nothing_else_is():
    spec = _target_spec.suboptions()
    assert sorted(k for k, v in spec.items() if v.get("no_log")) == sorted(_targets.SECRET_OPTIONS)


def test_no_defaults_in_the_spec_so_normalize_is_the_one_place():
    assert not [k for k, v in _target_spec.suboptions().items() if "default" in v]


@pytest.mark.parametrize("variable,option,kind", [("DOCUMENTATION", "targets", "list"), ("ONE", "target", "dict")])
def test_the_doc_fragment_matches_the_spec(variable, option, kind):
    doc = docs.load(getattr(ModuleDocFragment, variable))["options"]
    assert list(doc) == [option]
    spec = {option: _target_spec.targets_option() if kind == "list" else _target_spec.target_option()}
    assert not docs.option_problems(doc, spec, "")


def test_clean_drops_what_was_left_out_and_normalize_takes_it():
    given = dict.fromkeys(_target_spec.suboptions())
    given.update(name="nas", type="filesystem", path="/mnt/nas/owb", concurrency=2)
    cleaned = _target_spec.clean(given)
    assert cleaned == {"name": "nas", "type": "filesystem", "path": "/mnt/nas/owb", "concurrency": 2}
    assert _targets.normalize(cleaned)["keep_last"] == _targets.COMMON["keep_last"]
    assert _target_spec.clean_all(None) == [] and _target_spec.clean(None) is None
