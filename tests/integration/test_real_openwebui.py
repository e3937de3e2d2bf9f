"""End-to-end checks of the REAL Open WebUI 0.12.4 image on the golden fixture.

The container runs like production: host networking (127.0.0.1:<free port>), a named volume at
/app/backend/data seeded from tests/fixtures/openwebui-0.12.4/data.tar.gz, and the fixture's secret key
written into the container layer at /app/backend/.webui_secret_key before start (not via the environment).

Needs a Docker engine and the image from tests/testbed/openwebui/build.sh. Without an engine the tests
skip; with an engine but without the image they FAIL (build it first).
Timings (start→healthy, stop, pause+unpause, …) are printed (-s) and written to
.cache/testbed/openwebui-timings.json.
"""
import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid

import pytest

import owui_client as oc

pytestmark = [pytest.mark.docker, pytest.mark.openwebui]

TIMINGS_FILE = os.path.join(oc.REPO_ROOT, ".cache", "testbed", "openwebui-timings.json")
_TIMINGS = {}


def _record(key, value):
    _TIMINGS[key] = round(value, 3) if isinstance(value, float) else value
    print("[openwebui timing] %s = %s" % (key, _TIMINGS[key]))
    os.makedirs(os.path.dirname(TIMINGS_FILE), exist_ok=True)
    with open(TIMINGS_FILE, "w", encoding="utf-8") as fh:
        json.dump(_TIMINGS, fh, indent=2, sort_keys=True)


@pytest.fixture(scope="module")
def owui_docker(request):
    """The `docker_client` fixture from tests/integration/conftest.py when it exists, else our own
    docker.from_env(); skips when no engine answers."""
    try:
        return request.getfixturevalue("docker_client")
    except pytest.FixtureLookupError:
        pass
    docker = pytest.importorskip("docker", reason="python docker SDK missing (pip install docker)")
    try:
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as e:  # noqa: BLE001
        pytest.skip("no Docker engine answers: %s" % e)
    return client


@pytest.fixture(scope="module")
def expected():
    return oc.load_expected()


@pytest.fixture(scope="module")
def owui(owui_docker):
    """One real Open WebUI container on a fresh seeded volume for this module."""
    t0 = time.monotonic()
    inst = oc.start_openwebui(owui_docker, seed_fixture=True, secret_key=oc.FIXTURE_SECRET_KEY)
    _record("fixture_total_s (create+seed+start+healthy)", time.monotonic() - t0)
    _record("seed_s", inst.timings.get("seed_s", 0.0))
    _record("first_start_to_healthy_s", inst.timings["start_to_healthy_s"])
    try:
        yield inst
    finally:
        inst.remove()


def _forge_jwt(key, payload):
    """HS256 JWT like open_webui.utils.auth.create_token, signed with `key` (stdlib only)."""
    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=")
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64(json.dumps(payload, separators=(",", ":")).encode())
    sig = b64(hmac.new(key.encode(), head + b"." + body, hashlib.sha256).digest())
    return (head + b"." + body + b"." + sig).decode()


def test_fixture_users_chats_and_files(owui, expected):
    """Every fixture user signs in with the fixture password; chat counts and file bytes match expected.json."""
    admin = owui.client()
    admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    all_files = {f["id"]: f for f in admin.list_files()}
    assert len(all_files) == len(expected["files"]) == 12

    for user in expected["users"]:
        c = owui.client()
        c.signin(user["email"], user["password"])
        me = c.me()
        assert (me["id"], me["email"], me["role"]) == (user["id"], user["email"], user["role"])

        want = expected["chats"]["per_user"][user["email"]]
        chats = c.list_chats(include_archived=True)
        assert len({ch["id"] for ch in chats}) == len(chats)
        assert len(chats) == want["total"], user["email"]
        assert sum(1 for ch in chats if ch["archived"]) == want["archived"], user["email"]

        mine = [f for f in expected["files"] if f["owner_email"] == user["email"]]
        listed = [f for f in c.list_files() if f["user_id"] == user["id"]]
        assert sorted(f["id"] for f in listed) == sorted(f["id"] for f in mine)
        for f in mine:
            data = c.file_content(f["id"])
            assert len(data) == f["size"], f["filename"]
            assert hashlib.sha256(data).hexdigest() == f["sha256"], f["filename"]

    # a wrong password is refused (the sign-in check can fail)
    with pytest.raises(oc.OpenWebUIError) as ei:
        owui.client().signin("alice@example.com", "not-the-password")
    assert ei.value.status == 400


def test_upload_and_download_roundtrip(owui):
    """A file uploaded through the API (non-ASCII name, binary bytes) comes back byte for byte and is
    stored under uploads/<id>_<name> in the volume."""
    c = owui.client()
    c.signin("bob@example.com", "Fixture-Bob-Pass-3")
    payload = bytes(range(256)) * 64 + "résumé ✓".encode()
    r = c.upload_file("notes é ü.bin", payload, ctype="application/octet-stream")
    assert r["meta"]["size"] == len(payload)
    assert c.file_sha256(r["id"]) == hashlib.sha256(payload).hexdigest()
    assert r["id"] in {f["id"] for f in c.list_files()}
    on_disk = os.path.join(owui.volume_mountpoint, "uploads", "%s_notes é ü.bin" % r["id"])
    if os.access(os.path.dirname(owui.volume_mountpoint), os.R_OK):
        with open(on_disk, "rb") as fh:
            assert fh.read() == payload


def test_key_file_is_used_and_jwt_survives_restart(owui, expected):
    """The server signs with the key file we put in the container layer; a token issued before
    `docker stop` + `docker start` still works after it (same container, same key file)."""
    assert owui.read_secret_key() == oc.FIXTURE_SECRET_KEY
    env = owui.container.attrs["Config"]["Env"]
    assert not any(e.startswith("WEBUI_SECRET_KEY=") for e in env), "key must come from the file, not the env"

    alice = next(u for u in expected["users"] if u["email"] == "alice@example.com")
    c = owui.client()
    token = c.signin(alice["email"], alice["password"])
    assert c.me()["id"] == alice["id"]
    # the server's claims (id, session_stamp, ...) re-signed with the fixture key are accepted,
    # re-signed with another key they are not: the server signs with the key from the file
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    good = _forge_jwt(oc.FIXTURE_SECRET_KEY, dict(claims, jti=str(uuid.uuid4())))
    bad = _forge_jwt("some-other-key", dict(claims, jti=str(uuid.uuid4())))
    assert owui.client(good).me()["id"] == alice["id"]
    with pytest.raises(oc.OpenWebUIError) as ei:
        owui.client(bad).me()
    assert ei.value.status == 401

    stop_s, start_s = owui.restart()
    _record("docker_stop_s", stop_s)
    _record("restart_start_to_healthy_s", start_s)

    assert owui.read_secret_key() == oc.FIXTURE_SECRET_KEY
    me = owui.client(token).me()
    assert me["id"] == alice["id"] and me["email"] == alice["email"]
    assert len(owui.client(token).list_chats()) == expected["chats"]["per_user"][alice["email"]]["total"]


def test_pause_unpause_timing(owui):
    """docker pause + unpause of the real server; it answers again right after."""
    admin = owui.client()
    token = admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    t0 = time.monotonic()
    owui.container.pause()
    t_paused = time.monotonic()
    owui.container.unpause()
    t1 = time.monotonic()
    _record("docker_pause_s", t_paused - t0)
    _record("docker_pause_plus_unpause_s", t1 - t0)
    assert oc.health(owui.base_url, timeout=10)
    _record("healthy_after_unpause_s", time.monotonic() - t1)
    assert owui.client(token).me()["email"] == "admin@example.com"


def test_chats_created_under_load(owui):
    """A background client creates chats continuously for a few seconds; every call succeeds and
    every chat is listed afterwards."""
    admin = owui.client()
    admin.signin("admin@example.com", "Fixture-Admin-Pass-1")
    email = "load-%s@example.com" % uuid.uuid4().hex[:8]
    admin.add_user("Load Tester", email, "Load-Tester-Pass-9")
    user = owui.client()
    user.signin(email, "Load-Tester-Pass-9")

    duration = float(os.environ.get("OWB_LOAD_SECONDS", "6"))
    created, failures, latencies = [], [], []
    stop = threading.Event()

    def writer():
        i = 0
        while not stop.is_set():
            t = time.monotonic()
            try:
                r = user.create_chat(title="load chat %d" % i,
                                     turns=[("question %d" % i, "answer %d " % i * 20), ("more?", "done.")])
                created.append(r["id"])
                latencies.append(time.monotonic() - t)
            except Exception as e:  # noqa: BLE001 - counted, reported below
                failures.append(repr(e))
            i += 1

    th = threading.Thread(target=writer, name="owui-chat-writer", daemon=True)
    th.start()
    # the foreground keeps reading meanwhile, like a user browsing
    reads = 0
    t_end = time.monotonic() + duration
    while time.monotonic() < t_end:
        assert oc.health(owui.base_url)
        admin.list_chats(include_archived=False)
        reads += 1
        time.sleep(0.2)
    stop.set()
    th.join(timeout=60)
    assert not th.is_alive(), "writer thread hung"

    _record("load_chats_created", len(created))
    _record("load_create_chat_p50_ms", 1000 * sorted(latencies)[len(latencies) // 2] if latencies else -1)
    _record("load_create_chat_max_ms", 1000 * max(latencies) if latencies else -1)
    assert failures == [], failures[:5]
    assert len(created) >= 5, "only %d chats in %ss" % (len(created), duration)
    listed = {c["id"] for c in user.list_chats()}
    assert listed == set(created)
    one = user.get_chat(created[-1])
    assert len(one["chat"]["history"]["messages"]) == 4


def test_image_metadata_and_docker_health(owui):
    """The image is laid out like the official one and Docker's own health check turns healthy."""
    img = owui.docker.images.get(owui.image)
    cfg = img.attrs["Config"]
    assert cfg["Labels"]["org.opencontainers.image.version"] == "0.12.4"
    assert cfg["WorkingDir"] == "/app/backend"
    assert "DATA_DIR=/app/backend/data" in cfg["Env"]
    assert cfg["Healthcheck"]["Test"][-1] == "/app/backend/healthcheck.py"
    deadline = time.monotonic() + 60
    while True:
        owui.container.reload()
        status = owui.container.attrs["State"].get("Health", {}).get("Status")
        if status == "healthy" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert status == "healthy", owui.container.attrs["State"].get("Health")


def test_entrypoint_generates_key_file_when_missing(owui_docker):
    """No key file and no WEBUI_SECRET_KEY: the entrypoint writes a random key to the container layer
    (not the data volume) and the server signs with it; a second container gets another key."""
    keys = []
    for dummy in range(2):
        inst = oc.start_openwebui(owui_docker, seed_fixture=False, secret_key=None)
        try:
            _record("empty_volume_start_to_healthy_s", inst.timings["start_to_healthy_s"])
            key = inst.read_secret_key()
            assert len(key) >= 12 and key != oc.FIXTURE_SECRET_KEY
            if os.access(os.path.dirname(inst.volume_mountpoint), os.R_OK):
                assert not os.path.exists(os.path.join(inst.volume_mountpoint, ".webui_secret_key"))
                assert os.path.exists(os.path.join(inst.volume_mountpoint, "webui.db"))
            c = inst.client()
            token = c.signup("First Admin", "first@example.com", "First-Admin-Pass-1")
            claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
            assert inst.client(_forge_jwt(key, dict(claims, jti=str(uuid.uuid4())))).me()["role"] == "admin"
            keys.append(key)
        finally:
            inst.remove()
    assert keys[0] != keys[1]
