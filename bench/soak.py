#!/usr/bin/env python3
"""The soak benchmark: minutes of mixed traffic with faults against the release binary, then three verdicts.

    bench/soak [--seconds 600] [--out FILE]

Traffic (Python threads, keep-alive connections): reads of users and pages; writes — users created, their job
title changed, some deactivated — each remembered once the server acknowledged it; and faults: clients that send
half a request and wait, or nothing at all, bodies trickled and abandoned, connections dropped mid-request, large
answers asked for and never read, and bodies no parser should take (broken JSON, form names nested thousands deep,
invalid UTF-8, JSON sent as a form).

Verdicts, written to bench/results/soak-<date>.md (printed as pass/miss, never asserted):
- RSS flat: the median anonymous RSS (the heap; SQLite's mapped database pages grow with the data and are left
  out) of the last tenth of the run within 10 % of the median of the second tenth (the first tenth warms up caches
  and pools);
- no 5xx, from any request, faulty or not;
- every acknowledged write present afterwards: each created user exists, with the last job title acknowledged,
  and deactivated users are inactive.
"""

import argparse
import datetime
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOCALZOOM = os.path.join(ROOT, "target", "release", "localzoom")
ACCOUNT, CLIENT, SECRET = "SoakAccount00000000000", "soak-client", "soak-secret-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Tally:
    """Counts shared by the threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.by_status = {}
        self.server_errors = []
        self.socket_errors = 0
        self.created = {}  # user id or e-mail -> last acknowledged job title (None: created, not changed)
        self.deactivated = set()

    def status(self, what, status):
        with self.lock:
            self.by_status[status] = self.by_status.get(status, 0) + 1
            if status >= 500 and len(self.server_errors) < 20:
                self.server_errors.append(f"{what}: {status}")


class Client:
    """One keep-alive connection, reopened when the server closes it."""

    def __init__(self, port, token):
        self.port, self.token, self.conn = port, token, None

    def call(self, method, path, body=None, headers=None, raw=None):
        all_headers = {"Authorization": f"Bearer {self.token}"}
        if body is not None:
            raw = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                self.conn.request(method, path, body=raw, headers=all_headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, data
            except (http.client.HTTPException, OSError):
                self.conn = None
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")


def worker(port, token, deadline, tally, seed, seeded):
    """`seeded`: the e-mails of the pre-seeded users this worker alone updates (so the last title it saw
    acknowledged is the one to find)."""
    rng = random.Random(seed)
    client = Client(port, token)
    mine = []
    n = 0
    while time.monotonic() < deadline:
        n += 1
        try:
            roll = rng.random()
            if roll < 0.25 and seeded:
                email = rng.choice(seeded)
                title = f"title-{seed}-{n}"
                path = f"/v2/users/{email}"
                status, _ = client.call("PATCH", path, {"job_title": title}) if roll < 0.1 \
                    else client.call("GET", path)
                tally.status("seeded", status)
                if roll < 0.1 and status == 204:
                    with tally.lock:
                        tally.created[email] = title
            elif roll < 0.30 or not mine:
                email = f"soak-{seed}-{n}@soak.localzoom.test"
                status, data = client.call("POST", "/v2/users", {
                    "action": "custCreate", "user_info": {"email": email, "type": 2}})
                tally.status("create", status)
                if status == 201:
                    uid = json.loads(data)["id"]
                    mine.append(uid)
                    with tally.lock:
                        tally.created[uid] = None
            elif roll < 0.45:
                uid = rng.choice(mine)
                title = f"title-{seed}-{n}"
                status, _ = client.call("PATCH", f"/v2/users/{uid}", {"job_title": title})
                tally.status("update", status)
                if status == 204:
                    with tally.lock:
                        tally.created[uid] = title
            elif roll < 0.47:
                uid = rng.choice(mine)
                status, _ = client.call("PUT", f"/v2/users/{uid}/status", {"action": "deactivate"})
                tally.status("deactivate", status)
                if status == 204:
                    with tally.lock:
                        tally.deactivated.add(uid)
            elif roll < 0.85:
                status, _ = client.call("GET", f"/v2/users/{rng.choice(mine)}")
                tally.status("get", status)
            else:
                status, _ = client.call("GET", f"/v2/users?page_size={rng.choice([1, 30, 300])}")
                tally.status("list", status)
        except (http.client.HTTPException, OSError):
            with tally.lock:
                tally.socket_errors += 1


BAD_BODIES = [
    ("application/json", b'{"action": '),
    ("application/json", b"[" * 5000),
    ("application/x-www-form-urlencoded", b".".join([b"a"] * 15000) + b"=1"),
    ("application/x-www-form-urlencoded", b"a" + b"[a]" * 10000 + b"=1"),
    ("application/x-www-form-urlencoded", b"password=Valid1Pass%FF"),
    ("application/x-www-form-urlencoded", b'{"action":"deactivate"}'),
    ("multipart/form-data; boundary=X", b"--X\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\xff\r\n--X--"),
]


def faults(port, token, deadline, tally, seed):
    rng = random.Random(seed)
    client = Client(port, token)
    while time.monotonic() < deadline:
        kind = rng.randrange(6)
        try:
            if kind == 0:
                content_type, raw = rng.choice(BAD_BODIES)
                status, _ = client.call("PUT", "/v2/users/me/status", raw=raw,
                                        headers={"Content-Type": content_type})
                tally.status("bad body", status)
            else:
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                if kind == 1:  # half a request, then silence until the server gives up
                    s.sendall(b"GET /v2/users/me HTTP/1.1\r\nHost: soak\r\n")
                    s.settimeout(15)
                    try:
                        s.recv(1024)
                    except OSError:
                        pass
                elif kind == 2:  # a body announced, trickled, abandoned
                    s.sendall(f"PUT /v2/users/me/status HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {token}\r\n"
                              "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode())
                    time.sleep(rng.uniform(0.1, 1.0))
                elif kind == 3:  # dropped mid-request
                    s.sendall(b"POST /v2/users HTTP/1.1\r\nHost: soak\r\nContent-Length: 50\r\n\r\n{\"act")
                elif kind == 4:  # connected, and nothing sent at all
                    s.settimeout(15)
                    try:
                        s.recv(1024)
                    except OSError:
                        pass
                else:  # large answers asked for and never read
                    ask = f"GET /v2/users?page_size=2000 HTTP/1.1\r\nHost: soak\r\nAuthorization: Bearer {token}\r\n\r\n"
                    s.sendall(ask.encode() * 20)
                    time.sleep(rng.uniform(1.0, 4.0))
                s.close()
        except OSError:
            with tally.lock:
                tally.socket_errors += 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=int, default=600)
    p.add_argument("--workers", type=int, default=6)
    p.add_argument("--faulty", type=int, default=4)
    p.add_argument("--seed-users", type=int, default=300_000,
                   help="users seeded first, so the database outgrows SQLite's caches before the run measures")
    p.add_argument("--out", help="results file (default bench/results/soak-<date>.md)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on a 5xx, a lost write or a dead server (CI); RSS is reported, never asserted")
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="localzoom-soak-")
    port = free_port()
    log = open(os.path.join(tmp, "server.log"), "w")
    credentials = ["--account-id", ACCOUNT, "--client-id", CLIENT, "--client-secret", SECRET]
    if args.seed_users:
        subprocess.run([LOCALZOOM, "seed", "--users", str(args.seed_users), "--database", f"sqlite://{tmp}/soak.db"]
                       + credentials, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = subprocess.Popen(
        [LOCALZOOM, "serve", "--listen", f"127.0.0.1:{port}", "--database", f"sqlite://{tmp}/soak.db",
         "--rate-limits", "off", "--read-timeout", "2", "--account-id", ACCOUNT, "--client-id", CLIENT,
         "--client-secret", SECRET, "--history-key-file", f"{tmp}/history.key"],
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        conn = http.client.HTTPConnection("127.0.0.1", port)
        import base64
        basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
        conn.request("POST", f"/oauth/token?grant_type=account_credentials&account_id={ACCOUNT}",
                     headers={"Authorization": f"Basic {basic}"})
        token = json.loads(conn.getresponse().read())["access_token"]
        # Tokens live an hour; a soak of more needs a fresh one now and then — not needed up to 50 minutes.
        tally = Tally()
        started = time.monotonic()
        deadline = started + args.seconds
        seeded = [f"seed{n}@seed.localzoom.test" for n in range(args.seed_users)]
        threads = [threading.Thread(target=worker, args=(port, token, deadline, tally, i, seeded[i::args.workers]))
                   for i in range(args.workers)]
        threads += [threading.Thread(target=faults, args=(port, token, deadline, tally, 1000 + i))
                    for i in range(args.faulty)]
        for t in threads:
            t.start()
        samples = []
        while time.monotonic() < deadline:
            samples.append((rss_mb(server.pid, "RssAnon"), rss_mb(server.pid, "VmRSS")))
            time.sleep(max(0.2, args.seconds / 300))
        for t in threads:
            t.join()
        alive = server.poll() is None

        # Every acknowledged write, read back.
        checker = Client(port, token)
        missing = []
        for uid, title in tally.created.items():
            status, data = checker.call("GET", f"/v2/users/{uid}")
            user = json.loads(data) if status == 200 else {}
            expected_status = "inactive" if uid in tally.deactivated else "active"
            if status != 200 or (title is not None and user.get("job_title") != title) \
                    or user.get("status") != expected_status:
                missing.append(f"{uid}: {status} {user.get('job_title')!r}/{title!r} {user.get('status')}")
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
        log.close()

    tenth = max(1, len(samples) // 10)
    early = statistics.median(a for a, _ in samples[tenth:2 * tenth]) if len(samples) >= 3 else 0
    late = statistics.median(a for a, _ in samples[-tenth:]) if samples else 0
    growth = (late / early - 1) if early else 0.0
    requests = sum(tally.by_status.values())
    server_errors = sum(c for s, c in tally.by_status.items() if s >= 500)
    verdict = lambda ok: "pass" if ok else "**miss**"
    lines = [
        f"# localzoom soak — {datetime.date.today().isoformat()}",
        "",
        f"Measured by `bench/soak --seconds {args.seconds}`: {args.seed_users:,} users seeded, then "
        f"{args.workers} clients of mixed traffic and "
        f"{args.faulty} faulty ones against the release binary (SQLite, rate limits off, read timeout 2 s), on this "
        "2-core machine with the clients sharing the cores.",
        "",
        "| verdict | measured | target |",
        "|---|---|---|",
        f"| RSS flat (anonymous memory: the heap, not the database pages SQLite maps) | {early:.1f} MB in the "
        f"second tenth → {late:.1f} MB in the last ({growth:+.1%}) | within 10 %: "
        f"{verdict(abs(growth) <= 0.10)} |",
        f"| no 5xx | {server_errors} of {requests:,} answers | 0: {verdict(server_errors == 0)} |",
        f"| acknowledged writes present | {len(tally.created) - len(missing):,} of {len(tally.created):,} users "
        f"created or changed, of {args.seed_users:,} seeded "
        f"({len(tally.deactivated):,} deactivated) | all: {verdict(not missing)} |",
        f"| server alive at the end | {'yes' if alive else 'no'} | yes: {verdict(alive)} |",
        "",
        "Answers by status: " + ", ".join(f"{s}: {c:,}" for s, c in sorted(tally.by_status.items())) + ".",
        f"Socket errors on the clients' side (expected from the faulty clients): {tally.socket_errors:,}.",
        "",
        "Anonymous RSS over the run (MB): " + " ".join(f"{a:.1f}" for a, _ in samples[::max(1, len(samples) // 20)]),
        "",
        "Total RSS, with the database's mapped pages, which grow with the data (MB): "
        + " ".join(f"{r:.0f}" for _, r in samples[::max(1, len(samples) // 20)]),
    ]
    if tally.server_errors or missing:
        lines += ["", "First problems:", *[f"- {e}" for e in tally.server_errors + missing[:20]]]
    text = "\n".join(lines) + "\n"
    out = args.out or os.path.join(ROOT, "bench", "results", f"soak-{datetime.date.today().isoformat()}.md")
    with open(out, "w") as f:
        f.write(text)
    print(text)
    print(f"results written to {out}")
    shutil.rmtree(tmp, ignore_errors=True)
    if args.strict and (server_errors or missing or not alive):
        sys.exit("soak: FAILED: a 5xx, a lost write or a dead server (see above)")


if __name__ == "__main__":
    main()
