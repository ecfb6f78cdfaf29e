"""The FTP replies (RFC 959) of every refusal: the one table of the FTP interface.

Domain errors (:mod:`kandian.core.errors`) and the FTP layer's own map to a
reply code, its text, and whether the control connection is closed after it.
Twisted's ``FTPCmdError`` subclasses keep their own replies; everything else
unexpected is 451, logged by the caller.
"""

from __future__ import annotations

import attrs
from twisted.protocols import ftp

from ..core import errors
from .paths import NotHere


class TooManySessions(Exception):
    """The device holds ``max_connections_per_device`` logged-in sessions on this node."""


class AnonymousRefused(Exception):
    pass


class TransferAborted(Exception):
    """The data connection closed before a clean end (reset, aborted, idle too long, the session gone)."""


class NotAPicture(Exception):
    """A picture whose bytes do not begin as a JPEG does (FF D8 FF)."""


class IncompletePicture(Exception):
    """A picture whose bytes do not end as a whole JPEG does (FF D9): the upload was cut short."""


class NoSpace(Exception):
    """The file system under ``[files] root`` is full (ENOSPC, EDQUOT)."""


class NoDataConnection(Exception):
    """STOR, RETR, LIST … with no data connection set up (PASV/EPSV first)."""


class ActiveModeRefused(Exception):
    """PORT and EPRT: the server does not connect out (FTP bounce; cameras sit behind NAT)."""


class NoPassivePort(Exception):
    """Every passive port stayed taken for the data timeout."""


@attrs.frozen
class Reply:
    code: str
    text: str
    close: bool = False

    def line(self, detail: str = "") -> str:
        return "%s %s" % (self.code, self.text % detail if "%s" in self.text else self.text)


REPLIES: dict[type, Reply] = {
    AnonymousRefused: Reply("530", "Anonymous login is not allowed."),
    errors.WrongPassword: Reply("530", "Login incorrect."),
    errors.NoSuchDevice: Reply("530", "Login incorrect."),
    errors.TooManyFailures: Reply("530", "Too many failed logins: %s.", close=True),
    TooManySessions: Reply("421", "Too many connections for this device, closing control connection.",
                           close=True),
    errors.DatabaseUnavailable: Reply("421", "Service not available, closing control connection.", close=True),
    NotHere: Reply("550", "%s: Permission denied."),
    errors.BadFileName: Reply("553", "Requested action not taken, file name not allowed: %s."),
    errors.FileTooLarge: Reply("552", "Requested file action aborted, exceeded the per-file size cap."),
    errors.OverQuota: Reply("552", "Requested file action aborted, exceeded this device's storage quota."),
    NotAPicture: Reply("550", "Requested action not taken, not a JPEG picture."),
    IncompletePicture: Reply("426", "Connection closed; transfer aborted: the picture is incomplete."),
    TransferAborted: Reply("426", "Connection closed; transfer aborted."),
    NoSpace: Reply("452", "Requested action not taken: insufficient storage space, try again later."),
    NoPassivePort: Reply("425", "Can't open data connection: no passive port free, try again."),
    NoDataConnection: Reply("425", "Can't open data connection: use PASV or EPSV first."),
    ActiveModeRefused: Reply("502", "Active mode (PORT, EPRT) is not offered: use PASV or EPSV."),
}

INTERNAL = Reply("451", "Requested action aborted: local error in processing.")


def reply_for(error: BaseException) -> Reply | None:
    """The reply for *error*, or None when the table has none (an unexpected failure)."""
    return errors.lookup(REPLIES, error)


def line_for(error: BaseException, detail: str = "") -> tuple[str, bool]:
    """(reply line, close afterwards) for *error*: the table's, Twisted's own
    for its ``FTPCmdError``\\ s, else :data:`INTERNAL`."""
    reply = reply_for(error)
    if reply is not None:
        return reply.line(detail), reply.close
    if isinstance(error, ftp.FTPCmdError):
        return _twisted_line(error), False
    return INTERNAL.line(), False


def _twisted_line(error: ftp.FTPCmdError) -> str:
    """Twisted's text for its error, formatted so that it cannot fail (its 552
    and 553 templates take no argument, while its callers pass one)."""
    template = ftp.RESPONSE[error.errorCode]
    wanted = template.count("%s")
    given = tuple(str(a) for a in error.errorMessage)
    return template % (given + ("",) * wanted)[:wanted]
