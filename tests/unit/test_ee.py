# Copyright (c) sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The execution environment (execution-environment.yml): ``ansible-builder create`` makes a build context that
builds from the EE_BASE_IMAGE argument, carries requirements.txt, bindep.txt, requirements.yml and this
collection's artifact, and installs that artifact; the build's own introspection keeps every requirement; bindep.txt
names the right packages per platform, and its "host" profile the Debian packages of requirements.txt.

``make ee`` runs this file on the context it created from the real artifact (OWB_EE_CONTEXT); ``make unit`` lets it
create one from a stand-in artifact. No image is built (that needs a registry for the base image)."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml
from bindep.depends import Depends

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COPIED = ("requirements.txt", "bindep.txt", "requirements.yml")  # what the context carries, byte for byte
INSTALL = re.compile(r"^RUN ansible-galaxy collection install .*/build/collection/sage_open_webui-backup-\*\.tar\.gz", re.M)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _version():
    return yaml.safe_load(_read(os.path.join(ROOT, "galaxy.yml")))["version"]


def _stand_in_artifact(path, version):
    """A collection artifact as far as the context goes: MANIFEST.json naming this collection."""
    manifest = json.dumps({"collection_info": {"namespace": "sage_open_webui", "name": "backup", "version": version}})
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("MANIFEST.json")
        info.size = len(manifest)
        tar.addfile(info, io.BytesIO(manifest.encode()))


def _create(tmp_path):
    """ansible-builder create on a copy of the EE file and what it names, with a stand-in artifact."""
    src = tmp_path / "src"
    artifacts = src / ".cache" / "ee" / "collection"
    artifacts.mkdir(parents=True)
    for name in COPIED + ("execution-environment.yml",):
        shutil.copy(os.path.join(ROOT, name), str(src / name))
    _stand_in_artifact(str(artifacts / ("sage_open_webui-backup-%s.tar.gz" % _version())), _version())
    context = tmp_path / "context"
    subprocess.run([sys.executable, "-m", "ansible_builder", "create", "--file", str(src / "execution-environment.yml"),
                    "--context", str(context), "--output-filename", "Containerfile"], check=True, capture_output=True)
    return str(context)


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    return os.environ.get("OWB_EE_CONTEXT") or _create(tmp_path_factory.mktemp("ee"))


def problems(context):
    """What is wrong with a build context: [] when it builds what execution-environment.yml promises."""
    found = []
    build = os.path.join(context, "_build")
    containerfile = _read(os.path.join(context, "Containerfile")) if os.path.isfile(os.path.join(context, "Containerfile")) else ""
    froms = re.findall(r"^FROM (\S+)", containerfile, re.M)
    if not froms or froms[0] != "$EE_BASE_IMAGE" or not re.search(r'^ARG EE_BASE_IMAGE="\S+"', containerfile, re.M):
        found.append("Containerfile: the first FROM is not the EE_BASE_IMAGE argument (%s)" % froms[:1])
    if not INSTALL.search(containerfile):
        found.append("Containerfile: no step installs the collection artifact")
    for name in COPIED:
        path = os.path.join(build, name)
        if not os.path.isfile(path) or _read(path) != _read(os.path.join(ROOT, name)):
            found.append("_build/%s is missing or differs from %s" % (name, name))
    artifacts = sorted(os.listdir(os.path.join(build, "collection"))) if os.path.isdir(os.path.join(build, "collection")) else []
    wanted = "sage_open_webui-backup-%s.tar.gz" % _version()
    if artifacts != [wanted]:
        found.append("_build/collection holds %s, not exactly %s" % (artifacts, wanted))
    else:
        with tarfile.open(os.path.join(build, "collection", wanted)) as tar:
            info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        if (info["namespace"], info["name"], info["version"]) != ("sage_open_webui", "backup", _version()):
            found.append("_build/collection/%s is not this collection: %s" % (wanted, info))
    return found


def test_the_build_context_builds_what_the_ee_file_promises(context):
    assert problems(context) == []


def test_a_broken_context_is_reported(context, tmp_path):
    broken = str(tmp_path / "broken")
    shutil.copytree(context, broken)
    os.remove(os.path.join(broken, "_build", "collection", "sage_open_webui-backup-%s.tar.gz" % _version()))
    with open(os.path.join(broken, "_build", "bindep.txt"), "a", encoding="utf-8") as f:
        f.write("gcc\n")
    assert len(problems(broken)) == 2, problems(broken)


def _names(path):
    """Requirement names of a pip or bindep file (first word of each line that is not a comment)."""
    return sorted(re.split(r"[<>=\[ ]", line, 1)[0] for line in _read(path).splitlines() if line.strip() and not line.startswith("#"))


def test_the_build_introspection_keeps_every_requirement(context, tmp_path):
    """The image build runs the context's introspect.py on the installed collections plus these files; this
    collection's own copies are excluded (the same files), the user's come through whole."""
    build = os.path.join(context, "_build")
    (tmp_path / "ansible_collections").mkdir()
    pip, bindep = str(tmp_path / "pip.txt"), str(tmp_path / "bindep.txt")
    subprocess.run([sys.executable, os.path.join(build, "scripts", "introspect.py"), "introspect", str(tmp_path),
                    "--user-pip", os.path.join(build, "requirements.txt"), "--user-bindep", os.path.join(build, "bindep.txt"),
                    "--exclude-collection-reqs", os.path.join(build, "exclude-collections.txt"),
                    "--write-pip", pip, "--write-bindep", bindep], check=True, capture_output=True)
    assert _names(pip) == _names(os.path.join(ROOT, "requirements.txt")) == ["boto3", "botocore", "docker", "jmespath"]
    assert _names(bindep) == _names(os.path.join(ROOT, "bindep.txt"))
    assert _read(os.path.join(build, "exclude-collections.txt")).split() == ["sage_open_webui.backup"]


def _packages(*profiles):
    return sorted(rule[0] for rule in Depends(_read(os.path.join(ROOT, "bindep.txt"))).active_rules(list(profiles)))


@pytest.mark.parametrize("profiles, expected", [
    # the execution environment: dnf installs the default profile, then the "epel" entries from EPEL
    (("default", "platform:rpm", "platform:centos"), ["openssh-clients", "rsync"]),
    (("epel", "platform:rpm", "platform:centos"), ["age", "apprise", "openssh-clients", "rclone", "rsync"]),
    # a Debian controller, and a managed host (python libraries as packages, as the install role installs them)
    (("default", "platform:dpkg", "platform:debian"), ["age", "apprise", "openssh-client", "rclone", "rsync"]),
    (("host", "platform:dpkg", "platform:debian"), ["age", "apprise", "openssh-client", "python3", "python3-boto3",
                                                    "python3-botocore", "python3-docker", "rclone", "rsync"]),
])
def test_bindep_names_the_packages_of_each_platform(profiles, expected):
    assert _packages(*profiles) == expected


def test_bindep_host_profile_is_requirements_txt():
    apt = re.findall(r"^[^#\s]\S*\s+#\s*apt:\s*(\S+)", _read(os.path.join(ROOT, "requirements.txt")), re.M)
    host = set(_packages("host", "platform:dpkg")) - set(_packages("default", "platform:dpkg"))
    assert sorted(host) == sorted(["python3"] + apt)
