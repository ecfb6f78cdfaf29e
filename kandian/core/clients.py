"""The MCU/CU client releases (§6.1 McuAndroidUrl/Ver …, §9.1 CheckClientUpgrade).

The group platform publishes the current client of each platform (Android,
iOS, Windows: a version in §8.2's form, ``A-2.1``, and a download URL); a
province learns them from its §6.1 address report and answers §9.1 with
them, the group answers §9.1 from what its operator set.  Both ask
:func:`upgrade_for`.
"""

from __future__ import annotations

from typing import NamedTuple

from .credentials import parse_version
from .errors import BadValue

PLATFORMS = ("android", "ios", "windows")
LETTER = {"android": "A", "ios": "I", "windows": "W"}
_PLATFORM_OF = {letter: platform for platform, letter in LETTER.items()}


class Release(NamedTuple):
    version: str
    url: str


class ClientReleases(NamedTuple):
    """The current client of each platform; None where none is published."""

    android: Release | None = None
    ios: Release | None = None
    windows: Release | None = None

    def of(self, platform: str) -> Release | None:
        return getattr(self, platform)


NONE = ClientReleases()


def normalized(platform: str, version: str) -> str:
    """*version* in §8.2's form for *platform* (``2.1`` → ``A-2.1``); BadValue
    when it is not a dotted number (with or without the platform's letter)."""
    if platform not in LETTER:
        raise BadValue("platform must be one of %s" % ", ".join(PLATFORMS))
    value = version.strip()
    if "-" not in value:
        value = "%s-%s" % (LETTER[platform], value)
    parsed = parse_version(value)
    if parsed is None or parsed[0] != LETTER[platform]:
        raise BadValue("not a %s client version such as %s-2.1: %r" % (platform, LETTER[platform], version[:40]))
    return value


def _padded(parts: tuple[int, ...]) -> tuple[int, ...]:
    return parts + (0,) * max(0, 4 - len(parts))


def upgrade_for(version: str, releases: ClientReleases) -> Release | None:
    """§9.1: the release a client at *version* (``A-1.0``) should upgrade to,
    or None when it is current (or nothing is published for its platform).
    BadValue when *version* is not §8.2's form."""
    parsed = parse_version(version or "")
    if parsed is None:
        raise BadValue("Version must look like A-1.0, I-1.0 or W-1.0: %r" % ((version or "")[:40],))
    release = releases.of(_PLATFORM_OF[parsed[0]])
    if release is None:
        return None
    current = parse_version(release.version)
    if current is None or current[0] != parsed[0]:
        return None  # what the group published is not comparable: do not nag
    return release if _padded(parsed[1]) < _padded(current[1]) else None
