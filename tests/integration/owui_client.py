"""Small stdlib client for a real Open WebUI 0.12.4, plus a factory that runs the real image.

Client side (urllib only, no third-party imports):
    wait_healthy(base_url, timeout) -> seconds waited
    c = OpenWebUI(base_url); token = c.signin(email, password)
    c.add_user(...), c.create_chat(...), c.list_chats(...), c.upload_file(...), c.file_content(...)

Docker side (needs the `docker` SDK object the tests already have; imported by the caller):
    inst = start_openwebui(docker_client, volume=None, seed_fixture=True, secret_key=FIXTURE_SECRET_KEY)
    inst.base_url, inst.container, inst.volume_name, inst.timings; inst.restart(); inst.remove()

The HTTP shapes follow tests/fixtures/openwebui-0.12.4/generator/build_api.py, which drove the real
server to build the fixture.
"""
import hashlib
import io
import json
import os
import socket
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE_DIR = os.path.join(REPO_ROOT, "tests", "fixtures", "openwebui-0.12.4")
FIXTURE_TARBALL = os.path.join(FIXTURE_DIR, "data.tar.gz")
FIXTURE_EXPECTED = os.path.join(FIXTURE_DIR, "expected.json")
FIXTURE_SECRET_KEY = "owui-fixture-test-secret-0.12.4"
BUILD_SCRIPT = os.path.join(REPO_ROOT, "tests", "testbed", "openwebui", "build.sh")

DEFAULT_IMAGE = os.environ.get("OWB_OPENWEBUI_IMAGE", "local/owb-openwebui:0.12.4")
DATA_DIR = "/app/backend/data"
KEY_PATH = "/app/backend/.webui_secret_key"
TEST_LABEL = "io.sage-open-webui.test"


class OpenWebUIError(Exception):
    """An HTTP call to Open WebUI did not answer as expected (message names method, path, status, body)."""

    def __init__(self, method, url, status, body, hint=""):
        self.method, self.url, self.status, self.body = method, url, status, body
        text = body[:400].decode("utf-8", "replace") if isinstance(body, bytes) else str(body)[:400]
        msg = "%s %s -> %s: %s" % (method, url, status, text)
        if hint:
            msg += " (%s)" % hint
        super().__init__(msg)


def load_expected():
    with open(FIXTURE_EXPECTED, encoding="utf-8") as fh:
        return json.load(fh)


def free_loopback_port():
    """A TCP port that is free on 127.0.0.1 right now (the container binds it with host networking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_loopback(base_url):
    host = urllib.parse.urlsplit(base_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("tests talk to loopback only, got %r" % base_url)


def health(base_url, timeout=3):
    """True when GET /health answers 200 {"status": true}."""
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/health", timeout=timeout) as r:
            return r.status == 200 and json.loads(r.read() or b"{}").get("status") is True
    except (OSError, ValueError):
        return False


def wait_healthy(base_url, timeout=420, interval=0.25, container=None):
    """Poll /health until it answers; return the seconds waited.

    With `container` (a docker SDK Container) a container that exits while we wait fails fast,
    with the tail of its log in the message.
    """
    _check_loopback(base_url)
    t0 = time.monotonic()
    while True:
        if health(base_url):
            return time.monotonic() - t0
        if container is not None:
            container.reload()
            if container.status in ("exited", "dead"):
                logs = container.logs(tail=40).decode("utf-8", "replace")
                raise RuntimeError("Open WebUI container %s exited (%s) before it was healthy; last log lines:\n%s"
                                   % (container.name, container.attrs["State"].get("ExitCode"), logs))
        if time.monotonic() - t0 > timeout:
            extra = ""
            if container is not None:
                extra = "; last log lines:\n" + container.logs(tail=40).decode("utf-8", "replace")
            raise TimeoutError("%s/health did not answer within %ss%s" % (base_url, timeout, extra))
        time.sleep(interval)


def multipart(field, filename, ctype, payload):
    boundary = "----owbtest" + uuid.uuid4().hex
    body = (("--%s\r\n" % boundary).encode()
            + b'Content-Disposition: form-data; name="' + field.encode() + b'"; filename="'
            + filename.encode("utf-8") + b'"\r\n'
            + ("Content-Type: %s\r\n\r\n" % ctype).encode() + payload + ("\r\n--%s--\r\n" % boundary).encode())
    return body, "multipart/form-data; boundary=%s" % boundary


def chat_payload(title, turns, model="llama3.2:3b", model_name="Llama 3.2 3B", ts=None):
    """The JSON the web UI sends to POST /api/v1/chats/new, for `turns` = [(user_text, assistant_text), ...].

    history.messages keyed by id with parentId/childrenIds and currentId; messages = root-to-current path.
    """
    ts = int(time.time()) if ts is None else int(ts)
    messages, path, parent = {}, [], None
    for i, (q, a) in enumerate(turns):
        um = {"id": str(uuid.uuid4()), "parentId": parent, "childrenIds": [], "role": "user", "content": q,
              "timestamp": ts + 2 * i, "models": [model]}
        am = {"parentId": um["id"], "id": str(uuid.uuid4()), "childrenIds": [], "role": "assistant",
              "content": a, "model": model, "modelName": model_name, "modelIdx": 0, "timestamp": ts + 2 * i + 1,
              "done": True, "usage": {"prompt_tokens": len(q.split()), "completion_tokens": len(a.split()),
                                      "total_tokens": len(q.split()) + len(a.split())}}
        if parent is not None:
            messages[parent]["childrenIds"].append(um["id"])
        um["childrenIds"].append(am["id"])
        messages[um["id"]] = um
        messages[am["id"]] = am
        path += [um["id"], am["id"]]
        parent = am["id"]
    return {"id": "", "title": title, "models": [model], "params": {},
            "history": {"messages": messages, "currentId": parent},
            "messages": [messages[m] for m in path], "tags": [], "timestamp": ts * 1000}


class OpenWebUI:
    """One authenticated (or anonymous) session against an Open WebUI server on loopback."""

    def __init__(self, base_url, token=None, timeout=60):
        _check_loopback(base_url)
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def with_token(self, token):
        return OpenWebUI(self.base_url, token=token, timeout=self.timeout)

    # ------------------------------------------------------------------ transport
    def request(self, method, path, body=None, raw=None, ctype=None, expect=(200,), parse=True, token=None):
        headers = {"Accept": "application/json"}
        tok = token if token is not None else self.token
        if tok:
            headers["Authorization"] = "Bearer %s" % tok
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        elif raw is not None:
            data = raw
            headers["Content-Type"] = ctype or "application/octet-stream"
        url = self.base_url + path
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                status, out = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, out = e.code, e.read()
        except (urllib.error.URLError, OSError) as e:
            raise OpenWebUIError(method, url, "no answer", str(e).encode(),
                                 "is the server up? wait_healthy() first") from e
        if status not in expect:
            hint = {401: "token missing, expired or signed with another WEBUI_SECRET_KEY",
                    403: "this user may not do that", 400: "bad request or wrong credentials"}.get(status, "")
            raise OpenWebUIError(method, url, status, out, hint)
        if not parse:
            return out
        try:
            return json.loads(out) if out else None
        except ValueError as e:
            raise OpenWebUIError(method, url, status, out, "answer is not JSON") from e

    # ------------------------------------------------------------------ auth and users
    def signup(self, name, email, password):
        """First signup on an empty instance becomes admin. Returns the token (also kept on self)."""
        r = self.request("POST", "/api/v1/auths/signup", body={"name": name, "email": email, "password": password})
        self.token = r["token"]
        return self.token

    def signin(self, email, password):
        """Returns the JWT (also kept on self). A wrong password raises OpenWebUIError with status 400."""
        r = self.request("POST", "/api/v1/auths/signin", body={"email": email, "password": password})
        self.token = r["token"]
        return self.token

    def me(self):
        """The session user ({id, email, role, ...}); raises with status 401 when the token is not valid."""
        return self.request("GET", "/api/v1/auths/")

    def add_user(self, name, email, password, role="user"):
        """Admin only: create a user. Returns the created user's JSON (with its own token)."""
        return self.request("POST", "/api/v1/auths/add",
                            body={"name": name, "email": email, "password": password, "role": role})

    # ------------------------------------------------------------------ chats
    def create_chat(self, chat=None, title=None, turns=None, folder_id=None):
        """POST /api/v1/chats/new with the web UI's shape; pass `chat` JSON or `title` + `turns`."""
        if chat is None:
            chat = chat_payload(title or "Test chat", turns or [("Hello?", "Hi! How can I help?")])
        return self.request("POST", "/api/v1/chats/new", body={"chat": chat, "folder_id": folder_id})

    def get_chat(self, chat_id):
        return self.request("GET", "/api/v1/chats/%s" % urllib.parse.quote(chat_id))

    def _pages(self, path, key=None, max_pages=10000):
        out = []
        sep = "&" if "?" in path else "?"
        for page in range(1, max_pages + 1):
            r = self.request("GET", "%s%spage=%d" % (path, sep, page))
            items = r.get(key, []) if key and isinstance(r, dict) else r
            if not items:
                break
            out.extend(items)
        return out

    def list_chats(self, include_archived=True):
        """All of the session user's chats (every page; folders and pinned included; archived too by default).

        Items are the list entries ({id, title, updated_at, created_at, ...}); each has "archived" set.
        """
        active = self._pages("/api/v1/chats/?include_folders=true&include_pinned=true")
        for c in active:
            c.setdefault("archived", False)
        if not include_archived:
            return active
        archived = self._pages("/api/v1/chats/archived")
        for c in archived:
            c["archived"] = True
        seen = {c["id"] for c in active}
        return active + [c for c in archived if c["id"] not in seen]

    # ------------------------------------------------------------------ files
    def upload_file(self, filename, payload, ctype="text/plain", process=False):
        body, mp = multipart("file", filename, ctype, payload)
        return self.request("POST", "/api/v1/files/?process=%s" % ("true" if process else "false"), raw=body, ctype=mp)

    def list_files(self):
        """The session user's files (every page; an admin sees everyone's: filter on item["user_id"])."""
        return self._pages("/api/v1/files/?content=false", key="items")

    def file_content(self, file_id):
        """The stored bytes of a file (owner or admin)."""
        return self.request("GET", "/api/v1/files/%s/content" % urllib.parse.quote(file_id), parse=False)

    def file_sha256(self, file_id):
        return hashlib.sha256(self.file_content(file_id)).hexdigest()


# ====================================================================== the real image in Docker

class OpenWebUIInstance:
    """A running real Open WebUI container (host networking, 127.0.0.1:port) on a named volume."""

    def __init__(self, docker_client, container, volume_name, port, image, timings):
        self.docker = docker_client
        self.container = container
        self.volume_name = volume_name
        self.port = port
        self.image = image
        self.base_url = "http://127.0.0.1:%d" % port
        self.timings = timings

    def client(self, token=None):
        return OpenWebUI(self.base_url, token=token)

    @property
    def volume_mountpoint(self):
        return self.docker.volumes.get(self.volume_name).attrs["Mountpoint"]

    def wait_healthy(self, timeout=420):
        return wait_healthy(self.base_url, timeout=timeout, container=self.container)

    def stop(self, timeout=30):
        t0 = time.monotonic()
        self.container.stop(timeout=timeout)
        self.timings["stop_s"] = time.monotonic() - t0
        return self.timings["stop_s"]

    def start(self, timeout=420):
        t0 = time.monotonic()
        self.container.start()
        self.wait_healthy(timeout)
        self.timings["start_to_healthy_s"] = time.monotonic() - t0
        return self.timings["start_to_healthy_s"]

    def restart(self, timeout=420):
        """docker stop + start (same container, so the key file in its layer stays). Returns (stop_s, start_s)."""
        return self.stop(), self.start(timeout)

    def read_secret_key(self):
        bits, dummy = self.container.get_archive(KEY_PATH)
        with tarfile.open(fileobj=io.BytesIO(b"".join(bits))) as tf:
            return tf.extractfile(tf.getmembers()[0]).read().decode().strip()

    def logs(self, tail=60):
        return self.container.logs(tail=tail).decode("utf-8", "replace")

    def remove(self, keep_volume=False):
        try:
            self.container.remove(force=True)
        except Exception:  # noqa: BLE001 - already gone
            pass
        if not keep_volume:
            try:
                self.docker.volumes.get(self.volume_name).remove(force=True)
            except Exception:  # noqa: BLE001
                pass


def _tar_one_file(name, data, mode=0o600):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime, ti.uid, ti.gid = len(data), mode, int(time.time()), 0, 0
        tf.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def seed_volume(docker_client, volume_name, tarball=FIXTURE_TARBALL, container=None):
    """Extract the fixture DATA_DIR into the volume: into its Mountpoint when this process can write
    there (root on the Docker host), else through the (created, not started) container's archive API."""
    vol = docker_client.volumes.get(volume_name)
    mp = vol.attrs.get("Mountpoint")
    if mp and os.path.isdir(mp) and os.access(mp, os.W_OK):
        with tarfile.open(tarball, "r:gz") as tf:
            if hasattr(tarfile, "data_filter"):
                tf.extractall(mp, filter="fully_trusted")
            else:
                tf.extractall(mp)
        return "mountpoint"
    if container is None:
        raise RuntimeError("volume %s Mountpoint %r is not writable here and no container was given" % (volume_name, mp))
    with open(tarball, "rb") as fh:
        if not container.put_archive(DATA_DIR, fh.read()):
            raise RuntimeError("put_archive of %s into %s failed" % (tarball, container.name))
    return "put_archive"


def start_openwebui(docker_client=None, volume=None, seed_fixture=True, secret_key=FIXTURE_SECRET_KEY,
                    image=DEFAULT_IMAGE, port=None, name=None, env=None, wait=True, timeout=420, labels=None):
    """Run the real Open WebUI image like production: host networking, named volume at /app/backend/data.

    volume: name of an existing volume (e.g. one a restore wrote; pass seed_fixture=False to keep it as is),
            or None for a fresh uniquely named one (removed by .remove() unless keep_volume=True).
    seed_fixture: extract tests/fixtures/openwebui-0.12.4/data.tar.gz into the volume before start.
    secret_key: written to /app/backend/.webui_secret_key in the container layer before start (NOT via env,
            like a real deployment whose start script generated it); None lets the entrypoint generate one.
    Returns an OpenWebUIInstance; timings: create_s, seed_s, start_to_healthy_s. Caller must .remove().
    """
    if docker_client is None:
        import docker  # noqa: PLC0415 - the SDK is only needed for this half of the module
        docker_client = docker.from_env()
    try:
        docker_client.images.get(image)
    except Exception as e:  # noqa: BLE001 - docker.errors.ImageNotFound, without importing docker here
        raise RuntimeError("image %s not found: build it with %s" % (image, BUILD_SCRIPT)) from e
    suffix = uuid.uuid4().hex[:8]
    name = name or "owb-test-openwebui-%s" % suffix
    labels = dict(labels or {}, **{TEST_LABEL: "1"})
    timings = {}
    created_volume = False
    if volume is None:
        volume = "owb-test-owui-data-%s" % suffix
        docker_client.volumes.create(name=volume, labels=labels)
        created_volume = True
    port = port or free_loopback_port()
    environment = {"PORT": str(port)}
    environment.update(env or {})
    t0 = time.monotonic()
    container = docker_client.containers.create(
        image, name=name, network_mode="host", environment=environment, labels=labels,
        volumes={volume: {"bind": DATA_DIR, "mode": "rw"}}, detach=True)
    inst = OpenWebUIInstance(docker_client, container, volume, port, image, timings)
    try:
        timings["create_s"] = time.monotonic() - t0
        if seed_fixture:
            t1 = time.monotonic()
            timings["seed_method"] = seed_volume(docker_client, volume, container=container)
            timings["seed_s"] = time.monotonic() - t1
        if secret_key is not None:
            if not container.put_archive("/app/backend", _tar_one_file(".webui_secret_key", secret_key.encode())):
                raise RuntimeError("could not write %s into %s" % (KEY_PATH, name))
        if wait:
            inst.start(timeout=timeout)
        else:
            container.start()
    except BaseException:
        inst.remove(keep_volume=not created_volume)
        raise
    return inst
