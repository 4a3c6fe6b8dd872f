#!/usr/bin/env python3
"""A soak under faults (issue: fault tolerance): mixed traffic against authd while faults are
injected on a schedule, then a ledger of every acknowledged write is compared with the database.

  soak.py AUTHD_BINARY [--seconds N] [--clients N]

Traffic, from N client threads: sign-ups, logins, session checks (/api/v1/me), front-door
verdicts (/api/v1/authz/auth-request), logouts, and backups (admin token). Faults, in turn, every
--seconds/7 seconds: PostgreSQL restarted (pg_ctl restart -m fast); a backend SIGSTOPped for 5 s;
the backup directory full (a 64 MiB tmpfs filled; needs root, else a read-only directory); client
connections cut mid-request; authd restarted with SIGTERM (it must drain and exit 0).

The ledger: every 201 sign-up must be a user, every 200 login's session must still be valid
unless its logout was acknowledged (then it must be refused), every 201 backup must have its row
and its whole file (sha256), unless AUTHD_BACKUP_KEEP (3) pruned it, row and file. Prints requests by status, 5xx by code, writes lost (must be 0), RSS
at start and end, faults injected; exits non-zero on a loss, a 500, or authd exiting badly.
Everything listens on 127.0.0.1 and is stopped by pid.
"""
import argparse
import collections
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT_DIR = os.path.dirname(os.path.dirname(HERE))
PG = os.path.join(ROOT_DIR, "scripts", "pg")
PGBIN = "/usr/lib/postgresql/15/bin"
ADMIN = "soak-admin-token-of-at-least-32-characters"
IS_ROOT = os.geteuid() == 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.users = []
        self.sessions = {}  # token -> ended (logout acknowledged)
        self.unsure = set()  # a logout was sent but its answer lost: either outcome is right
        self.backups = []  # (id, sha256)
        self.statuses = collections.Counter()
        self.five_xx = collections.Counter()
        self.n = 0

    def next_name(self):
        with self.lock:
            self.n += 1
            return f"soak{self.n}"

    def count(self, route, status, body):
        if status == 0:
            time.sleep(0.05)  # no answer (authd restarting): do not spin
        with self.lock:
            self.statuses[status] += 1
            if status >= 500:
                try:
                    code = json.loads(body).get("code", "?")
                except ValueError:
                    code = "?"
                self.five_xx[f"{route} {status} {code}"] += 1


def call(port, method, path, body=None, headers=None, timeout=15):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    try:
        conn.request(method, path, json.dumps(body) if body is not None else None, h)
        r = conn.getresponse()
        return r.status, r.read()
    except OSError:
        return 0, b""  # refused or cut: authd restarting, or a fault of ours
    finally:
        conn.close()


class Authd:
    def __init__(self, binary, env, log):
        self.binary, self.env, self.log = binary, env, log
        self.proc = None
        self.exits = []

    def start(self):
        self.proc = subprocess.Popen([self.binary, "serve"], env=self.env, stdout=self.log,
                                     stderr=subprocess.STDOUT)
        port = int(self.env["AUTHD_LISTEN"].rsplit(":", 1)[1])
        for _ in range(300):
            if call(port, "GET", "/healthz", timeout=1)[0] == 200:
                return
            time.sleep(0.05)
        raise RuntimeError("authd did not start")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def restart(self):
        self.proc.send_signal(signal.SIGTERM)
        self.exits.append(self.proc.wait(30))
        self.start()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.exits.append(self.proc.wait(30))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.exits.append(-9)


def client(port, ledger, stop, admin_rate):
    rnd = random.Random()
    mine = []  # this client's live sessions
    while not stop.is_set():
        roll = rnd.random()
        if roll < 0.2 or not mine:
            name = ledger.next_name()
            s, b = call(port, "POST", "/api/v1/signup",
                        {"username": name, "email": name + "@example.com",
                         "password": "correct horse"})
            ledger.count("signup", s, b)
            if s == 201:
                with ledger.lock:
                    ledger.users.append(name)
                s, b = call(port, "POST", "/api/v1/login",
                            {"username": name, "password": "correct horse"})
                ledger.count("login", s, b)
                if s == 200:
                    token = json.loads(b)["token"]
                    with ledger.lock:
                        ledger.sessions[token] = False
                    mine.append(token)
        elif roll < 0.55:
            s, b = call(port, "GET", "/api/v1/me",
                        headers={"Authorization": "Bearer " + rnd.choice(mine)})
            ledger.count("me", s, b)
        elif roll < 0.85:
            s, b = call(port, "GET", "/api/v1/authz/auth-request",
                        headers={"Authorization": "Bearer " + rnd.choice(mine),
                                 "X-Original-URL": "https://app.example.com/page",
                                 "X-Original-Method": "GET"})
            ledger.count("authz", s, b)
        elif roll < 0.95:
            token = mine.pop(rnd.randrange(len(mine)))
            s, b = call(port, "POST", "/api/v1/logout",
                        headers={"Authorization": "Bearer " + token})
            ledger.count("logout", s, b)
            if s == 204:
                with ledger.lock:
                    ledger.sessions[token] = True
            elif s == 0 or s >= 500:
                with ledger.lock:
                    ledger.unsure.add(token)  # sent, answer lost: ended or not, both are right
        elif rnd.random() < admin_rate:
            s, b = call(port, "POST", "/api/v1/admin/backups",
                        headers={"Authorization": "Bearer " + ADMIN}, timeout=60)
            ledger.count("backup", s, b)
            if s == 201:
                info = json.loads(b)
                with ledger.lock:
                    ledger.backups.append((info["id"], info["file"], info["sha256"]))


def cut_connections(port, n=20):
    """Requests cut off in the middle: headers half sent, a body promised and not sent."""
    for i in range(n):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if i % 2:
                    s.sendall(b"POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              b"application/json\r\nContent-Length: 200\r\n\r\n{\"usern")
                else:
                    s.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthori")
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        except OSError:
            pass


def psql(url, sql):
    out = subprocess.run([PGBIN + "/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", url,
                          "-c", sql], check=True, stdout=subprocess.PIPE, text=True)
    return out.stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("authd")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    base = tempfile.mkdtemp(prefix="authd-soak-")
    os.chmod(base, 0o711)
    pgdir = os.path.join(base, "pg")
    os.makedirs(pgdir)
    os.chmod(pgdir, 0o711)
    backups = os.path.join(base, "backups")
    os.makedirs(backups)
    mounted = False
    if IS_ROOT:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m,mode=0700", "tmpfs",
                                  backups]).returncode == 0
    url = subprocess.run([PG, "start", pgdir], check=True, stdout=subprocess.PIPE,
                         text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    env = dict(os.environ, AUTHD_DATABASE_URL=url, AUTHD_LISTEN=f"127.0.0.1:{port}",
               AUTHD_PBKDF2_ITERATIONS="1000", AUTHD_SIGNUP_LIMIT_ADDRESS="off",
               AUTHD_LOGIN_LIMIT_ADDRESS="1000000/15m", AUTHD_LOGIN_LIMIT_ACCOUNT="1000000/15m",
               AUTHD_ADMIN_TOKEN=ADMIN, AUTHD_BACKUP_DIR=backups, AUTHD_BACKUP_KEEP="3",
               AUTHD_DB_TIMEOUT="2s", AUTHD_IO_THREADS="2", AUTHD_HASH_THREADS="2")
    # The sanitizers' settings of scripts/test, when run by hand: libpqxx 6.4's known leak on a
    # broken connection is suppressed there (tests/lsan.supp), so it is here.
    env.setdefault("LSAN_OPTIONS", f"suppressions={ROOT_DIR}/tests/lsan.supp:print_suppressions=0")
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
    log = open(os.path.join(base, "authd.log"), "w")
    authd = Authd(args.authd, env, log)
    faults = collections.Counter()
    failed = []
    stop = threading.Event()
    threads = []
    try:
        authd.start()
        rss_start = authd.rss_kib()
        for _ in range(args.clients):
            t = threading.Thread(target=client, args=(port, ledger, stop, 0.1), daemon=True)
            t.start()
            threads.append(t)
        schedule = ["pg_restart", "sigstop", "disk_full", "cut", "authd_restart", "sigstop",
                    "pg_restart", "cut", "disk_full", "authd_restart"]
        step = args.seconds / 7
        started = time.time()
        i = 0
        while time.time() - started < args.seconds:
            time.sleep(min(step, max(0.0, args.seconds - (time.time() - started))))
            if time.time() - started >= args.seconds:
                break
            fault = schedule[i % len(schedule)]
            i += 1
            print(f"{time.time() - started:6.1f} s: {fault}", flush=True)
            if fault == "pg_restart":
                subprocess.run([PG, "stop", pgdir], check=True, stdout=subprocess.DEVNULL)
                time.sleep(1)
                subprocess.run([PG, "start", pgdir], check=True, stdout=subprocess.DEVNULL)
            elif fault == "sigstop":
                pids = psql(url, "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE "
                                 "datname = 'authd' AND backend_type = 'client backend' AND "
                                 "pid <> pg_backend_pid()")
                if pids:
                    victim = int(random.choice(pids.split(",")))
                    os.kill(victim, signal.SIGSTOP)
                    time.sleep(5)
                    os.kill(victim, signal.SIGCONT)
            elif fault == "disk_full":
                filler = os.path.join(backups, "filler")
                if mounted:
                    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
                    try:
                        while os.write(fd, b"\0" * 65536) > 0:
                            pass
                    except OSError:
                        pass  # full
                    finally:
                        os.close(fd)
                else:
                    os.chmod(backups, 0o500)
                s, b = call(port, "POST", "/api/v1/admin/backups",
                            headers={"Authorization": "Bearer " + ADMIN}, timeout=60)
                ledger.count("backup", s, b)
                if s == 201:
                    failed.append("a backup was acknowledged with its directory full")
                elif s != 503 and s != 409:
                    failed.append(f"a backup with its directory full answered {s}")
                if mounted:
                    os.remove(filler)
                else:
                    os.chmod(backups, 0o700)
            elif fault == "cut":
                cut_connections(port)
            elif fault == "authd_restart":
                authd.restart()
            faults[fault] += 1
        stop.set()
        for t in threads:
            t.join(60)
        rss_end = authd.rss_kib()

        # The ledger against the database (authd still running for session checks).
        names = set(filter(None, psql(url, "SELECT string_agg(username, ',') FROM users")
                           .split(",")))
        lost_users = [u for u in ledger.users if u not in names]
        lost_sessions, revived = 0, 0
        for token, ended in ledger.sessions.items():
            if token in ledger.unsure:
                continue
            s, _ = call(port, "GET", "/api/v1/me", headers={"Authorization": "Bearer " + token})
            if ended and s != 401:
                revived += 1
            if not ended and s == 401:
                lost_sessions += 1
        lost_backups = 0
        newest = sorted(b[0] for b in ledger.backups)[-3:]  # AUTHD_BACKUP_KEEP
        for backup_id, name, sha in ledger.backups:
            row = psql(url, f"SELECT sha256 FROM backups WHERE id = {int(backup_id)}")
            path = os.path.join(backups, name)
            if not row and not os.path.exists(path) and backup_id not in newest:
                continue  # pruned beyond AUTHD_BACKUP_KEEP, file and row, as it should be
            if row != sha or not os.path.exists(path):
                lost_backups += 1
                continue
            with open(path, "rb") as f:
                if hashlib.sha256(f.read()).hexdigest() != sha:
                    lost_backups += 1
        authd.stop()
        bad_exits = [e for e in authd.exits if e != 0]
        print(json.dumps({
            "seconds": round(time.time() - started, 1),
            "requests_by_status": dict(sorted(ledger.statuses.items())),
            "5xx_by_cause": dict(sorted(ledger.five_xx.items())),
            "acknowledged": {"sign_ups": len(ledger.users), "sessions": len(ledger.sessions),
                             "logouts": sum(ledger.sessions.values()),
                             "backups": len(ledger.backups)},
            "lost": {"sign_ups": len(lost_users), "sessions": lost_sessions,
                     "backups": lost_backups},
            "ended_sessions_still_valid": revived,
            "rss_kib": {"start": rss_start, "end": rss_end},
            "faults": dict(faults),
            "authd_exit_codes": authd.exits,
            "backup_dir": "tmpfs 64 MiB" if mounted else "read-only directory",
        }, indent=1), flush=True)
        if lost_users or lost_sessions or lost_backups:
            failed.append("acknowledged writes were lost")
        if revived:
            failed.append("sessions whose logout was acknowledged still worked")
        if any(k.split()[1] == "500" for k in ledger.five_xx):
            failed.append("a 500 was answered")
        if bad_exits:
            failed.append(f"authd exited with {bad_exits}")
        missing = {"pg_restart", "sigstop", "disk_full", "cut", "authd_restart"} - set(faults)
        if missing:
            failed.append(f"faults not injected (too short a run): {sorted(missing)}")
    finally:
        stop.set()
        if authd.proc and authd.proc.poll() is None:
            authd.proc.kill()
        subprocess.run([PG, "stop", "--remove", pgdir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        if mounted:
            subprocess.run(["umount", backups])
        if failed or os.environ.get("AUTHD_TEST_KEEP_OUTPUT"):
            try:
                kept = os.path.join(tempfile.gettempdir(), "authd-soak-last.log")
                shutil.copy(os.path.join(base, "authd.log"), kept)
                lines = [l for l in open(kept) if " info request " not in l]
                print("".join(lines[-40:]) + f"(authd's whole log: {kept})")
            except OSError:
                pass
        shutil.rmtree(base, ignore_errors=True)
    for f in failed:
        print("FAILED:", f)
    return 1 if failed else 0


ledger = Ledger()

if __name__ == "__main__":
    sys.exit(main())
