# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The freeze of a backup: pause/unpause or stop/start around the critical section, with the host-side
safety net armed for exactly the containers this run paused or stopped, and nothing else.

- ``MODES`` and ``effective_mode``: the one definition and the one check of a snapshot's ``mode``.
- ``Freezer``: a context manager. It holds ``_safety.hold(container)`` (no second run pauses or stops the
  same container meanwhile), arms the net, pauses the app, or stops the running dependents then the app,
  and on ``thaw()`` (or on an error) resumes what it paused or stopped: the app first, then the dependents.
  The net guards the frozen or stopped window only: it is disarmed as soon as ``start`` returned; waiting
  for the app to become healthy again is not its job.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import contextlib
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _docker
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety

MODES = ("hot", "pause", "cold")
START_SLACK_S = 30  # net deadline of a cold run: the copy (freeze_timeout) + every stop + this for the starts


def container_state(info):
    """``running``, ``paused``, ``exited``... of a container from its inspect data."""
    st = info.get("State") or {}
    return "paused" if st.get("Paused") else st.get("Status")


def effective_mode(mode, container, state):
    """The mode a run really uses: ``mode`` (None: ``pause`` with a container, else ``hot``) checked here
    only; ``offline`` for a container that is not running (it is backed up as it is and not started).
    A paused container is refused (a real run and check mode alike): only its owner may thaw it."""
    mode = mode or ("pause" if container else "hot")
    if mode not in MODES:
        raise BackupError("mode %r is not one of %s" % (mode, ", ".join(MODES)),
                          "use 'hot' (no interruption), 'pause' (freeze well under a second) or 'cold' (stop and start)")
    if mode == "hot":
        return mode
    if not container:
        raise BackupError("mode %r needs a container to %s" % (mode, "pause" if mode == "pause" else "stop"),
                          "name the Open WebUI container, or use mode 'hot' for a plain data directory")
    if state is None or state == "running":
        return mode
    if state == "paused":
        raise BackupError("container %s is paused" % container,
                          "unpause it (docker unpause %s) if nothing else froze it on purpose; a previous run may have "
                          "been killed, the safety net normally does this" % container)
    return "offline"


class Freezer(object):
    """pause/unpause or stop/start around the critical section. ``job`` is the normalized snapshot job (its
    timeouts, dependents and docker_host); ``source`` what ``resolve_source`` found."""

    def __init__(self, job, source, docker, clock, warnings):
        self.job = job
        self.source = source
        self.docker = docker
        self.clock = clock
        self.warnings = warnings
        self.net = None
        self.frozen_at = None
        self.freeze_ms = self.downtime_ms = self.stop_ms = self.start_ms = 0
        self.held = []           # what this run paused or stopped and did not resume yet, in resume order
        self._hold = None
        self.effective = effective_mode(job["mode"], source["container"], source["state"])
        if self.effective == "offline":
            warnings.append("container %s is %s: backed up as is, not started" % (source["container"], source["state"]))

    @property
    def app_stopped(self):
        return self.effective in ("cold", "offline")

    def __enter__(self):
        if self.effective not in ("pause", "cold"):
            return self
        cid = self.source["container_id"]
        self._hold = contextlib.ExitStack()
        self._hold.enter_context(_safety.hold(cid, timeout=self.job["lock_timeout"]))
        try:
            # decided again under the hold: the state seen before may have been another run's freeze
            self.effective = effective_mode(self.job["mode"], self.source["container"],
                                            container_state(self.docker.inspect(cid)))
            if self.effective == "offline":
                self.warnings.append("container %s stopped meanwhile: backed up as is, not started" % self.source["container"])
            elif self.effective == "pause":
                self._freeze_pause(cid)
            else:
                self._freeze_cold(cid)
        except BaseException:
            try:
                self._resume()
            except BackupError as e:  # the first error is the one to report; this one is kept as a warning
                self.warnings.append(str(e))
            finally:
                self._release()
            raise
        return self

    def _arm(self, containers, action, deadline):
        self.net = _safety.arm(containers, action, deadline, docker_socket=_docker.socket_path(self.job["docker_host"]))

    def _freeze_pause(self, cid):
        self._arm([cid], "unpause", self.job["freeze_timeout"])
        self.frozen_at = time.monotonic()
        self.held = [cid]   # a pause that failed half-way is undone too (unpause of a running one is a no-op)
        self._pause(cid)
        self.clock.note("paused %s" % self.source["container"])
        self._require_net("docker pause")

    def _freeze_cold(self, cid):
        running = [d for d in self.job["dependents"] if _docker.state_from_inspect(self.docker.inspect(d))["running"]]
        skipped = [d for d in self.job["dependents"] if d not in running]
        if skipped:
            self.warnings.append("dependent(s) %s not running: left as they are" % ", ".join(skipped))
        deadline = self.job["freeze_timeout"] + self.job["stop_timeout"] * (len(running) + 1) + START_SLACK_S
        self._arm([cid] + running, "start", deadline)
        self.frozen_at = time.monotonic()
        for name in running + [cid]:
            t = time.monotonic()
            self.held.insert(0, name)  # stopped or being stopped: started again, the app first
            self.docker.stop(name, timeout=self.job["stop_timeout"])
            if name == cid:
                self.stop_ms = int((time.monotonic() - t) * 1000)
        self.clock.note("stopped %s (app stop took %d ms)" % (", ".join(running + [self.source["container"]]), self.stop_ms))
        self._require_net("docker stop")

    def _require_net(self, what):
        """The critical section runs only while the safety net still watches: if the Docker call took longer
        than the net's deadline (an overloaded engine), the net has already acted."""
        if self.net.fired():
            raise BackupError(
                "%s of %s took longer than freeze_timeout (%ss); the safety net already resumed it, so the copy "
                "would not be consistent and nothing was published" % (what, self.source["container"], self.job["freeze_timeout"]),
                "the Docker engine was overloaded: run the backup again, raise freeze_timeout, or use mode 'cold'")

    def _pause(self, cid, attempts=3):
        """docker pause; the cgroup freezer can fail transiently under load ("unable to freeze"): retry."""
        for attempt in range(attempts):
            self.frozen_at = time.monotonic()  # the freeze (and its timing) starts with the pause call
            try:
                self.docker.pause(cid)
                return
            except BackupError as e:
                if "unable to freeze" not in str(e) or attempt == attempts - 1:
                    raise
                self.warnings.append("docker pause of %s failed (%s), retried" % (self.source["container"], e.problem))
                time.sleep(0.2 * (attempt + 1))

    def thaw(self):
        """Resume the app now (the critical section is over)."""
        try:
            self._resume()
        finally:
            self._release()

    def _resume(self):
        """Unpause or start what this run holds, disarm the net, then (cold) wait until the app serves."""
        if self.frozen_at is None:
            return
        errors = []
        verb = "unpause" if self.effective == "pause" else "start"
        for name in list(self.held):
            try:
                getattr(self.docker, verb)(name)
                self.held.remove(name)
            except Exception as e:  # noqa: BLE001 - reported below; the safety net stays armed for it
                errors.append("%s %s failed: %s" % (verb, name, e))
        t_resumed = time.monotonic()
        self.freeze_ms = int((t_resumed - self.frozen_at) * 1000)
        self.frozen_at = None
        self._disarm(errors)
        if self.effective == "pause":
            self.clock.note("resumed %s after %d ms" % (self.source["container"], self.freeze_ms))
            return
        self._wait_healthy(t_resumed)

    def _disarm(self, errors):
        net, self.net = self.net, None
        if errors:
            # leave the safety net armed: it retries at its deadline
            self.warnings.append("safety net left armed for %s: %s" % (self.source["container"], "; ".join(errors)))
            raise BackupError("could not bring %s back: %s" % (self.source["container"], "; ".join(errors)),
                              "check `docker ps -a`; the safety net will try again at its deadline")
        if net.disarm().get("fired"):
            raise BackupError(
                "the freeze of %s outlived freeze_timeout (%ss): the safety net resumed the app before "
                "the consistent copy was complete, so nothing was published" % (self.source["container"], self.job["freeze_timeout"]),
                "run the backup again (the Docker engine or the disk was overloaded), raise freeze_timeout, or use mode 'cold'")

    def _wait_healthy(self, t_started):
        """After a cold copy: the data is complete, so a slow or failed start is a warning, not a failure."""
        try:
            self.docker.wait_healthy(self.source["container_id"], timeout=self.job["health_timeout"])
        except BackupError as e:
            self.warnings.append("%s was started again but is not serving: %s" % (self.source["container"], e))
        self.start_ms = int((time.monotonic() - t_started) * 1000)
        self.downtime_ms = self.freeze_ms = self.freeze_ms + self.start_ms  # stopped: the app is down until it serves
        self.clock.note("started %s, healthy after %d ms (downtime %d ms)" % (self.source["container"], self.start_ms, self.downtime_ms))

    def _release(self):
        if self._hold is not None:
            self._hold.close()
            self._hold = None

    def __exit__(self, exc_type, exc, tb):
        try:
            self._resume()
        except BackupError:
            if exc_type is None:
                raise
        finally:
            self._release()
        return False
