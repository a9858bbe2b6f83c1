"""Fixtures for driving `esxlcm serve` with the unmodified official Python SDK.

The server is started once per test session on a free loopback port with a fresh data
dir; its generated CA is the only trust anchor. Build the binary first
(`cargo build -p esxlcm`, done by scripts/test-sdk.sh); ESXLCM_BIN overrides its path.
"""

import json
import os
import pathlib
import subprocess
import sys
import time

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
ADMIN = ("administrator@vsphere.local", "Adm1n!pass")
VIEWER = ("viewer", "just-looking")
EDITOR = ("editor@vsphere.local", "Ed1tor!pass")


def esxlcm_bin():
    if os.environ.get("ESXLCM_BIN"):
        return pathlib.Path(os.environ["ESXLCM_BIN"])
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "debug" / "esxlcm"


class Server:
    def __init__(self, data_dir):
        self.data_dir = pathlib.Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Users the way an operator adds them: clear text, hashed on start. A second
        # administrator edits drafts concurrently; the viewer is read-only.
        users = [
            {"name": ADMIN[0], "role": "admin", "password": ADMIN[1]},
            {"name": EDITOR[0], "role": "admin", "password": EDITOR[1]},
            {"name": VIEWER[0], "role": "read_only", "password": VIEWER[1]},
        ]
        (self.data_dir / "config.json").write_text(json.dumps({"users": users}))
        binary = os.environ.get("ESXLCM_SERVE_BIN") or str(esxlcm_bin())
        if not pathlib.Path(binary).exists():
            pytest.fail(f"{binary} does not exist: build it with `cargo build -p esxlcm` (or set ESXLCM_BIN)")
        env = dict(os.environ, ESXLCM_ADMIN_USER=ADMIN[0], ESXLCM_ADMIN_PASSWORD=ADMIN[1])
        self.proc = subprocess.Popen(
            [binary, "serve", "--no-demo", "--data-dir", str(self.data_dir), "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=sys.stderr,
            env=env,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        # "listening on https://127.0.0.1:PORT/api"
        if not line.startswith("listening on https://"):
            self.stop()
            pytest.fail(f"unexpected first line from the server: {line!r}")
        self.host = line[len("listening on https://"):].split("/")[0]
        self.ca = str(self.data_dir / "tls" / "ca.pem")

    def session(self):
        s = requests.Session()
        s.verify = self.ca
        # REQUESTS_CA_BUNDLE or proxy variables must not override the CA or route loopback away.
        s.trust_env = False
        return s

    def rest_login(self, user, password):
        r = self.session().post(f"https://{self.host}/api/session", auth=(user, password))
        assert r.status_code == 201, r.text
        return r.json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("esxlcm-data"))
    yield srv
    srv.stop()


def connect(server, user, password):
    from vmware.vapi.vsphere.client import create_vsphere_client

    return create_vsphere_client(server=server.host, username=user, password=password, session=server.session())


@pytest.fixture(scope="session")
def admin(server):
    return connect(server, *ADMIN)


@pytest.fixture
def make_bundle(tmp_path):
    """Generate a synthetic offline bundle (distinct seeds give distinct bundles)."""

    def make(seed):
        out = tmp_path / f"bundle-{seed}.zip"
        subprocess.run(
            [str(esxlcm_bin()), "depot", "generate", "--preset", "tiny", "--seed", str(seed), "--out", str(out)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        inspected = subprocess.run(
            [str(esxlcm_bin()), "depot", "inspect", str(out), "--json"], check=True, capture_output=True, text=True
        )
        return out, json.loads(inspected.stdout)

    return make


def wait_task(task, timeout=60):
    """Poll a vAPI Task (the SDK has no wait loop) until it ends; returns (info, progress seen)."""
    seen = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        info = task.get_info()
        if info.progress is not None:
            seen.append(info.progress.completed)
        if info.status in ("SUCCEEDED", "FAILED"):
            return info, seen
        time.sleep(0.05)
    raise AssertionError(f"task {task.get_task_id()} did not finish")


class Rest:
    """esxlcm's own inventory has no SDK stubs: it is driven over REST."""

    def __init__(self, server, user):
        self.server = server
        self.http = server.session()
        self.http.headers["vmware-api-session-id"] = server.rest_login(*user)

    def call(self, method, path, body=None, expect=200):
        r = self.http.request(method, f"https://{self.server.host}/api{path}", json=body)
        assert r.status_code == expect, (r.status_code, r.text)
        return r.json() if r.text else None
