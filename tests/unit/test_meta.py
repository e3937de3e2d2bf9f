# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Consistency of the collection's metadata (no Ansible needed; PyYAML only).

- every module in plugins/modules has DOCUMENTATION, EXAMPLES and RETURN (valid YAML), names itself,
  and uses the shared ``_attributes`` doc fragment;
- every role's defaults/main.yml keys are declared in meta/argument_specs.yml and vice versa
  (options without a default must be ``required``), with equal defaults where the spec states one;
- the ``openwebui`` action group in meta/runtime.yml lists exactly the modules in plugins/modules;
- galaxy.yml and requirements.yml agree on the dependencies;
- a fresh clone resolves sage_open_webui.backup.* (ansible-lint needs it) through collections/, a symlink to
  the checkout that ansible.cfg names, and that the build, ansible-lint and yamllint leave out;
- the built collection holds every file playbooks/demo.yml reads (nothing from tests/, which is not shipped);
- the managed-host requirements are stated once: what plugins/ imports outside the standard library is exactly
  requirements.txt, whose apt packages (plus python3) are the install role's package list and README's.
"""
from __future__ import annotations

import ast
import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FQCN = "sage_open_webui.backup"
ACTION_GROUP = "openwebui"


def _load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _modules():
    return sorted(
        os.path.splitext(os.path.basename(p))[0]
        for p in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
        if not os.path.basename(p).startswith("__")
    )


def _roles():
    return sorted(
        os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(ROOT, "roles", "*", ""))
        if os.path.isdir(os.path.join(p, "tasks"))
    )


def _module_docs(name):
    """Top-level string constants of a module, read with ast (the module is not imported)."""
    path = os.path.join(ROOT, "plugins", "modules", name + ".py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    docs = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    docs[target.id] = node.value.value
    return docs


# --- modules -----------------------------------------------------------------------------------

@pytest.mark.parametrize("module", _modules())
def test_module_has_documentation_examples_return(module):
    docs = _module_docs(module)
    missing = [k for k in ("DOCUMENTATION", "EXAMPLES", "RETURN") if not docs.get(k, "").strip()]
    assert not missing, "plugins/modules/%s.py lacks %s" % (module, ", ".join(missing))

    doc = yaml.safe_load(docs["DOCUMENTATION"])
    assert isinstance(doc, dict), "%s: DOCUMENTATION is not a YAML mapping" % module
    assert doc.get("module") == module, "%s: DOCUMENTATION says module: %r" % (module, doc.get("module"))
    assert doc.get("short_description"), "%s: DOCUMENTATION has no short_description" % module
    fragments = doc.get("extends_documentation_fragment") or []
    assert FQCN + "._attributes" in fragments, (
        "%s: extends_documentation_fragment should include %s._attributes (check_mode/diff_mode/idempotent)"
        % (module, FQCN))

    examples = docs["EXAMPLES"].strip()
    assert examples.startswith("---"), "%s: EXAMPLES should start with '---'" % module
    assert isinstance(yaml.safe_load(examples), list), "%s: EXAMPLES is not a YAML list of tasks" % module
    assert FQCN + "." + module in examples, "%s: EXAMPLES should call the module by its FQCN" % module

    ret = yaml.safe_load(docs["RETURN"])
    assert ret is None or isinstance(ret, dict), "%s: RETURN is not a YAML mapping" % module


# --- roles -------------------------------------------------------------------------------------

@pytest.mark.parametrize("role", _roles())
def test_role_defaults_match_argument_specs(role):
    base = os.path.join(ROOT, "roles", role)
    defaults_path = os.path.join(base, "defaults", "main.yml")
    specs_path = os.path.join(base, "meta", "argument_specs.yml")
    defaults = (_load(defaults_path) or {}) if os.path.exists(defaults_path) else {}
    assert os.path.exists(specs_path), "roles/%s: meta/argument_specs.yml is missing" % role
    specs = (_load(specs_path) or {}).get("argument_specs") or {}
    assert "main" in specs, "roles/%s: meta/argument_specs.yml has no 'main' entry point" % role
    options = specs["main"].get("options") or {}

    undeclared = sorted(set(defaults) - set(options))
    assert not undeclared, "roles/%s: defaults not declared in meta/argument_specs.yml: %s" % (role, undeclared)

    without_default = sorted(k for k, v in options.items() if k not in defaults and not (v or {}).get("required"))
    assert not without_default, (
        "roles/%s: options in meta/argument_specs.yml with no value in defaults/main.yml (and not required): %s"
        % (role, without_default))

    differing = sorted(k for k, v in options.items() if k in defaults and "default" in (v or {})
                       and v["default"] != defaults[k])
    assert not differing, "roles/%s: argument_specs default differs from defaults/main.yml for %s" % (role, differing)

    for name, spec in options.items():
        assert (spec or {}).get("description"), "roles/%s: option %s has no description" % (role, name)
        assert (spec or {}).get("type"), "roles/%s: option %s has no type" % (role, name)


# --- meta/runtime.yml, galaxy.yml ----------------------------------------------------------------

def test_action_group_lists_every_module():
    runtime = _load(os.path.join(ROOT, "meta", "runtime.yml"))
    assert runtime.get("requires_ansible"), "meta/runtime.yml: requires_ansible is missing"
    group = (runtime.get("action_groups") or {}).get(ACTION_GROUP)
    assert isinstance(group, list), "meta/runtime.yml: action_groups.%s is missing" % ACTION_GROUP
    modules = _modules()
    missing = sorted(set(modules) - set(group))
    assert not missing, "meta/runtime.yml: action_groups.%s does not list %s" % (ACTION_GROUP, missing)
    unknown = sorted(set(group) - set(modules))
    assert not unknown, "meta/runtime.yml: action_groups.%s lists modules that do not exist: %s" % (ACTION_GROUP, unknown)


def test_galaxy_and_requirements_agree():
    galaxy = _load(os.path.join(ROOT, "galaxy.yml"))
    assert (galaxy["namespace"], galaxy["name"]) == tuple(FQCN.split("."))
    reqs = {c["name"]: c.get("version", "*") for c in _load(os.path.join(ROOT, "requirements.yml"))["collections"]}
    assert reqs == galaxy.get("dependencies", {}), "requirements.yml and galaxy.yml dependencies differ"


# --- managed-host requirements: requirements.txt, the install role and README say the same --------------------

def _host_requirements():
    """``{import/pip name: apt package}`` from requirements.txt (``name>=x  # apt: package``; lines ending in
    ``# controller`` are the controller's, not a managed host's)."""
    found = {}
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as f:
        for line in f:
            if line.strip() and not line.startswith("#") and not line.rstrip().endswith("# controller"):
                match = re.match(r"^([A-Za-z0-9_.-]+)\S*\s+#\s*apt:\s*(\S+)\s*$", line)
                assert match, "requirements.txt: %r lacks '# apt: <package>'" % line
                found[match.group(1)] = match.group(2)
    return found


def _third_party_imports():
    """Top-level names plugins/ imports that are neither the standard library nor Ansible."""
    names = set()
    for path in glob.glob(os.path.join(ROOT, "plugins", "**", "*.py"), recursive=True):
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names.add(node.module.split(".")[0])
    return sorted(names - set(sys.stdlib_module_names) - {"__future__", "ansible", "ansible_collections"})


def _readme_requirements():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        text = f.read()
    match = re.search(r"^#+ Requirements\n(.*?)(?=^#)", text, re.S | re.M)
    assert match, "README.md has no Requirements section"
    return match.group(1)


def test_host_requirements_are_stated_once():
    reqs = _host_requirements()
    assert _third_party_imports() == sorted(reqs), "plugins/ imports these outside the standard library"
    packages = ["python3"] + sorted(reqs.values())
    install = os.path.join(ROOT, "roles", "install")
    assert sorted(_load(os.path.join(install, "defaults", "main.yml"))["install_packages"]) == sorted(packages)
    spec = _load(os.path.join(install, "meta", "argument_specs.yml"))["argument_specs"]["main"]["options"]
    assert sorted(spec["install_packages"]["default"]) == sorted(packages)
    readme = _readme_requirements()
    assert "apt install %s" % " ".join(packages) in readme, "README Requirements: the apt command differs"
    assert sorted(set(re.findall(r"python3-[a-z0-9]+", readme))) == sorted(reqs.values())
    assert "requirements.txt" in readme


# --- the built collection ships what the demo needs --------------------------------------------------------------

def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


def test_built_collection_ships_what_the_demo_needs(tmp_path):
    galaxy = shutil.which("ansible-galaxy", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if galaxy is None:
        pytest.skip("ansible-galaxy is not installed")
    subprocess.run([galaxy, "collection", "build", "--output-path", str(tmp_path), ROOT], check=True,
                   capture_output=True, timeout=300)
    tarball, = glob.glob(str(tmp_path / "*.tar.gz"))
    with tarfile.open(tarball) as tar:
        shipped = set(tar.getnames())
    strings = list(_strings(_load(os.path.join(ROOT, "playbooks", "demo.yml"))))
    assert not [s for s in strings if "tests/" in s], "the demo reads from tests/, which the build leaves out"
    needed = sorted({m for s in strings for m in re.findall(r"\{\{ playbook_dir \}\}/([^\"' }]+)", s)})
    assert needed, "the demo should find its sample data relative to itself ({{ playbook_dir }}/files/...)"
    missing = ["playbooks/" + rel for rel in needed if "playbooks/" + rel not in shipped]
    assert not missing, "the built collection lacks %s" % missing
    with tarfile.open(os.path.join(ROOT, "playbooks", needed[0])) as sample:
        assert "webui.db" in sample.getnames()


# --- a fresh clone resolves sage_open_webui.backup.* without `make collection` ----------------------------------

def test_fresh_clone_resolves_the_collection_through_collections_symlink(tmp_path):
    link = os.path.join(ROOT, "collections", "ansible_collections", *FQCN.split("."))
    assert os.path.islink(link) and os.path.realpath(link) == os.path.realpath(ROOT)
    import configparser
    cfg = configparser.ConfigParser()
    cfg.read(os.path.join(ROOT, "ansible.cfg"))
    assert "./collections" in cfg["defaults"]["collections_path"].split(":")
    assert "collections" in _load(os.path.join(ROOT, "galaxy.yml"))["build_ignore"]
    assert "collections/" in _load(os.path.join(ROOT, ".ansible-lint"))["exclude_paths"]
    playbook = shutil.which("ansible-playbook", path=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    if playbook is None:
        pytest.skip("ansible-playbook is not installed")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_LOCAL_TEMP=str(tmp_path))
    env.pop("ANSIBLE_CONFIG", None)
    for name in ("backup", "restore", "schedule", "verify"):
        res = subprocess.run([playbook, "--syntax-check", "-i", "localhost,", os.path.join(ROOT, "playbooks", name + ".yml")],
                             cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
        assert res.returncode == 0, res.stdout + res.stderr
