# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The drill's scratch directory (only ours, never through a link) and the network its boot check uses
(never the host's). The drill on the real fixture is in test_restore.py; a real boot in
tests/integration/test_restore_real.py."""

from __future__ import annotations

import os
import stat
import types

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _drill
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils import test_restore_switch as switch_tests

FakeDocker = switch_tests.FakeDocker
env = switch_tests.env  # the fixture: a small data directory and its snapshot


def _drill_job(env, scratch, **kw):
    return dict({"repository": env["repo"], "host": "h1", "instance": "owui", "scratch": scratch, "boot": "never"}, **kw)


def drill(job, docker=None):
    return _drill.drill(docker=docker, **job)


def test_scratch_through_a_link_is_refused(env, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "scratch"
    link.symlink_to(elsewhere)
    with pytest.raises(BackupError, match="scratch .* is a link"):
        drill(_drill_job(env, str(link), keep=True))
    assert os.listdir(str(elsewhere)) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_scratch_of_another_user_is_refused(env, tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir(mode=0o777)
    os.chown(str(scratch), 65534, 65534)
    with pytest.raises(BackupError, match="belongs to uid 65534"):
        drill(_drill_job(env, str(scratch), keep=True))
    assert os.listdir(str(scratch)) == []


def test_scratch_is_made_private(env, tmp_path):
    made = tmp_path / "new-scratch"
    res = drill(_drill_job(env, str(made)))
    assert res["ok"], res["problems"]
    assert stat.S_IMODE(os.lstat(str(made)).st_mode) == 0o700
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(str(loose), 0o755)
    res = drill(_drill_job(env, str(loose)))
    assert res["ok"] and stat.S_IMODE(os.lstat(str(loose)).st_mode) == 0o700


class SameFilesDocker(FakeDocker):
    """An engine on this machine: a file read inside the container's bind mount is the host's file."""

    def read_file(self, cid, path):
        binds = [c[1]["binds"] for c in self.log if c[0] == "create_host_config"][-1]
        for src, spec in binds.items():
            if path.startswith(spec["bind"] + "/"):
                with open(os.path.join(src, path[len(spec["bind"]) + 1:]), "rb") as f:
                    return f.read()
        return None


def test_boot_check_uses_a_loopback_port_not_the_hosts_network(env, tmp_path):
    docker = SameFilesDocker(env["data"], exited=True)  # the app exits at once: the boot check fails fast
    with pytest.raises(BackupError, match="exited with code 1"):
        drill(_drill_job(env, str(tmp_path / "s"), image="img:1", boot="always"), docker=docker)
    hc = [c[1] for c in docker.log if c[0] == "create_host_config"][0]
    assert hc.get("network_mode") in (None, "bridge")
    (port, binding), = hc["port_bindings"].items()
    assert binding[0] == "127.0.0.1"
    created = [c for c in docker.log if c[0] == "create_container"][0]
    assert created[2]["environment"]["HOST"] == "0.0.0.0" and int(created[2]["environment"]["PORT"]) == port
    assert ("remove_container", "p" * 64) in docker.log


def test_an_image_that_is_not_here_is_a_warning_or_with_boot_always_a_failure(env, tmp_path):
    absent = types.SimpleNamespace(has_image=lambda image: False)
    res = drill(_drill_job(env, str(tmp_path / "s"), boot="auto", image="img:absent"), docker=absent)
    assert res["ok"] and res["booted_image"] is None
    assert res["warnings"] == ["image img:absent is not on this host: the restored copy was not booted"]
    res = drill(_drill_job(env, str(tmp_path / "s"), boot="always", image="img:absent"), docker=absent)
    assert not res["ok"] and res["problems"] == ["image img:absent is not on this host"]


def test_no_boot_on_a_copy_the_engine_does_not_see(env, tmp_path):
    """A drill in a container (or a unit with a private /tmp) would boot the image on an empty directory the engine
    makes: it must fail, not pass."""
    docker = FakeDocker(env["data"])  # reads through the engine find nothing there
    with pytest.raises(BackupError, match="the drill container does not see the restored copy in .*h1-owui-"):
        drill(_drill_job(env, str(tmp_path / "s"), image="img:1", boot="always"), docker=docker)
    assert not [c for c in docker.log if c[0] == "api.start"]
    assert ("remove_container", "p" * 64) in docker.log and os.listdir(str(tmp_path / "s")) == []
