"""kandian's ``twisted.cred`` pair for FTP: a checker over the core's device
logins and a realm whose avatars are :class:`~.shell.DeviceShell`\\ s (PRODUCT.md "FTP").

The checker asks :meth:`kandian.core.files.Files.login`, which throttles by
source address, so the credentials carry the address (:class:`DeviceLogin`).
The realm counts each device's sessions on this node (``max_sessions``:
:class:`~.results.TooManySessions` past it) and holds what the shells need:
the core's files, the layout, and the firmware slice's hooks —
``firmware_for(dev_id)`` → Deferred of ``(file_name, absolute path)`` or None,
``firmware_downloaded(dev_id, file_name)`` and
``log_stored(dev_id, file_name, size, sha256)`` → Deferreds.
"""

from __future__ import annotations

import collections
import os
import secrets
from collections.abc import Callable, Iterator

from twisted.cred import checkers, credentials, portal
from twisted.internet import defer
from twisted.protocols import ftp
from zope.interface import implementer

from .results import TooManySessions
from .shell import DeviceShell, Lander, Landing, Upload


class DeviceLogin(credentials.UsernamePassword):
    """USER and PASS, and the address they came from (for the throttle)."""

    def __init__(self, username: str, password: str, address: str):
        super().__init__(username, password)
        self.address = address


@implementer(checkers.ICredentialsChecker)
class DeviceChecker:
    credentialInterfaces = (credentials.IUsernamePassword,)

    def __init__(self, files):
        self.files = files

    def requestAvatarId(self, creds) -> defer.Deferred:
        """The core's FtpLogin; fails with its WrongPassword or TooManyFailures."""
        return self.files.login(creds.username, creds.password, getattr(creds, "address", ""))


def _refuse(*args):
    return defer.succeed(None)


@implementer(portal.IRealm)
class DeviceRealm:
    def __init__(self, files, layout, clock, timezone, *, max_sessions: int, call_from_thread: Callable,
                 submit: Callable | None = None, fsync: bool = True, firmware_for: Callable = _refuse,
                 firmware_downloaded: Callable = _refuse, log_stored: Callable = _refuse):
        """*files*: the core's :class:`~kandian.core.files.Files`; *submit* and
        *call_from_thread*: where uploads land and how they come back
        (:class:`~.shell.Lander`); *fsync*: flush each upload to disk before it
        is renamed into place."""
        self.files = files
        self.fsync = fsync
        self.layout = layout
        self.clock = clock
        self.timezone = timezone
        self.max_sessions = max_sessions
        # the uploads that land together are recorded together
        self.landings = Lander(call_from_thread, delivering=files.records.held, fsync=fsync, submit=submit)
        self._firmware_for = firmware_for
        self._firmware_downloaded = firmware_downloaded
        self._log_stored = log_stored
        self.sessions: dict[str, set[DeviceShell]] = collections.defaultdict(set)
        # bytes on disk of each device with a session here: read at each login, counted up by
        # each upload here (a replaced file counts twice until the next login: never too little)
        self.used: dict[str, int] = {}

    def requestAvatar(self, avatarId, mind, *interfaces):
        """*avatarId*: the checker's :class:`~kandian.core.files.FtpLogin`."""
        if ftp.IFTPShell not in interfaces:
            raise NotImplementedError("only IFTPShell")
        dev_id = avatarId.dev_id
        held = self.sessions[dev_id]
        if len(held) >= self.max_sessions:
            if not held:
                del self.sessions[dev_id]
            raise TooManySessions(dev_id)
        shell = DeviceShell(self, dev_id)
        held.add(shell)
        self.used[dev_id] = avatarId.used  # what the database says now
        return ftp.IFTPShell, shell, shell.logout

    def logged_out(self, shell: DeviceShell) -> None:
        held = self.sessions.get(shell.dev_id)
        if held is not None:
            held.discard(shell)
            if not held:
                del self.sessions[shell.dev_id]
                self.used.pop(shell.dev_id, None)

    def open_sessions(self) -> int:
        return sum(len(s) for s in self.sessions.values())

    def uploads_of(self, dev_id: str) -> Iterator[Upload]:
        for shell in self.sessions.get(dev_id, ()):
            yield from shell.uploads

    def tmp_name(self, dev_id: str) -> str:
        """A new name for a temporary file of *dev_id*'s in this node's ``tmp/``."""
        return os.path.join(self.layout.tmp, "%s-%s.part" % (dev_id, secrets.token_hex(8)))

    def land(self, landing: Landing):
        """Write out, flush and rename an upload in a landing thread
        (:class:`~.shell.Lander`); fails with its OSError."""
        return self.landings.land(landing)

    # -- the firmware slice's hooks, always Deferreds

    def firmware_for(self, dev_id: str) -> defer.Deferred:
        return defer.maybeDeferred(self._firmware_for, dev_id)

    def firmware_downloaded(self, dev_id: str, file_name: str) -> defer.Deferred:
        return defer.maybeDeferred(self._firmware_downloaded, dev_id, file_name)

    def log_stored(self, dev_id: str, file_name: str, size: int, sha256: str) -> defer.Deferred:
        return defer.maybeDeferred(self._log_stored, dev_id, file_name, size, sha256)
