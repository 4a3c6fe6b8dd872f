#!/usr/bin/python3
"""Password hashes as other systems write them, made with their reference implementations, for
the import tests. Usage: foreign_hash.py FORMAT PASSWORD [FORMAT PASSWORD ...], one hash a line.

FORMAT is one of
  werkzeug:METHOD        werkzeug's generate_password_hash(password, method=METHOD), the
                         original service's code path (METHOD e.g. pbkdf2:sha256:1000)
  scrypt:N:R:P           werkzeug 3's scrypt layout, computed with hashlib.scrypt
  django:DIGEST:ITER     Django's pbkdf2_<DIGEST>$ITER$salt$base64, with hashlib
  authd:ITER             authd's own $pbkdf2-sha256$i=ITER$salt$key, with hashlib
  bcrypt:PREFIX:COST     python3-bcrypt (PREFIX 2a or 2b; 2y is 2b's hash under that prefix)
  argon2:TYPE:T:LOG2M:P  the argon2 command (TYPE id, i or d; memory 2^LOG2M KiB)
"""
import base64
import hashlib
import secrets
import subprocess
import sys

import bcrypt
from werkzeug.security import gen_salt, generate_password_hash


def make(fmt, password):
    kind, _, rest = fmt.partition(":")
    args = rest.split(":")
    pw = password.encode()
    if kind == "werkzeug":
        return generate_password_hash(password, method=rest)
    if kind == "scrypt":
        n, r, p = map(int, args)
        salt = gen_salt(16)
        key = hashlib.scrypt(pw, salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p + (1 << 20))
        return f"scrypt:{n}:{r}:{p}${salt}${key.hex()}"
    if kind == "django":
        digest, iterations = args[0], int(args[1])
        salt = gen_salt(22)
        key = hashlib.pbkdf2_hmac(digest, pw, salt.encode(), iterations)
        return f"pbkdf2_{digest}${iterations}${salt}${base64.b64encode(key).decode()}"
    if kind == "authd":
        iterations = int(args[0])
        salt = secrets.token_bytes(16)
        key = hashlib.pbkdf2_hmac("sha256", pw, salt, iterations)
        b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
        return f"$pbkdf2-sha256$i={iterations}${b64(salt)}${b64(key)}"
    if kind == "bcrypt":
        prefix, cost = args[0], int(args[1])
        made = bcrypt.hashpw(pw, bcrypt.gensalt(cost, prefix=b"2a" if prefix == "2a" else b"2b"))
        made = made.decode()
        if prefix == "2y":
            made = "$2y$" + made[4:]
        assert bcrypt.checkpw(pw, made.encode())
        return made
    if kind == "argon2":
        variant, t, log2m, p = args
        salt = gen_salt(16)
        out = subprocess.run(["/usr/bin/argon2", salt, "-" + variant, "-t", t, "-m", log2m, "-p", p, "-e"],
                             input=pw, capture_output=True, check=True)
        return out.stdout.decode().strip()
    raise SystemExit(f"unknown format {fmt}")


if __name__ == "__main__":
    pairs = sys.argv[1:]
    if not pairs or len(pairs) % 2:
        raise SystemExit(__doc__)
    for i in range(0, len(pairs), 2):
        print(make(pairs[i], pairs[i + 1]))
