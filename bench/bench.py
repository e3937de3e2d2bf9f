# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""sage_open_webui.backup benchmarks: the engine side by side with the tools users pick today.

Run through ``bench/run`` (installs the tools, starts Docker, builds the sample app image), not directly.

Every measured operation runs as a child process (the engine too, through engine_call.py), timed with
time.monotonic() around the whole process; written bytes and CPU come from that child's rusage (os.wait4:
ru_oublock * 512 = bytes the process and its waited-for children wrote to the filesystem). The page cache is
dropped (``sync; echo 3 > /proc/sys/vm/drop_caches``) before every measured operation when the kernel allows it;
otherwise every operation starts with the data set read once (warm) — the report says which.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import engine_call  # noqa: E402  (puts the collection on sys.path)
import gen  # noqa: E402

PY = os.environ.get("BENCH_PYTHON", "/usr/bin/python3")   # runs the engine children
FIXTURE = os.path.join(ROOT, "tests", "fixtures", "openwebui-0.12.4", "data.tar.gz")
IMAGE = os.environ.get("BENCH_IMAGE", "local/owb-sampleapp:latest")
CONTAINER = os.environ.get("BENCH_CONTAINER", "owb-bench-app")
VOLUME = os.environ.get("BENCH_VOLUME", "owb-bench-data")
PORT = int(os.environ.get("BENCH_PORT", "18631"))
HOST = "bench"
INSTANCE = "owb"
RESTIC_PASSWORD = "bench-only-not-a-secret"
ENGINE_ALL = "engine (pause, all files)"
ENGINE_DEFAULT = "engine (pause, default excludes)"
SECTIONS = ("snapshot", "sqlite", "freeze", "latency", "restore", "offhost")


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = (len(v) - 1) * p / 100.0
    f = int(k)
    c = min(f + 1, len(v) - 1)
    return v[f] + (v[c] - v[f]) * (k - f)


def code_id():
    """Which engine code was measured: git HEAD, whether module_utils has uncommitted edits, and a hash of it."""
    import hashlib
    h = hashlib.sha256()
    mu = os.path.join(ROOT, "plugins", "module_utils")
    for n in sorted(os.listdir(mu)):
        if n.endswith(".py"):
            with open(os.path.join(mu, n), "rb") as f:
                h.update(n.encode() + b"\0" + f.read())
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "plugins/module_utils"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True).stdout.strip()
    return {"head": head, "dirty": bool(dirty), "module_utils_sha256": h.hexdigest()[:12]}


class Bench(object):
    def __init__(self, args):
        self.args = args
        self.size = args.size
        self.work = os.path.abspath(args.work)
        self.res = {"size": args.size, "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "sections": {}, "notes": []}
        self.docker = None
        self.data_dir = None
        self.cache_mode = None
        self.loads = []

    # ------------------------------------------------------------------ plumbing
    def drop_caches(self):
        """Put every measured operation in the same page-cache state."""
        if self.cache_mode == "cold":
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        elif self.cache_mode == "warm":
            os.sync()
            subprocess.run(["sh", "-c", "find %s -type f -print0 | xargs -0 cat > /dev/null" % self.data_dir], check=False)

    def check_cache_mode(self):
        try:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
            self.cache_mode = "cold"
        except OSError as e:
            self.cache_mode = "warm"
            self.res["notes"].append("drop_caches not permitted (%s): every operation ran with the data set warm in the page cache" % e)
        self.res["cache_mode"] = self.cache_mode

    def run(self, cmd, env=None, timeout=None, cold=True, shell=False):
        """Run one measured child process. Returns seconds, rc, written bytes, CPU seconds, output tail."""
        if cold:
            self.drop_caches()
        e = dict(os.environ)
        for k, v in (env or {}).items():   # None: unset
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        out = tempfile.TemporaryFile()
        err = tempfile.TemporaryFile()
        load1 = loadavg()
        self.loads.append(load1)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=e, shell=shell, start_new_session=True)
        timed_out = False
        deadline = None if timeout is None else t0 + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.monotonic() > deadline:
                timed_out = True
                os.killpg(p.pid, signal.SIGKILL)
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.005)
        secs = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        o = out.read().decode(errors="replace")
        er = err.read().decode(errors="replace")
        r = {"seconds": round(secs, 3), "rc": p.returncode, "written": ru.ru_oublock * 512, "load1": load1,
             "cpu": round(ru.ru_utime + ru.ru_stime, 2), "timed_out": timed_out}
        if p.returncode != 0 or timed_out:
            r["stderr"] = er[-800:]
            log("  !! %s rc=%s%s: %s" % (cmd if isinstance(cmd, str) else " ".join(cmd[:3]), p.returncode,
                                          " (timed out)" if timed_out else "", er[-300:].strip()))
        r["_stdout"] = o
        return r

    def engine(self, kind, arg, cold=True, timeout=900):
        w0 = time.time()
        r = self.run([PY, os.path.join(HERE, "engine_call.py"), kind, json.dumps(arg)], cold=cold, timeout=timeout)
        r["wall"] = (w0, time.time())
        try:
            doc = json.loads(r.pop("_stdout").strip().splitlines()[-1])
        except (ValueError, IndexError):
            doc = {"ok": False, "error": "no JSON from engine_call (rc %s): %s" % (r["rc"], r.get("stderr", ""))}
        r["ok"] = bool(doc.get("ok"))
        r["engine"] = doc.get("result")
        if not r["ok"]:
            r["error"] = doc.get("error")
            r["missing"] = doc.get("missing", False)
            log("  !! engine %s failed: %s" % (kind, r["error"]))
        return r

    def engine_pause(self, arg, cold=True):
        """A pause-mode snapshot; when Docker cannot freeze the container (OCI "unable to freeze", seen under heavy
        I/O), record the failure and try again (up to 2 more times): the failures are reported, not hidden."""
        fails = []
        for _ in range(3):
            r = self.engine("snapshot", arg, cold=cold)
            if r["ok"] or "pause" not in (r.get("error") or ""):
                break
            fails.append({"error": r["error"][:300], "seconds": r["seconds"]})
            time.sleep(2)
        r["pause_failures"] = fails
        self.res.setdefault("pause_failures", []).extend(fails)
        return r

    def tool(self, cmd, **kw):
        r = self.run(cmd, **kw)
        r.pop("_stdout", None)
        return r

    def rm(self, *paths):
        for p in paths:
            if os.path.isdir(p) and not os.path.islink(p):
                shutil.rmtree(p, ignore_errors=True)
            elif os.path.lexists(p):
                os.unlink(p)

    # ------------------------------------------------------------------ docker / data set
    def dockerc(self):
        if self.docker is None:
            from ansible_collections.sage_open_webui.backup.plugins.module_utils._docker import DockerClient
            self.docker = DockerClient()
        return self.docker

    def sh(self, *cmd, check=True):
        return subprocess.run(list(cmd), check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def teardown(self):
        self.sh("docker", "rm", "-f", CONTAINER, check=False)
        self.sh("docker", "volume", "rm", "-f", VOLUME, check=False)

    def setup_data(self):
        self.teardown()
        self.sh("docker", "volume", "create", VOLUME)
        mp = json.loads(self.sh("docker", "volume", "inspect", VOLUME).stdout)[0]["Mountpoint"]
        self.data_dir = mp
        log("generating the %s data set in %s" % (self.size, mp))
        g = gen.generate(mp, self.size, FIXTURE, log=log)
        self.res["generation"] = g
        log("generated in %.1f s" % g["seconds"])
        self.sh("docker", "run", "-d", "--name", CONTAINER, "--network", "host", "-e", "PORT=%d" % PORT,
                "-v", "%s:/app/backend/data" % VOLUME, IMAGE)
        d = self.dockerc()
        d.wait_healthy(CONTAINER, timeout=120)
        self.res["app"] = {"image": IMAGE, "container": CONTAINER, "writer": self.writer_state()}
        time.sleep(2)
        self.res["dataset"] = gen.describe(mp)
        self.res["dataset"]["webui.db-wal"] = {"bytes": os.path.getsize(os.path.join(mp, "webui.db-wal"))
                                               if os.path.exists(os.path.join(mp, "webui.db-wal")) else 0}

    def writer_state(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/writer" % PORT, timeout=2) as r:
                return json.load(r)
        except Exception as e:  # noqa: BLE001
            return {"error": str(e)}

    def app_gap(self, t0, t1):
        """App-observed stall: the longest gap (ms) between consecutive commits of the sample app's writer
        (chat JSON "timestamp", ms, taken by the app itself) within [t0, t1] wall-clock seconds."""
        import sqlite3
        try:
            conn = sqlite3.connect(os.path.join(self.data_dir, "webui.db"), timeout=10)
            try:
                rows = conn.execute(
                    "SELECT json_extract(chat, '$.timestamp') FROM (SELECT id, chat FROM chat ORDER BY rowid DESC LIMIT 20000)"
                    " WHERE id LIKE 'writer-%'").fetchall()
            finally:
                conn.close()
        except sqlite3.Error as e:
            return {"error": str(e)}
        # from the last commit before the window (a stop can come right at t0) to the last one inside it
        before = [r[0] for r in rows if r[0] is not None and r[0] < t0 * 1000]
        ts = sorted(r[0] for r in rows if r[0] is not None and t0 * 1000 <= r[0] <= t1 * 1000)
        if before:
            ts.insert(0, max(before))
        if len(ts) < 2:
            return {"commits": len(ts), "max_gap_ms": None}
        gaps = [b - a for a, b in zip(ts, ts[1:])]
        return {"commits": len(ts), "max_gap_ms": max(gaps), "median_gap_ms": statistics.median(gaps)}

    def db_sizes(self):
        """Bytes of the two databases now (webui.db + its -wal, chroma.sqlite3)."""
        n = 0
        for rel in ("webui.db", "webui.db-wal", "vector_db/chroma.sqlite3"):
            p = os.path.join(self.data_dir, rel)
            if os.path.exists(p):
                n += os.path.getsize(p)
        return n

    def job(self, repo, mode, **kw):
        j = {"container": CONTAINER, "repository": repo, "host": HOST, "instance": INSTANCE, "mode": mode}
        j.update(kw)
        return j

    # ------------------------------------------------------------------ machine
    def machine(self):
        m = {}
        with open("/proc/cpuinfo") as f:
            txt = f.read()
        mm = re.search(r"model name\s*:\s*(.+)", txt)
        m["cpu"] = mm.group(1).strip() if mm else platform.processor()
        m["cores"] = os.cpu_count()
        with open("/proc/meminfo") as f:
            m["mem_gib"] = round(int(re.search(r"MemTotal:\s+(\d+)", f.read()).group(1)) / 1024 / 1024, 1)
        m["kernel"] = platform.release()
        try:
            with open("/etc/os-release") as f:
                m["os"] = re.search(r'PRETTY_NAME="([^"]+)"', f.read()).group(1)
        except (OSError, AttributeError):
            m["os"] = "?"
        m["python"] = platform.python_version()
        m["fs"] = self.sh("sh", "-c", "df -T %s | tail -1 | awk '{print $2\" on \"$1}'" % self.work).stdout.strip()
        m["same_fs"] = os.stat(self.work).st_dev == os.stat(self.data_dir).st_dev
        # measured disk throughput: 1 GB sequential write (fdatasync) and read back with a cold cache
        p = os.path.join(self.work, "dd.tmp")
        w = self.tool(["dd", "if=/dev/zero", "of=" + p, "bs=4M", "count=250", "conv=fdatasync"], cold=False)
        r = self.tool(["dd", "if=" + p, "of=/dev/null", "bs=4M"], cold=True)
        self.rm(p)
        m["disk_write_mb_s"] = round(1048.576 / w["seconds"], 0)
        m["disk_read_mb_s"] = round(1048.576 / r["seconds"], 0)
        vers = {}
        for name, cmd in (("docker engine", ["docker", "version", "-f", "{{.Server.Version}}"]), ("rsync", ["rsync", "--version"]),
                          ("rclone", ["rclone", "version"]), ("restic", ["restic", "version"]), ("sqlite3", ["sqlite3", "--version"]),
                          ("tar", ["tar", "--version"]), ("gzip", ["gzip", "--version"]), ("cp", ["cp", "--version"])):
            try:
                vers[name] = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout.splitlines()[0].strip()
            except (OSError, IndexError):
                vers[name] = "missing"
        m["tools"] = vers
        self.res["machine"] = m

    # ------------------------------------------------------------------ sections
    def sec_snapshot(self):
        """First and no-change snapshots: engine (pause) vs cp -a, rsync -a, rsync --link-dest, rclone sync, restic."""
        D = self.data_dir
        W = os.path.join(self.work, "snap")
        os.makedirs(W, exist_ok=True)
        rows = []

        def add(tool, phase, r, **extra):
            row = {"tool": tool, "phase": phase, "seconds": r["seconds"], "written": r["written"], "cpu": r["cpu"],
                   "rc": r["rc"], "load1": r.get("load1")}
            if r.get("stderr"):
                row["stderr"] = r["stderr"][-400:]
            row.update(extra)
            rows.append(row)
            log("  %-28s %-9s %7.2f s  written %s" % (tool, phase, r["seconds"], gen.human(r["written"])))
            return row

        def snap(label, repo, phase, **kw):
            dbs = self.db_sizes()
            r = self.engine_pause(self.job(repo, "pause", **kw))
            e = r.get("engine") or {}
            return add(label, phase, r, ok=r["ok"], error=r.get("error"), totals=e.get("totals"), timing_ms=e.get("timing_ms"),
                       db_bytes=dbs, warnings=e.get("warnings", []), events=e.get("events"), app_gap=self.app_gap(*r["wall"]))

        # The acceptance pair, interleaved and repeated: engine with every file (exclude: [], the same bytes cp -a
        # copies) vs cp -a. The repository of the last repetition is kept for the no-change runs and later sections.
        repo = os.path.join(self.work, "engine-repo")
        self.engine_repo = repo
        for i in range(self.args.repeat_first):
            self.rm(repo)
            snap(ENGINE_ALL, repo, "first", exclude=[])
            add("cp -a", "first", self.tool(["cp", "-a", D, os.path.join(W, "cp1")]))
            self.rm(os.path.join(W, "cp1"))
        for i in range(self.args.repeat_first):
            snap(ENGINE_ALL, repo, "no-change", exclude=[])
        # cp -a has no incremental mode: its second run is another full copy
        add("cp -a", "no-change", self.tool(["cp", "-a", D, os.path.join(W, "cp2")]))
        self.rm(os.path.join(W, "cp2"))
        # durable copy: the engine syncs its snapshot before publishing (syncfs); cp -a alone leaves dirty pages
        add("cp -a; sync -f", "first", self.tool("cp -a %s %s && sync -f %s" % (D, os.path.join(W, "cps"), os.path.join(W, "cps")), shell=True))
        self.rm(os.path.join(W, "cps"))
        # the engine's defaults: re-downloadable model caches (cache/embedding/models, whisper, tiktoken) excluded
        repo_d = os.path.join(self.work, "engine-repo-default")
        self.rm(repo_d)
        snap(ENGINE_DEFAULT, repo_d, "first")
        snap(ENGINE_DEFAULT, repo_d, "no-change")
        self.rm(repo_d)
        # rsync -a (first also serves as the --link-dest base), then --link-dest into a new dir, then in place
        r1 = self.tool(["rsync", "-a", D + "/", os.path.join(W, "rs1") + "/"])
        add("rsync -a", "first", r1)
        add("rsync -a --link-dest", "first", r1, note="same run as rsync -a first (nothing to link against yet)")
        add("rsync -a --link-dest", "no-change", self.tool(["rsync", "-a", "--link-dest=" + os.path.join(W, "rs1"), D + "/", os.path.join(W, "rs2") + "/"]))
        add("rsync -a", "no-change", self.tool(["rsync", "-a", D + "/", os.path.join(W, "rs1") + "/"]))
        self.rm(os.path.join(W, "rs1"), os.path.join(W, "rs2"))
        # rclone sync to a local directory
        rc_env = {"RCLONE_CONFIG": "/dev/null"}
        for phase in ("first", "no-change"):
            add("rclone sync", phase, self.tool(["rclone", "sync", "--local-no-check-updated", D, os.path.join(W, "rclone")], env=rc_env))
        self.rm(os.path.join(W, "rclone"))
        # restic (repository init not timed)
        renv = {"RESTIC_PASSWORD": RESTIC_PASSWORD, "RESTIC_REPOSITORY": os.path.join(W, "restic"),
                "RESTIC_CACHE_DIR": os.path.join(W, "restic-cache")}
        self.tool(["restic", "init"], env=renv, cold=False)
        for phase in ("first", "no-change"):
            add("restic backup", phase, self.tool(["restic", "backup", "--host", HOST, D], env=renv))
        self.rm(os.path.join(W, "restic"), os.path.join(W, "restic-cache"))
        self.res["sections"]["snapshot"] = {"rows": rows}

    def sec_sqlite(self):
        src = os.path.join(self.data_dir, "webui.db")
        W = os.path.join(self.work, "sqlite")
        os.makedirs(W, exist_ok=True)
        rows = []
        size = os.path.getsize(src)
        for label, kind, arg in (
                ("engine backup_api", "engine", "backup_api"),
                ("engine vacuum_into", "engine", "vacuum_into"),
                ("sqlite3 .backup", "cli", ".backup"),
                ("sqlite3 VACUUM INTO", "cli", "vacuum")):
            dest = os.path.join(W, "copy.db")
            self.rm(dest)
            if kind == "engine":
                r = self.engine("sqlite", {"src": src, "dest": dest, "method": arg})
                e = r.get("engine") or {}
                extra = {"ok": r["ok"], "error": r.get("error"), "copy_ms": e.get("copy_ms"), "duration_ms": e.get("duration_ms"),
                         "integrity": e.get("integrity")}
            else:
                if arg == ".backup":
                    cmd = ["sqlite3", src, ".timeout 5000", ".backup '%s'" % dest]
                else:
                    cmd = ["sqlite3", src, ".timeout 5000", "VACUUM INTO '%s'" % dest]
                r = self.tool(cmd, timeout=self.args.cli_timeout)
                extra = {"ok": r["rc"] == 0 and not r["timed_out"], "timed_out": r["timed_out"]}
                if extra["ok"]:
                    chk = subprocess.run(["sqlite3", dest, "PRAGMA quick_check"], stdout=subprocess.PIPE, text=True).stdout.strip()
                    extra["integrity"] = chk
            row = {"tool": label, "seconds": r["seconds"], "written": r["written"], "cpu": r["cpu"], "db_bytes": size}
            row.update(extra)
            rows.append(row)
            log("  %-22s %7.2f s  ok=%s written %s" % (label, r["seconds"], row.get("ok"), gen.human(r["written"])))
            self.rm(dest, dest + "-wal", dest + "-shm")
        self.res["sections"]["sqlite"] = {"rows": rows, "db_bytes": size,
                                          "note": "webui.db live: the sample app commits a chat every 50 ms during every copy"}

    def restart_app(self):
        """The app's own stop + start (same Docker calls and health criterion the engine uses)."""
        d = self.dockerc()
        w0 = time.time()
        t = time.monotonic()
        d.stop(CONTAINER, timeout=10)
        stop_s = time.monotonic() - t
        t2 = time.monotonic()
        d.start(CONTAINER)
        d.wait_healthy(CONTAINER, timeout=180)
        start_s = time.monotonic() - t2
        time.sleep(0.5)
        return {"stop": round(stop_s, 3), "start": round(start_s, 3), "total": round(stop_s + start_s, 3),
                "app_gap": self.app_gap(w0, time.time())}

    def stopped_copy(self, label, cmd, shell=False, timeout=None):
        """docker stop; <cmd>; docker start; wait healthy — the downtime is all of it."""
        d = self.dockerc()
        w0 = time.time()
        t = time.monotonic()
        d.stop(CONTAINER, timeout=10)
        stop_s = time.monotonic() - t
        r = self.tool(cmd, cold=False, shell=shell, timeout=timeout)
        t2 = time.monotonic()
        d.start(CONTAINER)
        d.wait_healthy(CONTAINER, timeout=180)
        start_s = time.monotonic() - t2
        down = time.monotonic() - t
        row = {"tool": label, "downtime": round(down, 3), "app_stop": round(stop_s, 3), "app_start": round(start_s, 3),
               "copy": r["seconds"], "written": r["written"], "rc": r["rc"],
               "extra": round(down - stop_s - start_s, 3), "timed_out": r["timed_out"], "load1": r["load1"]}
        time.sleep(0.5)
        row["app_gap"] = self.app_gap(w0, time.time())
        log("  %-34s downtime %6.2f s (stop %.2f, copy %.2f, start %.2f)" % (label, down, stop_s, r["seconds"], start_s))
        return row

    def sec_freeze(self):
        D = self.data_dir
        W = os.path.join(self.work, "freeze")
        os.makedirs(W, exist_ok=True)
        repo = getattr(self, "engine_repo", None) or os.path.join(self.work, "engine-repo")
        out = {"restart": [], "pause": [], "cold": [], "stopped": []}
        w0 = time.time()
        time.sleep(5)
        out["quiet_gap"] = self.app_gap(w0, time.time())
        log("  app writer, no backup: max commit gap %s ms over 5 s" % out["quiet_gap"].get("max_gap_ms"))
        for _ in range(self.args.repeat_restart):
            rr = self.restart_app()
            out["restart"].append(rr)
            log("  app stop+start: stop %.2f s, start->healthy %.2f s" % (rr["stop"], rr["start"]))
        for _ in range(self.args.repeat_pause):
            r = self.engine_pause(self.job(repo, "pause"), cold=False)
            e = r.get("engine") or {}
            tm = e.get("timing_ms") or {}
            gap = self.app_gap(*r["wall"])
            out["pause"].append({"ok": r["ok"], "error": r.get("error"), "seconds": r["seconds"], "timing_ms": tm, "totals": e.get("totals"),
                                 "events": e.get("events"), "load1": r["load1"], "app_gap": gap})
            log("  engine pause: freeze %s ms, app-observed max commit gap %s ms, total %.2f s" % (tm.get("freeze"), gap.get("max_gap_ms"), r["seconds"]))
        for _ in range(self.args.repeat_cold):
            r = self.engine("snapshot", self.job(repo, "cold"), cold=False)
            e = r.get("engine") or {}
            tm = e.get("timing_ms") or {}
            row = {"ok": r["ok"], "error": r.get("error"), "seconds": r["seconds"], "timing_ms": tm, "events": e.get("events"),
                   "load1": r["load1"], "app_gap": self.app_gap(*r["wall"])}
            if tm:
                row["extra"] = (tm["downtime"] - tm["app_stop"] - tm["app_start"]) / 1000.0
            out["cold"].append(row)
            log("  engine cold: downtime %s ms (stop %s, start %s)" % (tm.get("downtime"), tm.get("app_stop"), tm.get("app_start")))
        if self.args.engine_only:
            self.res["sections"]["freeze"] = out
            return
        g = os.path.join(W, "guide")
        out["stopped"].append(self.stopped_copy("guide: stop; rsync -a (full); start", ["rsync", "-a", D + "/", g + "/"]))
        out["stopped"].append(self.stopped_copy("guide: stop; rsync -a (incremental); start", ["rsync", "-a", D + "/", g + "/"]))
        self.rm(g)
        out["stopped"].append(self.stopped_copy("stop; cp -a; start", ["cp", "-a", D, os.path.join(W, "cpa")]))
        self.rm(os.path.join(W, "cpa"))
        out["stopped"].append(self.stopped_copy("stop; tar czf; start", ["tar", "-czf", os.path.join(W, "owb.tar.gz"), "-C", D, "."],
                                                timeout=self.args.tar_timeout))
        out["tar_gz_bytes"] = os.path.getsize(os.path.join(W, "owb.tar.gz")) if os.path.exists(os.path.join(W, "owb.tar.gz")) else None
        self.rm(os.path.join(W, "owb.tar.gz"))
        self.res["sections"]["freeze"] = out

    def latency_phase(self, seconds=None, during=None):
        W = os.path.join(self.work, "lat")
        os.makedirs(W, exist_ok=True)
        stop = os.path.join(W, "stop")
        outp = os.path.join(W, "lat.json")
        self.rm(stop, outp)
        self.drop_caches()
        p = subprocess.Popen([PY, os.path.join(HERE, "latency_writer.py"), os.path.join(self.data_dir, "webui.db"),
                              str(self.args.lat_interval), stop, outp])
        time.sleep(1.0)
        extra = None
        if during is not None:
            extra = during()
            time.sleep(0.5)
        else:
            time.sleep(seconds)
        open(stop, "w").close()
        p.wait(timeout=60)
        with open(outp) as f:
            d = json.load(f)
        lat = d["latencies_ms"]
        return {"n": len(lat), "errors": d["errors"], "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat) if lat else None,
                "mean": statistics.mean(lat) if lat else None}, extra

    def sec_latency(self):
        w0 = time.time()
        base, _ = self.latency_phase(seconds=self.args.lat_seconds)
        base["app_gap"] = self.app_gap(w0, time.time())
        log("  no backup:  n=%d p50 %.2f ms p99 %.2f ms max %.1f ms" % (base["n"], base["p50"], base["p99"], base["max"]))
        repo = os.path.join(self.work, "lat-repo")
        self.rm(repo)

        def during():
            return self.engine("snapshot", self.job(repo, "hot"), cold=False)

        hot, r = self.latency_phase(during=during)
        log("  hot backup: n=%d p50 %.2f ms p99 %.2f ms max %.1f ms (backup %.1f s, ok=%s)" % (
            hot["n"], hot["p50"], hot["p99"], hot["max"], r["seconds"], r["ok"]))
        self.rm(repo)
        self.res["sections"]["latency"] = {"interval_ms": self.args.lat_interval * 1000, "none": base, "hot": hot,
                                           "backup_seconds": r["seconds"], "backup_ok": r["ok"], "backup_error": r.get("error"),
                                           "backup_mode": (r.get("engine") or {}).get("mode")}

    def sec_restore(self):
        repo = getattr(self, "engine_repo", None) or os.path.join(self.work, "engine-repo")
        W = os.path.join(self.work, "restore")
        self.rm(W)
        os.makedirs(W)
        snaps = sorted(n for n in os.listdir(os.path.join(repo, HOST, INSTANCE)) if re.match(r"^\d{8}T\d{6}Z", n))
        snap = os.path.join(repo, HOST, INSTANCE, snaps[-1])
        rows = []
        r = self.tool(["cp", "-a", os.path.join(snap, "data"), os.path.join(W, "raw")])
        rows.append({"tool": "cp -a snapshot/data -> empty dir", "seconds": r["seconds"], "written": r["written"], "ok": r["rc"] == 0})
        log("  raw cp -a: %.2f s" % r["seconds"])
        self.rm(os.path.join(W, "raw"))
        # ---- RESTORE SLOT (plugins/module_utils/_restore.py): filled automatically when the module exists ----
        r = self.engine("restore", {"repository": repo, "host": HOST, "instance": INSTANCE, "snapshot": "latest",
                                    "data_dir": os.path.join(W, "engine"), "start": False, "alembic_check": "skip"})
        e = r.get("engine") or {}
        rows.append({"tool": "engine restore -> empty dir", "seconds": r["seconds"], "written": r["written"], "ok": r["ok"],
                     "missing": r.get("missing", False), "error": r.get("error"), "timing_ms": e.get("timing_ms")})
        log("  engine restore: %.2f s ok=%s %s" % (r["seconds"], r["ok"], r.get("error") or ""))
        self.rm(W)
        self.res["sections"]["restore"] = {"rows": rows, "snapshot": snaps[-1]}

    def sec_offhost(self):
        """Engine upload vs rclone copy --transfers 8 / rclone sync to one S3 endpoint on 127.0.0.1 (bench/offhost.py)."""
        import offhost
        repo = os.path.join(self.work, "offhost-repo")

        def snapshot(label):
            r = self.engine_pause(self.job(repo, "pause"), cold=False)
            if not r["ok"]:
                raise RuntimeError("snapshot %s for the off-host section failed: %s" % (label, r.get("error")))
            log("  snapshot %s: %s" % (label, r["engine"]["path"]))
            return r["engine"]["path"]

        started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        loads = len(self.loads)
        res = offhost.run(self, HOST, INSTANCE, self.data_dir, snapshot, self.args.repeat_offhost, log)
        res.update(started=started, load1=[min(self.loads[loads:]), max(self.loads[loads:])] if self.loads[loads:] else None)
        self.rm(repo)
        self.res["sections"]["offhost"] = res

    # ------------------------------------------------------------------ main
    def main(self):
        t0 = time.monotonic()
        os.makedirs(self.work, exist_ok=True)
        self.res["engine_code"] = {"start": code_id()}
        self.check_cache_mode()
        self.setup_data()
        self.machine()
        secs = [s for s in self.args.sections.split(",") if s]
        for s in secs:
            log("section %s" % s)
            ts = time.monotonic()
            c0 = code_id()
            getattr(self, "sec_" + s)()
            self.res["sections"][s]["section_seconds"] = round(time.monotonic() - ts, 1)
            self.res["sections"][s]["engine_code"] = {"start": c0, "end": code_id()}
        self.res["app"]["writer_end"] = self.writer_state()
        self.res["engine_code"]["end"] = code_id()
        self.res["app_gap_method"] = 2   # 2: the window includes the last commit before it
        self.res["wall_seconds"] = round(time.monotonic() - t0, 1)
        self.res["load1"] = {"min": min(self.loads), "median": statistics.median(self.loads), "max": max(self.loads)} if self.loads else None
        self.res["finished"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        if not self.args.keep:
            self.teardown()
            self.rm(self.work)
        return self.res


def merge_committed(res, path):
    """A run of some sections only replaces those sections of the committed run of its size (the rest of the
    report keeps its numbers); the sections it ran say when (``started`` of this run)."""
    if set(res["sections"]) >= set(SECTIONS) or not os.path.exists(path):
        return res
    with open(path) as f:
        old = json.load(f)
    for name, sec in res["sections"].items():
        sec.setdefault("started", res["started"])
        old["sections"][name] = sec
    old.setdefault("notes", []).append("section(s) %s re-run on %s (engine %s)" % (
        ", ".join(sorted(res["sections"])), res["started"], res["engine_code"]["end"]["head"][:10]))
    return old


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(gen.SIZES), default="reference")
    ap.add_argument("--sections", default=",".join(SECTIONS), help="comma list of %s" % ",".join(SECTIONS))
    ap.add_argument("--work", default=os.environ.get("BENCH_WORK", "/var/tmp/owb-bench"))
    ap.add_argument("--keep", action="store_true", help="keep the container, volume and work dir afterwards")
    ap.add_argument("--repeat-pause", type=int, default=3)
    ap.add_argument("--repeat-cold", type=int, default=2)
    ap.add_argument("--repeat-restart", type=int, default=2)
    ap.add_argument("--lat-interval", type=float, default=0.02)
    ap.add_argument("--lat-seconds", type=float, default=10.0)
    ap.add_argument("--cli-timeout", type=float, default=60.0, help="limit for sqlite3 .backup / VACUUM INTO")
    ap.add_argument("--tar-timeout", type=float, default=300.0, help="limit for the tar czf cold archive")
    ap.add_argument("--repeat-first", type=int, default=2, help="repetitions of the engine-first / cp -a pair")
    ap.add_argument("--repeat-offhost", type=int, default=2, help="repetitions of the first-upload quartet")
    ap.add_argument("--engine-only", action="store_true", help="freeze section: skip the stop-during-copy baselines")
    ap.add_argument("--doc", default=None, help="write the Markdown report here (default: docs/BENCHMARKS.md for "
                                                 "reference/large, bench/results/<size>.md for small)")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (drop_caches, docker volumes)")
    b = Bench(args)
    try:
        res = b.main()
    except BaseException:
        log("failed; leaving container %s and %s for inspection" % (CONTAINER, args.work))
        raise
    import report
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with open(os.path.join(HERE, "results", "%s-%s.json" % (args.size, stamp)), "w") as f:
        json.dump(res, f, indent=1)
    if args.size == "small" and not args.doc:
        doc = os.path.join(HERE, "results", "small.md")
    else:
        # committed raw numbers: bench/reports/<size>.json feeds docs/BENCHMARKS.md
        os.makedirs(os.path.join(HERE, "reports"), exist_ok=True)
        path = os.path.join(HERE, "reports", "%s.json" % args.size)
        res = merge_committed(res, path)
        with open(path, "w") as f:
            json.dump(res, f, indent=1)
        doc = args.doc or os.path.join(ROOT, "docs", "BENCHMARKS.md")
    report.write(doc, res)
    log("report: %s (wall %.0f s)" % (doc, res["wall_seconds"]))
    print("\nRatios (%s run; engine / baseline, lower is better)\n" % res["size"])
    print(report.ratio_summary(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
