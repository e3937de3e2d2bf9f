# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Unit tests of the safety-net watchdog, against a small fake Docker engine on a unix socket.

The watchdog really runs (a detached python3 process); only the Docker engine is replaced by a socket server
that records the requests and answers like Docker does. tests/integration/test_safety_docker.py does the same
against the real engine.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time

import pytest

from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import BackupError

from ansible_collections.sage_open_webui.backup.tests.unit.plugins.module_utils.fakes import FakeEngine

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


@pytest.fixture
def engine(tmp_path):
    e = FakeEngine(str(tmp_path / "docker.sock"))
    yield e
    e.close()


def test_disarm_leaves_the_container_alone(engine, tmp_path):
    net = _safety.arm("c1", "unpause", 30, docker_socket=engine.path, log_dir=str(tmp_path))
    assert net.pid > 0 and net.active
    res = net.disarm()
    assert res["disarmed"] and not res["fired"] and res["exit_code"] == 0
    time.sleep(0.2)
    assert engine.requests == []
    events = [r["event"] for r in _safety.read_log(net.log_path)]
    assert events == ["armed", "disarmed"]


def test_deadline_fires_unpause(engine, tmp_path):
    t0 = time.monotonic()
    net = _safety.arm("c2", "unpause", 0.4, docker_socket="unix://" + engine.path, log_dir=str(tmp_path))
    assert engine.wait_for(1, 5) == ["POST /containers/c2/unpause HTTP/1.1"]
    assert 0.35 <= engine.times[0] - t0 < 1.5
    res = net.disarm()
    assert res["fired"] and res["fired_ok"] and not res["disarmed"]
    rec = _safety.read_log(net.log_path)[-1]
    assert rec["event"] == "fired" and rec["reason"] == "deadline passed" and rec["status"] == 204


def test_start_action_and_304_is_success(tmp_path):
    e = FakeEngine(str(tmp_path / "d.sock"), status=304)
    try:
        net = _safety.arm("c3", "start", 0.2, docker_socket=e.path, log_dir=str(tmp_path))
        assert e.wait_for(1, 5) == ["POST /containers/c3/start HTTP/1.1"]
        assert net.disarm()["fired_ok"]
    finally:
        e.close()


def test_engine_20_10_not_paused_500_is_success(tmp_path):
    e = FakeEngine(str(tmp_path / "d.sock"), status=500, body=b'{"message":"Container c4 is not paused"}')
    try:
        net = _safety.arm("c4", "unpause", 0.2, docker_socket=e.path, log_dir=str(tmp_path))
        e.wait_for(1, 5)
        res = net.disarm()
        assert res["fired_ok"] and len(e.requests) == 1
    finally:
        e.close()


def test_start_resumes_every_container_in_the_given_order(engine, tmp_path):
    """B4: the net of a cold backup starts the app and each dependent the run stopped, app first."""
    net = _safety.arm(["app", "pipelines", "worker"], "start", 0.2, docker_socket=engine.path, log_dir=str(tmp_path))
    assert engine.wait_for(3, 5) == ["POST /containers/%s/start HTTP/1.1" % c for c in ("app", "pipelines", "worker")]
    assert net.disarm()["fired_ok"]
    assert [r.get("container") for r in _safety.read_log(net.log_path) if r["event"] == "fired"] == ["app", "pipelines", "worker"]


def test_disarm_during_a_fire_in_progress_reports_fired(tmp_path):
    """A disarm that comes while the watchdog is still inside fire() (slow engine) must not say "not fired":
    the caller would publish a copy taken while the app ran again."""
    e = FakeEngine(str(tmp_path / "slow.sock"), delay=2.0)
    try:
        net = _safety.arm("c12", "unpause", 0.2, docker_socket=e.path, log_dir=str(tmp_path))
        e.wait_for(1, 5)                    # the watchdog is waiting for the engine's answer
        assert net.fired()
        res = net.disarm(timeout=0.3)
        assert res["fired"] and not res["disarmed"]
    finally:
        e.close()


def test_hold_refuses_a_second_freeze_of_the_same_container(tmp_path, monkeypatch):
    monkeypatch.setattr(_safety, "LOCK_DIRS", (str(tmp_path),))
    with _safety.hold("c13"):
        with pytest.raises(BackupError) as err:
            with _safety.hold("c13", timeout=0.2):
                pass
        assert "another run is pausing or stopping container c13" in str(err.value)
        with _safety.hold("c14"):    # another container is not blocked
            pass
    with _safety.hold("c13"):        # released
        pass


def test_engine_down_is_retried_then_logged(tmp_path):
    sock = str(tmp_path / "late.sock")
    net = _safety.arm("c5", "unpause", 0.1, docker_socket=sock, log_dir=str(tmp_path))
    time.sleep(0.6)                       # the engine comes back while the watchdog retries
    e = FakeEngine(sock)
    try:
        assert e.wait_for(1, 8) == ["POST /containers/c5/unpause HTTP/1.1"]
        res = net.disarm(timeout=5)
        assert res["fired_ok"]
        assert _safety.read_log(net.log_path)[-1]["attempts"] > 1
    finally:
        e.close()


ARMER = r"""
import os, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
net = _safety.arm(sys.argv[2], "unpause", 60, docker_socket=sys.argv[3], log_dir=sys.argv[4])
print(net.pid, flush=True)
time.sleep(60)
"""


def _collection_path():
    import ansible_collections.sage_open_webui.backup as pkg   # noqa: F401  (on sys.path via tests/conftest.py)
    here = os.path.dirname(os.path.abspath(pkg.__path__[0]))
    return os.path.dirname(os.path.dirname(here))


@pytest.mark.parametrize("kill_group", [False, True])
def test_sigkill_of_the_arming_process_fires_within_a_second(engine, tmp_path, kill_group):
    proc = subprocess.Popen([sys.executable, "-c", ARMER, _collection_path(), "c6", engine.path, str(tmp_path)],
                            stdout=subprocess.PIPE, start_new_session=True)
    watchdog_pid = int(proc.stdout.readline())
    time.sleep(0.1)
    assert engine.requests == []
    t0 = time.monotonic()
    if kill_group:
        os.killpg(proc.pid, signal.SIGKILL)   # the whole process group of the arming process
    else:
        proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert engine.wait_for(1, 5) == ["POST /containers/c6/unpause HTTP/1.1"]
    assert engine.times[0] - t0 < 3.0   # at once, not at the 30 s deadline
    for dummy in range(100):                      # the watchdog exits after acting
        try:
            os.kill(watchdog_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    rec = _safety.read_log(_safety.log_path_for("c6", str(tmp_path)))[-1]
    assert rec["event"] == "fired" and "arming process" in rec["reason"]


def test_watchdog_is_detached_from_the_arming_session(engine, tmp_path):
    # an inheritable descriptor of the arming process (like the pipes an Ansible connection holds)
    # must not leak into the watchdog, or the caller would wait for the watchdog to exit
    marker = tmp_path / "inherited-marker"
    marker_fd = os.open(str(marker), os.O_WRONLY | os.O_CREAT, 0o600)
    os.set_inheritable(marker_fd, True)
    try:
        net = _safety.arm("c7", "unpause", 30, docker_socket=engine.path, log_dir=str(tmp_path),
                          wait_ready=True)
    finally:
        os.close(marker_fd)
    try:
        assert os.getsid(net.pid) == net.pid != os.getsid(0)
        assert os.getpgid(net.pid) != os.getpgid(0)
        for dummy in range(100):            # "ready" is written just before the ready pipe is closed
            targets = {}
            for fd in os.listdir("/proc/%d/fd" % net.pid):
                try:
                    targets[int(fd)] = os.readlink("/proc/%d/fd/%s" % (net.pid, fd))
                except FileNotFoundError:   # a descriptor closed while listing
                    pass
            if len([t for t in targets.values() if t.startswith("pipe:")]) <= 1:
                break
            time.sleep(0.02)
        for fd in (0, 1, 2):
            assert targets[fd] == "/dev/null"
        assert str(marker) not in targets.values()
        # after "ready" the watchdog holds only its end of the disarm pipe (plus, at most, a log or
        # Docker socket it has open for an instant); nothing else of the caller's
        others = sorted(t for fd, t in targets.items() if fd > 2)
        assert len([t for t in others if t.startswith("pipe:")]) == 1, others
        assert all(t.startswith(("pipe:", "socket:", str(tmp_path))) for t in others), others
    finally:
        net.disarm()


def test_arming_is_fast(engine, tmp_path):
    times, ready_times = [], []
    for i in range(7):
        t0 = time.monotonic()
        net = _safety.arm("fast%d" % i, "unpause", 30, docker_socket=engine.path, log_dir=str(tmp_path))
        times.append((time.monotonic() - t0) * 1000)
        net.wait_ready()
        ready_times.append((time.monotonic() - t0) * 1000)
        net.disarm()
    print("arm() ms: %s (median %.1f); until the watchdog loop runs: median %.1f ms"
          % (["%.1f" % t for t in times], statistics.median(times), statistics.median(ready_times)))
    # arm() does not wait for the watchdog's interpreter; the figure is printed, the bound only catches a
    # blocking arm() (bench/run measures the freeze arming is part of)
    assert statistics.median(times) < 250


def test_net_armed_just_before_the_arming_process_dies_still_fires(engine, tmp_path):
    """No waiting for the watchdog: an arming process that dies right after arm() is still caught."""
    code = ("import sys, os; sys.path.insert(0, sys.argv[1]);"
            "from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety;"
            "_safety.arm('c11', 'unpause', 60, docker_socket=sys.argv[2], log_dir=sys.argv[3]); os._exit(0)")
    subprocess.check_call([sys.executable, "-c", code, _collection_path(), engine.path, str(tmp_path)])
    assert engine.wait_for(1, 3) == ["POST /containers/c11/unpause HTTP/1.1"]


def test_context_manager_disarms(engine, tmp_path):
    with _safety.arm("c8", "unpause", 30, docker_socket=engine.path, log_dir=str(tmp_path)) as net:
        pid = net.pid
    assert net.result["disarmed"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.parametrize("args,text", [
    (("c", "stop", 10), "unknown safety net action"),
    (("", "unpause", 10), "needs a container id"),
    (("c", "unpause", 0), "deadline must be positive"),
])
def test_bad_arguments(args, text):
    with pytest.raises(BackupError) as err:
        _safety.arm(*args)
    assert text in str(err.value)


def test_tcp_docker_host_is_refused():
    with pytest.raises(BackupError) as err:
        _safety.arm("c", "unpause", 10, docker_socket="tcp://127.0.0.1:2375")
    assert "unix socket" in str(err.value)


def test_missing_interpreter_fails_before_anything_is_frozen(tmp_path):
    with pytest.raises(BackupError) as err:
        _safety.arm("c", "unpause", 10, docker_socket=str(tmp_path / "s"), python=str(tmp_path / "nopython"))
    assert "cannot start the safety-net watchdog" in str(err.value)


def test_wait_ready_detects_a_watchdog_that_never_runs(tmp_path):
    with pytest.raises(BackupError) as err:
        _safety.arm("c", "unpause", 10, docker_socket=str(tmp_path / "s"), python="/bin/false", wait_ready=True)
    assert "did not start" in str(err.value)


def test_wait_ready_and_ready_flag(engine, tmp_path):
    net = _safety.arm("c9", "unpause", 30, docker_socket=engine.path, log_dir=str(tmp_path), wait_ready=True)
    assert net.ready
    net2 = _safety.arm("c10", "unpause", 30, docker_socket=engine.path, log_dir=str(tmp_path))
    time.sleep(0.3)
    assert net.disarm()["ready"] and net2.disarm()["ready"]


def test_log_path_prefers_run_and_shortens_ids(tmp_path):
    assert _safety.log_path_for("a" * 64, str(tmp_path)) == str(tmp_path / ("owb-safety-" + "a" * 12 + ".log"))
    assert _safety.log_path_for("../../etc/x", str(tmp_path)).startswith(str(tmp_path) + "/owb-safety-")
