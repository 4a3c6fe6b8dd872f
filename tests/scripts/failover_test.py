#!/usr/bin/env python3
"""PostgreSQL failover under authd (API.md, HTTP behaviour: several hosts in AUTHD_DATABASE_URL).

A primary and a synchronous streaming standby (pg_basebackup -R) on two ports; authd is given both
with target_session_attrs=read-write. While a client signs up, logs in and checks sessions, the
primary is stopped with -m immediate and the standby promoted. authd must serve again without a
restart, and nothing it acknowledged (a 201 sign-up, a 200 login's session) may be missing after.
Then a new standby is made from the new primary on the freed port, and it happens again.

  failover_test.py AUTHD_BINARY [--rounds N] [--gap SECONDS]

Between the stop and the promotion (--gap, 1 s) requests go on: with only the read-only standby up
they get 503. Prints one line per round: seconds from the promotion until sign-ups, logins and
session checks are all answered again. Exits non-zero when anything acknowledged is lost or authd does not
come back within 60 s. Everything listens on 127.0.0.1 and is stopped by pid or pg_ctl.
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"
ROOT = os.geteuid() == 0


def as_owner(args, **kw):
    if ROOT:
        args = ["runuser", "-u", "postgres", "--"] + args
    return subprocess.run(args, check=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    def __init__(self, base, name, port):
        self.dir = os.path.join(base, name)
        self.data = os.path.join(self.dir, "data")
        self.port = port
        os.makedirs(self.dir)
        if ROOT:
            shutil.chown(self.dir, "postgres", "postgres")

    def start(self):
        as_owner([BIN + "/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w",
                  "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                  "-c max_connections=100", "start"])

    def stop(self, mode="fast"):
        subprocess.run((["runuser", "-u", "postgres", "--"] if ROOT else []) +
                       [BIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w", "stop"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql(self, sql, db="authd"):
        out = subprocess.run([BIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                              "-h", "127.0.0.1", "-p", str(self.port), "-U", "authd", "-d", db,
                              "-c", sql], check=True, stdout=subprocess.PIPE, text=True)
        return out.stdout.strip()


def primary(base, port):
    c = Cluster(base, "pg-a", port)
    as_owner([BIN + "/initdb", "-D", c.data, "-U", "authd", "--auth=trust", "-E", "UTF8",
              "--locale=C"])
    c.start()
    c.psql("CREATE DATABASE authd", db="postgres")
    return c


def standby_of(base, name, source, port):
    c = Cluster(base, name, port)
    as_owner([BIN + "/pg_basebackup", "-D", c.data, "-R", "-X", "stream", "-c", "fast", "-d",
              f"host=127.0.0.1 port={source.port} user=authd application_name={name}"])
    c.start()
    # Synchronous: a commit is answered only once the standby has it.
    source.psql(f"ALTER SYSTEM SET synchronous_standby_names = '{name}'")
    source.psql("SELECT pg_reload_conf()")
    deadline = time.time() + 30
    while source.psql(f"SELECT sync_state FROM pg_stat_replication "
                      f"WHERE application_name = '{name}'") != "sync":
        if time.time() > deadline:
            raise RuntimeError("the standby did not become synchronous")
        time.sleep(0.1)
    return c


def request(port, method, path, body=None, token=None, timeout=5):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        r = conn.getresponse()
        return r.status, r.read()
    except OSError:
        return 0, b""
    finally:
        conn.close()


class Client:
    """Sign-ups, logins and session checks, with a ledger of what authd acknowledged."""

    def __init__(self, port):
        self.port = port
        self.n = 0
        self.users = []  # acknowledged sign-ups
        self.tokens = []  # acknowledged sessions
        self.statuses = {}

    def step(self):
        self.n += 1
        name = f"user{self.n}"
        s, _ = request(self.port, "POST", "/api/v1/signup",
                       {"username": name, "email": name + "@example.com",
                        "password": "correct horse"})
        self.statuses[s] = self.statuses.get(s, 0) + 1
        ok = {"signup": s == 201}
        if s == 201:
            self.users.append(name)
        if self.users:
            who = self.users[-1]
            s, body = request(self.port, "POST", "/api/v1/login",
                              {"username": who, "password": "correct horse"})
            self.statuses[s] = self.statuses.get(s, 0) + 1
            ok["login"] = s == 200
            if s == 200:
                self.tokens.append(json.loads(body)["token"])
        if self.tokens:
            s, _ = request(self.port, "GET", "/api/v1/me", token=self.tokens[0])
            self.statuses[s] = self.statuses.get(s, 0) + 1
            ok["me"] = s == 200
        return ok


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("authd")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--gap", type=float, default=1.0,
                        help="seconds between the primary's stop and the promotion")
    args = parser.parse_args()

    base = tempfile.mkdtemp(prefix="authd-failover-")
    os.chmod(base, 0o711)
    ports = [free_port(), free_port()]
    clusters = []
    authd = None
    failed = False
    try:
        a = primary(base, ports[0])
        clusters.append(a)
        b = standby_of(base, "pg_b", a, ports[1])
        clusters.append(b)
        http_port = free_port()
        env = dict(os.environ,
                   AUTHD_DATABASE_URL=f"postgresql://authd@127.0.0.1:{ports[0]},127.0.0.1:"
                                      f"{ports[1]}/authd?target_session_attrs=read-write",
                   AUTHD_LISTEN=f"127.0.0.1:{http_port}", AUTHD_PBKDF2_ITERATIONS="1000",
                   AUTHD_SIGNUP_LIMIT_ADDRESS="off", AUTHD_LOGIN_LIMIT_ADDRESS="1000000/15m",
                   AUTHD_LOGIN_LIMIT_ACCOUNT="1000000/15m", AUTHD_BACKUP_DIR=base + "/backups",
                   AUTHD_DB_TIMEOUT="2s")
        log = open(os.path.join(base, "authd.log"), "w")
        authd = subprocess.Popen([args.authd, "serve"], env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
        for _ in range(200):
            if request(http_port, "GET", "/readyz")[0] == 200:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("authd did not become ready")
        client = Client(http_port)
        current, spare = a, b
        times = []
        for round_no in range(1, args.rounds + 1):
            end = time.time() + 2
            while time.time() < end:
                client.step()
            acked_users, acked_tokens = len(client.users), len(client.tokens)
            stopped = time.time()
            current.stop("immediate")
            # No primary for a moment: only the read-only standby answers, and authd must not
            # write there (503 meanwhile, never a 500).
            during = {}
            end = time.time() + args.gap
            while time.time() < end:
                for what, good in client.step().items():
                    during[what] = during.get(what, 0) + (0 if good else 1)
            as_owner([BIN + "/pg_ctl", "-D", spare.data, "-w", "promote"])
            promoted = time.time()
            back = {}
            while len(back) < 3:
                ok = client.step()
                now = time.time() - stopped
                for what, good in ok.items():
                    if good and what not in back:
                        back[what] = now
                if now > 60:
                    raise RuntimeError(f"authd did not come back within 60 s: {back}")
            served = max(back.values())
            after_promotion = served - (promoted - stopped)
            times.append(after_promotion)
            print(f"round {round_no}: primary stopped; {args.gap:.0f} s without a primary "
                  f"({sum(during.values())} requests refused); promoted after "
                  f"{promoted - stopped:.2f} s; sign-ups, logins and session checks served again "
                  f"{after_promotion:.2f} s after the promotion ({served:.2f} s after the stop; "
                  f"acknowledged before: {acked_users} sign-ups, {acked_tokens} sessions)",
                  flush=True)
            # Nothing acknowledged is missing from the new primary.
            names = set(spare.psql("SELECT string_agg(username, ',') FROM users").split(","))
            lost_users = [u for u in client.users if u not in names]
            lost_sessions = [t for t in client.tokens
                             if request(http_port, "GET", "/api/v1/me", token=t)[0] != 200]
            if lost_users or lost_sessions:
                print(f"LOST: {len(lost_users)} sign-ups, {len(lost_sessions)} sessions",
                      flush=True)
                failed = True
                break
            end = time.time() + 1
            while time.time() < end:
                client.step()
            if round_no < args.rounds:
                # The old primary's port gets a new standby of the new primary.
                old_port = current.port
                shutil.rmtree(current.dir)
                clusters.remove(current)
                current, spare = spare, standby_of(base, f"pg_r{round_no}", spare, old_port)
                clusters.append(spare)
        print(f"failover: {len(times)} rounds, served again p50 {statistics.median(times):.2f} s "
              f"(max {max(times):.2f} s) after the promotion; statuses {dict(sorted(client.statuses.items()))}; "
              f"{len(client.users)} sign-ups and {len(client.tokens)} sessions acknowledged"
              + (", some LOST" if failed else ", none lost"),
              flush=True)
        # Only what a failover may answer: the successes, and 503 while no primary is there.
        unexpected = {s: n for s, n in client.statuses.items() if s not in (200, 201, 503)}
        if unexpected:
            print(f"unexpected statuses: {unexpected}", flush=True)
            failed = True
    finally:
        if authd:
            authd.send_signal(signal.SIGTERM)
            try:
                authd.wait(20)
            except subprocess.TimeoutExpired:
                authd.kill()
        for c in clusters:
            c.stop("immediate")
        if failed or os.environ.get("AUTHD_TEST_KEEP_OUTPUT"):
            try:
                print(open(os.path.join(base, "authd.log")).read()[-4000:])
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
