# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Every module's DOCUMENTATION (with its doc fragments merged as Ansible merges them) against the
``argument_spec`` its ``main()`` really passes to AnsibleModule, and its RETURN block: what ansible-test
``validate-modules`` checks, without ansible-test. The spec is captured live, so options added or removed
on the code side show up here."""

from __future__ import annotations

import glob
import importlib
import os

import pytest
import yaml

pytest.importorskip("ansible.module_utils.basic", reason="the modules import AnsibleModule")

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
FQCN = "sage_open_webui.backup"
PKG = "ansible_collections.sage_open_webui.backup.plugins"
MODULES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                 if not os.path.basename(p).startswith("_"))
# no_log is not compared: validate-modules refuses it in DOCUMENTATION (secrets are checked in the spec itself,
# test_target_spec.py::test_every_secret_is_no_log_and_nothing_else_is)
COMPARED = ("type", "default", "choices", "required", "elements", "aliases")
COMPLEX = ("dict", "list")


class _Captured(Exception):
    pass


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (PyYAML keeps the last one silently)."""

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, dummy in node.value]
        twice = sorted({str(key) for key in keys if keys.count(key) > 1})
        if twice:
            raise yaml.constructor.ConstructorError(None, None, "keys given twice: %s" % twice, node.start_mark)
        return super().construct_mapping(node, deep)


def load(text):
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass


def live_spec(name):
    """``argument_spec`` (and the other AnsibleModule arguments) that ``main()`` passes, without running it."""
    module = importlib.import_module("%s.modules.%s" % (PKG, name))
    seen = {}

    def fake(**kwargs):
        seen.update(kwargs)
        raise _Captured()
    original = module.AnsibleModule
    module.AnsibleModule = fake
    try:
        with pytest.raises(_Captured):
            module.main()
    finally:
        module.AnsibleModule = original
    return seen


def _merge(target, source):
    """ansible.utils.plugin_docs.merge_fragment: the module's own keys win, lists are united."""
    for key, value in source.items():
        if key in target:
            if isinstance(target[key], dict):
                value = dict(value, **target[key])
            elif isinstance(target[key], list):
                value = sorted(set(value + target[key]), key=str)
        target[key] = value


def fragment(name):
    """The YAML of ``sage_open_webui.backup.<file>[.<variable>]``."""
    parts = name[len(FQCN) + 1:].split(".")
    module = importlib.import_module("%s.doc_fragments.%s" % (PKG, parts[0]))
    return load(getattr(module.ModuleDocFragment, parts[1].upper() if len(parts) > 1 else "DOCUMENTATION"))


def documentation(name):
    """DOCUMENTATION of a module with its fragments merged (options and attributes per entry, like Ansible)."""
    module = importlib.import_module("%s.modules.%s" % (PKG, name))
    doc = load(module.DOCUMENTATION)
    for fragment_name in doc.get("extends_documentation_fragment") or []:
        assert fragment_name.startswith(FQCN + "."), "%s: foreign doc fragment %s" % (name, fragment_name)
        frag = fragment(fragment_name)
        for key in ("options", "attributes"):
            doc.setdefault(key, {})
            _merge(doc[key], frag.pop(key, None) or {})
        _merge(doc, frag)
    return doc


def _normal(option, key):
    """The value of ``key`` as validate-modules compares it (absent type is str, absent flags are false)."""
    value = option.get(key)
    if key == "type":
        return value or "str"
    if key == "required":
        return bool(value)
    if key == "aliases":
        return sorted(value or [])
    return value


def option_problems(doc_options, spec, where):
    problems = []
    for name in sorted(set(spec) - set(doc_options)):
        problems.append("%s%s: in argument_spec, not documented" % (where, name))
    for name in sorted(set(doc_options) - set(spec)):
        problems.append("%s%s: documented, not in argument_spec" % (where, name))
    for name in sorted(set(spec) & set(doc_options)):
        doc, code = doc_options[name] or {}, spec[name] or {}
        if not doc.get("description"):
            problems.append("%s%s: no description" % (where, name))
        for key in COMPARED:
            if _normal(doc, key) != _normal(code, key):
                problems.append("%s%s: %s is %r in the docs, %r in argument_spec"
                                % (where, name, key, _normal(doc, key), _normal(code, key)))
        if code.get("options") or doc.get("suboptions"):
            problems += option_problems(doc.get("suboptions") or {}, code.get("options") or {}, "%s%s." % (where, name))
    return problems


def return_problems(values, where=""):
    """Every return value says what it is and shows it: a sample, or for a dict (or list of dicts) with fixed
    keys the keys it contains (a free-form mapping such as table -> rows shows a sample instead)."""
    problems = []
    for key, value in (values or {}).items():
        value = value or {}
        path = where + key
        for field in ("description", "type") + (("returned",) if where.endswith(": ") else ()):
            if field not in value:
                problems.append("%s: no %s" % (path, field))
        complex_ = value.get("type") == "dict" or (value.get("type") == "list" and value.get("elements") == "dict")
        if value.get("type") == "list" and not value.get("elements"):
            problems.append("%s: a list without elements" % path)
        if "sample" not in value and not (complex_ and "contains" in value):
            problems.append("%s: %s" % (path, "neither contains nor a sample" if complex_ else "no sample"))
        problems += return_problems(value.get("contains"), path + ".")
    return problems


@pytest.mark.parametrize("name", MODULES)
def test_documented_options_match_the_live_argument_spec(name):
    doc = documentation(name)
    spec = live_spec(name)
    assert spec.get("supports_check_mode") is True, "%s: supports_check_mode must be True" % name
    problems = option_problems(doc.get("options") or {}, spec["argument_spec"], name + ": ")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_every_return_value_is_documented_with_contains_and_sample(name):
    module = importlib.import_module("%s.modules.%s" % (PKG, name))
    problems = return_problems(load(module.RETURN), name + ": ")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", MODULES)
def test_attributes_and_action_group(name):
    attributes = documentation(name).get("attributes") or {}
    for attribute in ("check_mode", "diff_mode", "idempotent"):
        assert attributes.get(attribute, {}).get("support"), "%s: attribute %s has no support" % (name, attribute)
        assert attributes[attribute].get("description"), "%s: attribute %s has no description" % (name, attribute)
    with open(os.path.join(ROOT, "meta", "runtime.yml"), encoding="utf-8") as f:
        groups = yaml.safe_load(f).get("action_groups") or {}
    membership = sorted("%s.%s" % (FQCN, group) for group, members in groups.items() if name in members)
    action_group = attributes.get("action_group") or {}
    assert (action_group.get("support"), sorted(action_group.get("membership") or [])) == ("full", membership), name


def test_the_merge_sees_a_mismatch():
    """The comparison itself: a wrong default and an undocumented option are both found."""
    doc = {"a": {"description": "x", "type": "int", "default": 1}, "b": {"description": "y"}}
    spec = {"a": {"type": "int", "default": 2}, "b": {"type": "str", "no_log": True}, "c": {}}
    assert len(option_problems(doc, spec, "")) == 2
    with pytest.raises(yaml.constructor.ConstructorError, match="given twice"):
        load("a:\n  sample: 1\n  sample: 2\n")
