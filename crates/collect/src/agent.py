#!/usr/bin/env python3
# esxlcm host agent: collects this ESXi host's state with localcli and posts it to an
# esxlcm service, or writes it to a file (a datastore path). For hosts where SSH is off.
# Printed by `esxlcm host agent-script`; needs only ESXi's own Python 3 (3.8+), no packages.
#
#   python3 esxlcm-agent.py --post https://esxlcm.example.com/ --user collector \
#       --password-file /vmfs/volumes/datastore1/esxlcm/password --ca-file /vmfs/volumes/datastore1/esxlcm/ca.pem
#   python3 esxlcm-agent.py --out /vmfs/volumes/datastore1/esxlcm/state.json
#
# Every command it runs only reads: localcli --formatter=json software baseimage get,
# software addon get, software component list, software vib list, hardware platform get,
# system version get. Exit status: 0 done, 2 failed (the message says why).

import argparse
import base64
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

VERSION = "@VERSION@"

# (document key, command, may the host lack it)
COMMANDS = [
    ("base_image", "software baseimage get", True),
    ("add_on", "software addon get", True),
    ("components", "software component list", True),
    ("vibs", "software vib list", False),
    ("hardware_platform", "hardware platform get", False),
    ("system_version", "system version get", False),
]


class Failed(Exception):
    pass


def excerpt(text, n):
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def run(tool, args, timeout):
    try:
        p = subprocess.run([tool, "--formatter=json"] + args.split(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
    except FileNotFoundError:
        raise Failed("%s is not on PATH (run this on an ESXi host, or give --tool)" % tool)
    except subprocess.TimeoutExpired:
        raise Failed("`%s %s` did not finish within %d s" % (tool, args, timeout))
    return p.returncode, p.stdout.decode("utf-8", "replace")


def collect(tool, name, timeout):
    doc = {}
    notes = []
    for key, args, optional in COMMANDS:
        status, text = run(tool, args, timeout)
        text = text.strip()
        command = "%s %s" % (tool, args)
        absent = [] if key == "components" else None
        lowered = text.lower()
        unknown = "unknown command or namespace" in lowered or "invalid command" in lowered
        if status != 0:
            if optional and (key == "add_on" or unknown):
                notes.append("`%s` answered with status %d: %s" % (command, status, excerpt(text, 200)))
                doc[key] = absent
                continue
            raise Failed("`%s` failed with exit status %d: %s" % (command, status, excerpt(text, 500)))
        if not text and optional:
            notes.append("`%s` printed nothing" % command)
            doc[key] = absent
            continue
        try:
            doc[key] = json.loads(text)
        except ValueError as e:
            if key == "base_image" and "\n" not in text and ":" in text:
                # ESXi 7.0 prints the base image as one line, ESXi:7.0.1-0.0.16850804.
                doc[key] = text
                continue
            raise Failed("`%s` did not print JSON (%s); its output begins: %s" % (command, e, excerpt(text, 120)))
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    doc["collected"] = {
        "host": name,
        "at": now.isoformat().replace("+00:00", "Z"),
        "method": "agent",
        "tool": os.path.basename(tool),
        "by": "esxlcm-agent " + VERSION,
    }
    return doc, notes


def write_atomically(path, data):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class Api:
    def __init__(self, service, cafile, insecure):
        base = service.rstrip("/")
        if not base.endswith("/api"):
            base += "/api"
        self.base = base
        if insecure:
            self.context = ssl._create_unverified_context()
        else:
            self.context = ssl.create_default_context(cafile=cafile)
        self.session = None

    def call(self, method, path, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.session:
            req.add_header("vmware-api-session-id", self.session)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=60) as resp:
                raw = resp.read(8 * 1024 * 1024)
                return resp.status, (json.loads(raw.decode("utf-8")) if raw else None)
        except urllib.error.HTTPError as e:
            raw = e.read(64 * 1024)
            try:
                err = json.loads(raw.decode("utf-8"))
                msgs = [m.get("default_message", "") for m in err.get("messages", [])]
                message = "%s: %s" % (err.get("error_type", "ERROR"), "; ".join(msgs))
            except ValueError:
                message = raw.decode("utf-8", "replace")[:300]
            raise Failed("%s %s: the service answered HTTP %d: %s" % (method, self.base + path, e.code, message))
        except urllib.error.URLError as e:
            raise Failed("%s: cannot reach the service: %s (for a certificate problem give --ca-file)" % (self.base, e.reason))

    def login(self, user, password):
        token = base64.b64encode(("%s:%s" % (user, password)).encode("utf-8")).decode("ascii")
        _, self.session = self.call("POST", "/session", headers={"Authorization": "Basic " + token})

    def post_state(self, name, doc):
        _, hosts = self.call("GET", "/esxlcm/hosts")
        host_id = None
        for hid, info in sorted((hosts or {}).items()):
            if info.get("name") == name:
                host_id = hid
        created = host_id is None
        if created:
            _, host_id = self.call("POST", "/esxlcm/hosts", {"name": name})
        self.call("PUT", "/esxlcm/hosts/%s/state" % host_id, doc)
        return host_id, created


def main():
    ap = argparse.ArgumentParser(description="Collect this ESXi host's state for esxlcm (read-only).")
    ap.add_argument("--post", metavar="URL", help="the esxlcm service, https://HOST[:PORT]/")
    ap.add_argument("--out", metavar="FILE", help="write the document here instead (e.g. on a datastore)")
    ap.add_argument("--name", default=socket.gethostname(), help="the host's name in the service (default: its hostname)")
    ap.add_argument("--user", help="service user (a role that may set host states)")
    ap.add_argument("--password-file", metavar="FILE", help="file holding the user's password (else ESXLCM_PASSWORD)")
    ap.add_argument("--token", metavar="SESSION", help="an API session id instead of --user (ESXLCM_TOKEN)")
    ap.add_argument("--ca-file", metavar="PEM", help="CA certificate of the service (its data dir's tls/ca.pem)")
    ap.add_argument("--insecure", action="store_true", help="do not verify the service's certificate (tests only)")
    ap.add_argument("--tool", default="localcli", help="localcli (default) or esxcli")
    ap.add_argument("--timeout", type=int, default=120, help="seconds allowed per command")
    args = ap.parse_args()
    if bool(args.post) == bool(args.out):
        ap.error("give exactly one of --post URL and --out FILE")
    try:
        doc, notes = collect(args.tool, args.name, args.timeout)
        for n in notes:
            print("note: " + n, file=sys.stderr)
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        if args.out:
            write_atomically(args.out, data)
            print("collected %s: written to %s" % (args.name, args.out))
            return 0
        api = Api(args.post, args.ca_file, args.insecure)
        token = args.token or os.environ.get("ESXLCM_TOKEN")
        if token:
            api.session = token
        else:
            if not args.user:
                raise Failed("--post needs --user (with --password-file or ESXLCM_PASSWORD) or --token")
            if args.password_file:
                with open(args.password_file) as f:
                    password = f.read().rstrip("\r\n")
            else:
                password = os.environ.get("ESXLCM_PASSWORD")
            if not password:
                raise Failed("no password: give --password-file FILE or set ESXLCM_PASSWORD")
            api.login(args.user, password)
        host_id, created = api.post_state(args.name, doc)
        print("collected %s: posted to %s as %s%s" % (args.name, args.post, host_id, " (registered)" if created else ""))
        if not token:
            try:
                api.call("DELETE", "/session")
            except Failed:
                pass
        return 0
    except Failed as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    except OSError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
