# -*- coding: utf-8 -*-
# Copyright (c) 2026, sage_open_webui.backup contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The restore job. Plain Python, no Ansible imports.

Flow of :func:`run` (nothing on the host changes before the new data is verified)::

    pick snapshot (latest | id | newest at or before a time) from a snapshot source   (_restore_source)
      -> check manifest paths, links and every file's sha256 (refused here: app untouched)
      -> read the target image's alembic migrations: a revision the image does not know is newer -> refuse  (_alembic)
      -> secret key plan (file into the container, or guidance when WEBUI_SECRET_KEY differs)
      -> copy into a staging directory on the data directory's filesystem, hashing every byte again  (_swap)
      -> the switch: stop the app (a safety net armed) -> rename the current entries into the rollback dir
         -> rename the staged ones in -> put the key file -> start -> wait healthy  (_restore_app for the app)
      -> not healthy: put the previous data and key back, start, wait healthy, fail loudly (the net still armed)

Check mode reads only: a shared lock (nothing created), no probe container, no work directory.
Ollama stores: :mod:`_ollama_restore`; the drill: :mod:`_drill`.

This is a private module of the sage_open_webui.backup collection.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import subprocess
import time

from ansible_collections.sage_open_webui.backup.plugins.module_utils._common import (
    DATA_DIR_IN_CONTAINER,
    SECRET_KEY_FILE_IN_CONTAINER,
    BackupError,
    human_bytes,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _common
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _files
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _manifest
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _safety
from ansible_collections.sage_open_webui.backup.plugins.module_utils import _swap
from ansible_collections.sage_open_webui.backup.plugins.module_utils._alembic import check_alembic
from ansible_collections.sage_open_webui.backup.plugins.module_utils._ollama_restore import OllamaOptions, restore_ollama
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_app import (
    App,
    create_container,
    docker_client,
    put_key,
    read_snapshot_key,
    remove_container,
)
from ansible_collections.sage_open_webui.backup.plugins.module_utils._restore_source import (
    check_snapshot_tree,
    open_source,
    pick,
    selected,
)

COMPONENTS = ("all", "database", "uploads", "vector_db", "ollama")  # ollama: never part of "all"
DEFAULT_PRESERVE = ["cache/embedding/models", "cache/whisper/models", "cache/tiktoken"]

DEFAULTS = {
    "repository": None,
    "source": "local",  # or the name of one of targets (an off-host copy, _store_read)
    "targets": [],
    "age_identity": None,
    "host": None,
    "instance": None,
    "snapshot": "latest",
    "before": None,
    "container": None,
    "data_dir": None,
    "volume": None,
    "image": None,
    "create_container": None,
    "components": ["all"],
    "secret_key": "auto",
    "alembic_check": "strict",
    "migrations_path": None,
    "preserve": list(DEFAULT_PRESERVE),
    "owner": None,
    "rollback_keep_hours": 72.0,
    "health_timeout": 240,
    "health_url": None,
    "stop_timeout": 30,
    "start": True,
    "pre_start_commands": [],
    "lock_timeout": 0.0,
    "docker_host": "unix:///var/run/docker.sock",
    "ollama_dir": None,
}


@dataclasses.dataclass
class Staged(object):
    """What the switch puts in place, all of it verified before the app is stopped."""

    sid: str
    snap_path: str
    data_dir: str
    work: dict  # staging, rollback, failed (paths of this restore), removed (old work dirs pruned)
    plan: dict  # _swap.plan_names: entries to move aside, to move in, to preserve
    key: object  # the snapshot's key (bytes) or None
    key_action: str  # put | none | guidance | skip


@dataclasses.dataclass
class NewContainer(object):
    """The container to create after the swap (a new host given ``image`` and ``container``)."""

    image: str
    name: str
    spec: dict
    mount_source: str


def only_names(components):
    """Top-level names the components replace, None for all."""
    return None if "all" in components else [n for c in components for n in _swap.COMPONENT_NAMES[c]]


def normalize(job):
    """The job with defaults filled in and every option checked (components split into data and ``ollama``)."""
    _common.check_known(job, DEFAULTS, "restore")
    j = dict(DEFAULTS, **{k: v for k, v in job.items() if v is not None})
    if not j["repository"]:
        raise BackupError("no repository given", "set repository to the absolute path of the snapshot repository")
    j["repository"] = os.path.abspath(j["repository"])
    comps = j["components"]
    if isinstance(comps, str):
        comps = [comps]
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or not comps:
        raise BackupError("unknown component(s) %s" % ", ".join(bad or ["(none)"]),
                          "use 'all' or any of database, uploads, vector_db (and ollama, for a snapshot that holds Ollama models)")
    # the Ollama store is restored on its own (into its volume), never as part of "all"
    j["ollama"] = "ollama" in comps
    data_comps = [c for c in comps if c != "ollama"]
    j["components"] = (["all"] if "all" in data_comps else sorted(set(data_comps)))
    if j["ollama_dir"] is not None and not os.path.isabs(j["ollama_dir"]):
        raise BackupError("ollama_dir %r is not an absolute path" % j["ollama_dir"], "give the absolute path of Ollama's model store")
    if j["components"] and not j["container"] and not j["data_dir"] and not j["volume"]:
        raise BackupError("no restore target given", "name the container (or the volume for a new host), or give data_dir")
    if not isinstance(j["source"], str) or not isinstance(j["targets"], list):
        raise BackupError("source must be 'local' or a target name, and targets a list", "give source: <target name> and targets: [...]")
    if j["age_identity"] is not None and not os.path.isabs(j["age_identity"]):
        raise BackupError("age_identity %r is not an absolute path" % j["age_identity"], "give the absolute path of the identity file")
    if j["host"] is None:
        j["host"] = _common.default_host()
    if j["instance"] is None:
        j["instance"] = j["container"] or j["volume"] or "open-webui"
    if j["secret_key"] not in ("auto", "skip"):
        raise BackupError("secret_key must be auto or skip, got %r" % j["secret_key"], "use auto or skip")
    if j["alembic_check"] not in ("strict", "warn", "skip"):
        raise BackupError("alembic_check must be strict, warn or skip", "use strict (default)")
    if j["owner"] is not None:
        try:
            uid, gid = str(j["owner"]).split(":")
            j["owner"] = (int(uid), int(gid))
        except ValueError:
            raise BackupError("owner %r is not uid:gid" % j["owner"], "give numeric ids such as 1000:1000")
    return j


def resolve_target(docker, container=None, volume=None, data_dir=None, image=None):
    """Where the data goes and which container runs it: ``{data_dir, container_id, container, image, env,
    mount, volume_created, running, image_requested?, volume?, volume_missing?}``."""
    t = {"data_dir": data_dir, "container_id": None, "container": container, "image": image,
         "env": {}, "mount": None, "volume_created": False, "running": False}
    if container and docker is not None:
        try:
            ins = docker.inspect(container)
        except BackupError:
            ins = None
            if not (volume or data_dir):
                raise
        if ins is not None:
            mount = docker.data_mount(ins)
            t.update({"container_id": ins["Id"], "container": ins.get("Name", "").lstrip("/"),
                      "image": (ins.get("Config") or {}).get("Image"), "env": docker.env(ins), "mount": mount,
                      "running": bool((ins.get("State") or {}).get("Running"))})
            if not t["data_dir"]:
                if mount["type"] in ("none", "tmpfs") or not mount["source"]:
                    raise BackupError("container %s has no volume or bind mount at %s" % (t["container"], DATA_DIR_IN_CONTAINER),
                                      "recreate it with -v open-webui:%s, then restore into that volume" % DATA_DIR_IN_CONTAINER)
                t["data_dir"] = mount["source"]
            if image and image != t["image"]:
                t["image_requested"] = image
    if not t["data_dir"] and volume:
        vol = docker.inspect_volume(volume)
        t["volume"] = volume
        t["data_dir"] = vol.get("Mountpoint") if vol else None
        t["volume_missing"] = vol is None
    if t["data_dir"] and not os.path.isabs(t["data_dir"]):
        raise BackupError("data_dir %r is not absolute" % t["data_dir"], "give an absolute path")
    return t


def prepare(source, snapshot, before, components, clock, warnings, deep=True, ollama=False):
    """Everything that happens before the host changes: pick, check, verify. Returns ``(sid, path, manifest,
    verify ms)``."""
    only = only_names(components)
    sid, snap_path, manifest = pick(source, snapshot, before, warnings, only=only, ollama=ollama)
    t = time.monotonic()
    problems = check_snapshot_tree(snap_path, manifest, only)
    # deep=False when the staging copy hashes every byte anyway (before the app is stopped)
    problems += _manifest.verify(snap_path, manifest, deep=deep, only=only)
    if only and "webui.db" in only and not any(selected(e["path"], ["webui.db"]) for e in manifest.get("files", [])):
        problems.append("missing: webui.db (not in the manifest)")
    if problems:
        more = " (+%d more)" % (len(problems) - 5) if len(problems) > 5 else ""
        raise BackupError("snapshot %s failed verification: %s%s" % (sid, "; ".join(problems[:5]), more),
                          "nothing was changed (the app was not stopped); restore another snapshot (snapshot_info lists them)",
                          snapshot_id=sid, problems=problems[:50])
    clock.note("snapshot %s verified (%d ms)" % (sid, clock.ms(t)))
    return sid, snap_path, manifest, clock.ms(t)


def plan_key(policy, target, snap_key, manifest, warnings, creating=False):
    """``{"action": put|none|guidance|skip, "message"}``; raises when the env key differs and would log everyone
    out. ``policy``: the secret_key option; ``creating``: a container is created after the swap."""
    if policy == "skip":
        return {"action": "skip", "message": "secret key not restored (secret_key=skip)"}
    if snap_key is None:
        warnings.append("the snapshot holds no secret key: users must sign in again and settings encrypted with the old key are unreadable")
        return {"action": "none", "message": "snapshot has no key"}
    env_key = target["env"].get("WEBUI_SECRET_KEY") or target["env"].get("WEBUI_JWT_SECRET_KEY")
    if env_key:
        if env_key.encode() == snap_key:
            return {"action": "none", "message": "WEBUI_SECRET_KEY in the container environment already equals the snapshot's key"}
        raise BackupError(
            "container %s sets WEBUI_SECRET_KEY in its environment and it differs from the key in the snapshot "
            "(sha256 %s…): after the restore every user would be logged out and encrypted settings unreadable"
            % (target["container"], (manifest.get("secret_key") or {}).get("sha256", "")[:12]),
            "recreate the container with WEBUI_SECRET_KEY set to the content of %s (e.g. in your compose file or "
            "an env file), then run the restore again; or set secret_key=skip to restore without the key. Nothing was changed"
            % "<snapshot>/secret/webui_secret_key")
    if not target.get("container_id") and not creating:
        return {"action": "guidance", "message": "no container: copy the key in before its first start"}
    return {"action": "put", "message": "key file written to %s" % SECRET_KEY_FILE_IN_CONTAINER}


def run(job, check_mode=False, docker=None):
    """Restore one snapshot as ``job`` says (see :data:`DEFAULTS`). Check mode reads only and says what it would do."""
    job = normalize(job)
    clock = _common.Clock()
    warnings = []
    source = open_source(job["source"], job["repository"], job["host"], job["instance"], job["targets"], job["age_identity"])
    try:
        result = _run(job, source, docker, clock, warnings, check_mode)
    finally:
        source.close()
    if source.kind != "local":  # the copy fetched from the target (under <repository>/.offsite-fetch) is gone now
        result["source"] = dict(source.stats, removed=not os.path.exists(source.stats["workdir"] or ""))
        result["summary"] += "; from target %s (%d packs, %s downloaded; work copy removed%s)" % (
            source.stats["target"], source.stats["packs"], human_bytes(source.stats["bytes_downloaded"]),
            "; the secret key kept at %s for the steps in guidance" % source.stats["kept"][0] if source.stats["kept"] else "")
    return result


def _run(job, source, docker, clock, warnings, check_mode):
    if docker is None and (job["container"] or job["volume"] or job["image"]):
        docker = docker_client(job["docker_host"])
    ollama = OllamaOptions(job["ollama_dir"], job["owner"], job["stop_timeout"], job["rollback_keep_hours"], job["docker_host"])
    with source.lock(timeout=job["lock_timeout"], read_only=check_mode):
        if not job["components"]:  # only the Ollama store
            return _ollama_only(job, ollama, source, docker, clock, warnings, check_mode)
        result, snap_path, manifest = _run_data(job, source, docker, clock, warnings, check_mode)
        if not job["ollama"]:
            return result
        # after a restore of the data that succeeded (a failed or rolled-back one raised): the same snapshot
        result["ollama"] = restore_ollama(ollama, docker, result["snapshot_id"], snap_path, manifest, clock, check_mode)
    if check_mode:
        result["would"] += ["Ollama store %s: %s" % (o["label"], w) for o in result["ollama"] for w in o["would"]]
    else:
        result["summary"] += "; Ollama: %s" % ", ".join("%s -> %s (%d files)" % (o["label"], o["dir"], o["files"])
                                                        for o in result["ollama"])
    result["warnings"] = warnings
    return result


def _ollama_only(job, ollama, source, docker, clock, warnings, check_mode):
    """``components: [ollama]``: the snapshot's Ollama store(s) back into their volume(s); Open WebUI's data
    is not touched."""
    sid, snap_path, manifest = pick(source, job["snapshot"], job["before"], warnings, only=[], ollama=True)
    stores = restore_ollama(ollama, docker, sid, snap_path, manifest, clock, check_mode)
    would = ["Ollama store %s: %s" % (o["label"], w) for o in stores for w in o.get("would", [])]
    return {"changed": True, "snapshot_id": sid, "snapshot_path": snap_path, "components": ["ollama"],
            "ollama": stores, "would": would, "warnings": warnings, "events": clock.events,
            "summary": "%s %d Ollama store(s) of snapshot %s: %s" % (
                "check mode: would restore" if check_mode else "restored", len(stores), sid,
                ", ".join("%s -> %s" % (o["label"], o["dir"] or o["volume"]) for o in stores))}


def _run_data(job, source, docker, clock, warnings, check_mode):
    """The data directory part of a restore (the caller holds the repository lock). Returns
    ``(result, snapshot path, manifest)``."""
    target = resolve_target(docker, job["container"], job["volume"], job["data_dir"], job["image"])
    sid, snap_path, manifest, verify_ms = prepare(source, job["snapshot"], job["before"], job["components"], clock,
                                                  warnings, deep=check_mode, ollama=job["ollama"])
    snap_key = read_snapshot_key(snap_path, manifest)
    alembic = check_alembic(docker, manifest, warnings, policy=job["alembic_check"],
                            container_id=None if target.get("image_requested") else target["container_id"],
                            image=target.get("image_requested") or target.get("image") or job["image"],
                            migrations_path=job["migrations_path"], check_mode=check_mode)
    key_plan = plan_key(job["secret_key"], target, snap_key, manifest, warnings, creating=bool(job["image"]))
    if check_mode:
        return _preview(job, target, sid, snap_path, manifest, alembic, key_plan, warnings, clock), snap_path, manifest
    if target.get("volume_missing"):
        docker.create_volume(job["volume"], labels={"io.sage-open-webui.restored-from": sid})
        target["data_dir"] = docker.inspect_volume(job["volume"])["Mountpoint"]
        target["volume_created"] = True
        clock.note("created volume %s" % job["volume"])
    if not target["data_dir"]:
        raise BackupError("cannot tell where the data goes", "give data_dir, a container with a data mount, or volume")
    staged, counts, stage_ms = _stage(job, target["data_dir"], sid, snap_path, manifest, snap_key, key_plan, clock)
    app = App(docker, target["container_id"], target["container"], target["running"], job["stop_timeout"],
              job["health_timeout"], job["health_url"], job["docker_host"])
    new = None
    if not app.cid and job["image"] and job["container"] and job["start"]:
        new = NewContainer(job["image"], job["container"], job["create_container"], target.get("volume") or target["data_dir"])
    # no backup (into any repository) may pause or stop the app while the switch has it down
    with contextlib.ExitStack() as held:
        if app.cid:
            try:
                held.enter_context(_safety.hold(app.cid, timeout=job["lock_timeout"]))
            except BackupError:
                shutil.rmtree(staged.work["staging"], ignore_errors=True)
                raise
        sw = _switch(app, staged, job["pre_start_commands"], job["start"], new, warnings, clock)
    guidance = None if sw["cid"] else _guidance(job, target, source.keep(snap_path, "secret/webui_secret_key"), key_plan,
                                                (manifest.get("source") or {}).get("app_version"))
    result = {
        "changed": True, "snapshot_id": sid, "snapshot_path": snap_path, "data_dir": staged.data_dir,
        "components": job["components"], "container": new.name if new else target["container"],
        "container_created": new is not None, "volume_created": target["volume_created"],
        "rollback_path": staged.work["rollback"], "rollback_keep_hours": job["rollback_keep_hours"],
        "rollbacks_pruned": staged.work["removed"], "moved_aside": sw["journal"]["aside"],
        "restored": sw["journal"]["moved_in"], "preserved": sw["journal"]["preserved"],
        "files": counts["files"], "bytes": counts["bytes"], "alembic": alembic,
        "secret_key": {"action": key_plan["action"], "message": key_plan["message"]},
        "health": sw["health"], "guidance": guidance,
        "timing_ms": {"total": clock.ms(), "verify": verify_ms, "stage": stage_ms, "stop": sw["stop_ms"],
                      "start_to_healthy": sw["start_ms"], "downtime": sw["downtime_ms"]},
        "warnings": warnings, "events": clock.events,
    }
    result["summary"] = "restored %s into %s (%d files, %s): verify %d ms, stage %d ms, downtime %d ms%s" % (
        sid, staged.data_dir, counts["files"], human_bytes(counts["bytes"]), verify_ms, stage_ms, sw["downtime_ms"],
        ", healthy after %d ms" % sw["start_ms"] if sw["health"] else "")
    return result, snap_path, manifest


def _stage(job, data_dir, sid, snap_path, manifest, snap_key, key_plan, clock):
    """Work directories made and the snapshot copied into staging (every byte hashed): ``(Staged, counts, ms)``."""
    work = _swap.work_dirs(data_dir, snap_path, job["rollback_keep_hours"], "the data directory", "give the real path")
    t = time.monotonic()
    try:
        counts = _swap.stage(snap_path, manifest, work["staging"], only=only_names(job["components"]), owner=job["owner"],
                             label="snapshot %s" % sid)
        _files.syncfs(work["staging"])
    except BaseException:
        shutil.rmtree(work["staging"], ignore_errors=True)
        raise
    stage_ms = clock.ms(t)
    clock.note("staged %d files, %s, copy verified (%d ms)" % (counts["files"], human_bytes(counts["bytes"]), stage_ms))
    plan = _swap.plan_names(data_dir, work["staging"], job["components"], job["preserve"])
    return Staged(sid, snap_path, data_dir, work, plan, snap_key, key_plan["action"]), counts, stage_ms


def _switch(app, st, hooks, start, new, warnings, clock):
    """Stop the app, swap, put the key, run the hooks, start it and wait until healthy; on any failure put the
    previous data back. A safety net starts the app if this process dies while it is down, and stays armed
    until the app runs again or the restore is over (a rollback included). Returns the switch's facts."""
    t_down = time.monotonic()
    stop_ms = 0
    if app.cid and app.was_running:
        # the swap moves webui.db aside last and in first: whenever the net fires, the app finds a complete
        # database (old or restored) and never creates an empty one. Room for a rollback after a failed start.
        app.arm(2 * (app.stop_timeout + app.health_timeout) + 600 * max(1, len(hooks)) + 120)
        t = time.monotonic()
        app.stop()
        stop_ms = clock.ms(t)
        clock.note("stopped %s (%d ms)" % (app.name, stop_ms))
    created, old_key, journal = _put_in_place(app, st, hooks, new, warnings, clock)
    shutil.rmtree(st.work["staging"], ignore_errors=True)
    health = None
    start_ms = 0
    if app.cid and start:
        t = time.monotonic()
        try:
            health = app.start_healthy()
        except BackupError as e:
            clock.note("not healthy: %s" % e.problem)
            rb = _roll_back(app, st, journal, old_key, created, warnings, clock)
            app.disarm()
            raise BackupError(
                "restored snapshot %s but %s did not become healthy (%s); rolled back to the previous data: %s"
                % (st.sid, app.name, e.problem, rb),
                "read 'docker logs %s'; the restored copy is kept in %s for inspection" % (app.name, st.work["failed"]),
                rollback=rb, snapshot_id=st.sid, events=clock.events)
        start_ms = clock.ms(t)
        clock.note("%s healthy after %d ms" % (app.name, start_ms))
    app.disarm()  # healthy, or left stopped as asked (start: false)
    return {"cid": app.cid, "journal": journal, "health": health, "stop_ms": stop_ms, "start_ms": start_ms,
            "downtime_ms": clock.ms(t_down)}


def _put_in_place(app, st, hooks, new, warnings, clock):
    """Rollback note, swap, new container, key file, hooks; on any failure all of it is undone (the app is
    started again when it ran) and the error says so. Returns ``(created, old key, journal)``."""
    staging, rollback = st.work["staging"], st.work["rollback"]
    journal = None
    created = False
    old_key = None
    key_written = False
    try:
        # the note comes first: if this process is killed mid-way, it tells what to move back
        os.makedirs(rollback, mode=0o700, exist_ok=True)
        _swap.write_rollback_info(rollback, st.sid, st.data_dir, app.name, st.plan, staging)
        journal = _swap.swap(st.data_dir, staging, rollback, st.plan)
        clock.note("moved %d entries aside to %s, %d restored entries in place" % (len(journal["aside"]), rollback, len(journal["moved_in"])))
        if new is not None:
            app.cid = create_container(app.docker, new.image, new.name, new.spec, new.mount_source, st.sid)
            app.name = new.name
            created = True
            clock.note("created container %s from %s" % (new.name, new.image))
        if app.cid and st.key_action == "put":
            old_key = app.docker.read_file(app.cid, SECRET_KEY_FILE_IN_CONTAINER)
            put_key(app.docker, app.cid, st.key)
            key_written = True
            clock.note("secret key written to %s" % SECRET_KEY_FILE_IN_CONTAINER)
        for cmd in hooks:
            _run_hook(cmd, st.data_dir, st.sid)
    except BaseException as e:
        if journal is None and os.path.isdir(rollback):
            journal = _swap.partial_journal(st.data_dir, staging, rollback, st.plan)
        if journal is not None:
            _swap.undo(st.data_dir, staging, rollback, journal)
            if key_written and old_key is not None:
                put_key(app.docker, app.cid, old_key)
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            remove_container(app.docker, app.cid, warnings)
        elif app.cid and app.was_running:
            app.docker.start(app.cid)
            app.disarm()
        if isinstance(e, BackupError):
            raise BackupError(e.problem + " (the previous data was put back)", e.fix)
        raise
    return created, (old_key if key_written else None), journal


def _roll_back(app, st, journal, old_key, created, warnings, clock):
    """The restored copy out (into the failed dir), the previous data and key back, the app as it was. The
    caller's safety net stays armed throughout."""
    try:
        app.stop()
    except BackupError:
        pass
    failed = st.work["failed"]
    os.makedirs(failed, mode=0o700, exist_ok=True)
    _swap.undo(st.data_dir, failed, st.work["rollback"], journal)
    if old_key is not None:
        put_key(app.docker, app.cid, old_key)
    clock.note("previous data back in place (restored copy moved to %s)" % failed)
    if created:
        remove_container(app.docker, app.cid, warnings)
        return "the new container was removed, the volume holds its previous content again"
    if not app.was_running:
        return "the previous data is back; the container was not running before and was left stopped"
    try:
        h = app.start_healthy()
    except BackupError as e:
        return "the previous data is back but the app is not healthy either (%s)" % e.problem
    clock.note("previous data healthy again after %.1f s" % h["seconds"])
    return "the app is healthy again on the previous data (%.1f s)" % h["seconds"]


def _guidance(job, target, key_path, key_plan, app_version=None):
    if not (job["volume"] or job["container"] or job["image"]):
        lines = ["start Open WebUI with DATA_DIR=%s" % target["data_dir"]]
        if key_plan["action"] in ("guidance", "put"):
            lines.append("and WEBUI_SECRET_KEY set to the content of %s "
                         "(or copy that file to .webui_secret_key in its working directory)" % key_path)
        return lines
    vol = target.get("volume") or target["data_dir"]
    name = job["container"] or "open-webui"
    image = job["image"] or "ghcr.io/open-webui/open-webui:%s" % (
        "v%s (or newer)" % app_version if app_version else "<the version that wrote the backup, or newer>")
    lines = ["docker create --name %s -p 3000:8080 -v %s:%s --restart unless-stopped %s" % (name, vol, DATA_DIR_IN_CONTAINER, image)]
    if key_plan["action"] in ("guidance", "put"):
        lines.append("docker cp %s %s:%s" % (key_path, name, SECRET_KEY_FILE_IN_CONTAINER))
    lines.append("docker start %s" % name)
    return lines


def _run_hook(cmd, data_dir, sid):
    env = dict(os.environ, OWB_DATA_DIR=data_dir, OWB_SNAPSHOT=sid)
    # plain Python (no AnsibleModule here): the module's run_command is not available
    res = subprocess.run(cmd, shell=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,  # pylint: disable=ansible-bad-function
                         timeout=600, check=False)
    if res.returncode != 0:
        raise BackupError("pre-start command %r failed (exit %d): %s" % (cmd, res.returncode, res.stdout.decode("utf-8", "replace")[-300:]),
                          "fix the command")


def _preview(job, target, sid, snap_path, manifest, alembic, key_plan, warnings, clock):
    only = only_names(job["components"])
    files = [e for e in manifest.get("files", []) if not only or selected(e["path"], only)]
    would = ["verify %d files of snapshot %s (done: ok)" % (len(files), sid)]
    if target.get("volume_missing"):
        would.append("create volume %s" % job["volume"])
    if target.get("container_id") and target["running"]:
        would.append("stop %s" % target["container"])
    would.append("move the current %s of %s aside (kept %s h)"
                 % (", ".join(job["components"]), target["data_dir"] or job["volume"], job["rollback_keep_hours"]))
    would.append("put %d files (%s) in place" % (len(files), human_bytes(sum(e["size"] for e in files))))
    would.append("secret key: %s" % key_plan["message"])
    if target.get("container_id") or (job["image"] and job["container"]):
        would.append("start and wait until healthy; roll back when it is not")
    return {"changed": True, "snapshot_id": sid, "snapshot_path": snap_path, "data_dir": target["data_dir"],
            "components": job["components"], "alembic": alembic, "secret_key": {"action": key_plan["action"], "message": key_plan["message"]},
            "would": would, "warnings": warnings, "events": clock.events,
            "summary": "check mode: would restore %s (%d files) into %s" % (sid, len(files), target["data_dir"] or job["volume"])}
