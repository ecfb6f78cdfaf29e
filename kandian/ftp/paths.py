"""A device's view of the FTP server (§7.5.17, §7.5.27, §7.5.35): which path means what.

Sans-IO: path segments in (Twisted's ``toSegments`` has already resolved
``.``, ``..`` and the working directory, and refused climbing above ``/``),
a target out, or :class:`NotHere` (550) / :class:`~kandian.core.errors.BadFileName`
(553).  The device sees::

    /pictures   upload only: §7.5.27 names, DevID_ChannelNo_YYYYMMDDHHMMSS.jpg
    /logs       upload only: any safe name (core.files.log_name)
    /firmware   download only: the image of its current upgrade, nothing else

and, for firmware that uploads to its login directory and fetches
``FtpFileName`` from it as given, the root itself: a ``.jpg``/``.jpeg`` stored
there is a picture, any other name a log, and the assigned image can be
fetched from there too.
"""

from __future__ import annotations

import attrs

from ..core import errors
from ..core.files import PictureName, log_name, picture_name

DIRECTORIES = ("pictures", "logs", "firmware")


class NotHere(Exception):
    """Nothing this device may do at that path (550): another device's, a
    directory that is not there, or the wrong direction."""


@attrs.frozen
class Upload:
    area: str  # "pictures" or "logs"
    name: str
    channel_no: int | None  # pictures: from the name
    picture: PictureName | None = None  # pictures: what the name says


def directory(segments: list[str]) -> str | None:
    """The directory *segments* names: ``""`` for the root, a name of
    :data:`DIRECTORIES`; NotHere for anything else."""
    if not segments:
        return ""
    if len(segments) == 1 and segments[0] in DIRECTORIES:
        return segments[0]
    raise NotHere("/".join(segments))


def upload(segments: list[str], dev_id: str, timezone) -> Upload:
    """Where a STOR of *segments* by *dev_id* goes; NotHere or BadFileName."""
    if len(segments) == 1:
        name = segments[0]
        if name in DIRECTORIES:
            raise NotHere(name)
        area = "pictures" if name.lower().endswith((".jpg", ".jpeg")) else "logs"
    elif len(segments) == 2 and segments[0] in ("pictures", "logs"):
        area, name = segments
    else:
        raise NotHere("/".join(segments))
    if area == "logs":
        return Upload("logs", log_name(name), None)
    picture = picture_name(name, timezone)
    if picture.dev_id != dev_id:
        raise errors.BadFileName("a picture of %s is named %s_..." % (picture.dev_id, dev_id))
    return Upload("pictures", name, picture.channel_no, picture)


def download(segments: list[str]) -> str:
    """The name a RETR of *segments* asks for (to compare with the assigned image); NotHere."""
    if len(segments) == 2 and segments[0] == "firmware":
        return segments[1]
    if len(segments) == 1 and segments[0] not in DIRECTORIES:
        return segments[0]
    raise NotHere("/".join(segments))
