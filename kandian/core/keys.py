"""Keys the platform derives from its own secret (PRODUCT.md "FTP", "SMS").

One random secret per database (``store.secrets``, made by whichever node
asks first) and, from it, one HMAC-SHA256 key per purpose: a device's FTP
password is derived from its DevID and a rotation counter (never the DevKey,
so a leaked FTP password reveals nothing the device authenticates with), and
a signed URL carries an expiry and a MAC over its purpose, path and expiry.
Nothing derived here is stored or logged: it can always be derived again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_NAME = "platform"


class KeysNotLoaded(RuntimeError):
    """A key was asked for before :meth:`Keys.load` finished (a start-up ordering bug)."""


class Keys:
    def __init__(self, secrets):
        self._secrets = secrets
        self._secret: bytes | None = None

    def load(self):
        """A Deferred that fires once the platform secret is known."""
        def loaded(secret: bytes) -> None:
            self._secret = secret
        return self._secrets.get(SECRET_NAME).addCallback(loaded)

    def derive(self, purpose: str, *parts: str) -> bytes:
        if self._secret is None:
            raise KeysNotLoaded(purpose)
        key = hmac.new(self._secret, purpose.encode("utf-8"), hashlib.sha256).digest()
        message = "\x00".join(parts).encode("utf-8")
        return hmac.new(key, message, hashlib.sha256).digest()

    def ftp_password(self, dev_id: str, generation: int = 0) -> str:
        """The FTP password of *dev_id* (16 characters of [A-Za-z0-9]: every
        firmware's FTP client and the §7.2 FtpPassword field take that)."""
        raw = self.derive("ftp-password", dev_id, str(generation))
        text = base64.b64encode(raw, altchars=b"xy").decode("ascii")
        return text[:16]

    def sign(self, purpose: str, path: str, expires: int) -> str:
        """A URL-safe signature of *path* valid until *expires* (POSIX seconds)."""
        raw = self.derive("url:" + purpose, path, str(int(expires)))
        return base64.urlsafe_b64encode(raw[:18]).decode("ascii")

    def verify(self, purpose: str, path: str, expires: int, signature: str, now: float) -> bool:
        """Whether *signature* is :meth:`sign`'s for *path* and *expires*, and *now* is before *expires*."""
        if now >= expires:
            return False
        return hmac.compare_digest(self.sign(purpose, path, expires).encode("ascii"),
                                   signature.encode("ascii", "replace"))
