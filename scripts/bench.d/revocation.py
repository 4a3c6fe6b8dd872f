#!/usr/bin/env python3
"""Revocation across two instances: the delay from a logout's answer on A to B's first 401.

usage: revocation.py URL_A URL_B [TRIALS]
Each trial logs in on A, has B check the session twice (so B serves it from its cache), logs out
on A, then asks B again and again until it answers 401. Prints one markdown table row.
"""
import http.client
import json
import sys
import time
import urllib.parse
import uuid


def connection(url):
    parts = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)


def call(conn, method, path, body=None, token=None):
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
        body = json.dumps(body)
    if token:
        headers["Authorization"] = "Bearer " + token
    conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    a, b = connection(sys.argv[1]), connection(sys.argv[2])
    trials = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    name = "rev" + uuid.uuid4().hex[:10]
    password = "benchPassw0rd"
    status, _ = call(a, "POST", "/api/v1/signup",
                     {"username": name, "email": name + "@bench.example", "password": password})
    if status != 201:
        sys.exit(f"signup answered {status}")
    delays, polls = [], []
    for _ in range(trials):
        status, body = call(a, "POST", "/api/v1/login", {"username": name, "password": password})
        if status != 200:
            sys.exit(f"login answered {status}")
        token = json.loads(body)["token"]
        for _ in range(2):
            status, _ = call(b, "GET", "/api/v1/me", token=token)
            if status != 200:
                sys.exit(f"B did not know the new session: {status}")
        status, _ = call(a, "POST", "/api/v1/logout", token=token)
        if status != 204:
            sys.exit(f"logout answered {status}")
        answered = time.monotonic()
        asked = 0
        while True:
            asked += 1
            status, _ = call(b, "GET", "/api/v1/me", token=token)
            if status == 401:
                break
            if time.monotonic() - answered > 10:
                sys.exit("B still honoured a revoked session after 10 s")
        delays.append((time.monotonic() - answered) * 1000)
        polls.append(asked)
    print("| trials | p50 | p99 | max | B's checks until 401 (mean) |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| {trials} | {percentile(delays, 50):.2f} ms | {percentile(delays, 99):.2f} ms | "
          f"{max(delays):.2f} ms | {sum(polls) / len(polls):.1f} |")


if __name__ == "__main__":
    main()
