"""Password hashing for MCU users (§8.1, §8.2): scrypt, never plain text.

The stored form carries its own parameters, ``scrypt$<log2 N>$<r>$<p>$<salt>$<hash>``
(salt and hash base64), so the cost can be raised later without breaking the
hashes already stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# 2**14 × 8 × 128 B = 16 MiB of memory per hash; its CPU time on one core is measured in
# docs/benchmarks.md ("SOAP", first logins).
LOG2_N = 14
R = 8
P = 1
SALT_BYTES = 16
HASH_BYTES = 32
_MAXMEM = 256 * 1024 * 1024


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, log2_n: int = LOG2_N, r: int = R, p: int = P) -> str:
    salt = os.urandom(SALT_BYTES)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=2 ** log2_n, r=r, p=p,
                            dklen=HASH_BYTES, maxmem=_MAXMEM)
    return "scrypt$%d$%d$%d$%s$%s" % (log2_n, r, p, _b64(salt), _b64(digest))


def verify_password(password: str, stored: str) -> bool:
    """True when *password* matches *stored*; False for a wrong password or a
    stored value that is not one of ours (never an exception)."""
    try:
        scheme, log2_n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        actual = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt, validate=True),
                                n=2 ** int(log2_n), r=int(r), p=int(p),
                                dklen=len(expected), maxmem=_MAXMEM)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
