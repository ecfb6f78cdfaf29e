"""The seams of the core: what it needs from the world, as zope interfaces.

The core is written against these; ``service.py`` plugs in the real ones
(the link registry's router, the SMS gateway, the group platform) and tests
plug in fakes.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface


class IDeviceRouter(Interface):
    """Reaches a device's link, wherever it is (this node today; another node later)."""

    def online(dev_id):
        """Whether the device has a live link."""

    def call(dev_id, request):
        """Send a §7.5 platform→device request; a Deferred of its typed answer.

        Fails with DeviceOffline, or DeviceRefused (a non-zero Result, no
        answer in time, a malformed answer)."""

    def peer_ip(dev_id):
        """The source address of the device's link, or None when offline."""

    def attach(dev_id, link):
        """A link of this node logged in as *dev_id*: route to it (replacing an
        older link); False when *link* is already closing."""

    def detach(link):
        """A link of this node closed; True if it was its device's link."""


class IDeviceEvents(Interface):
    """Told by the core's devices of what concerns more than the link (the upgrade campaigns).
    Both calls return nothing and never raise: their failures are their own."""

    def logged_in(dev_id, dev_ver):
        """*dev_id* logged in reporting firmware *dev_ver* (§7.5.1)."""

    def exception_reported(dev_id, exception_type, desc):
        """*dev_id*'s EXCEPTION_NOTIFY_REQ (§7.5.4) was stored."""


class IAlarmNotifier(Interface):
    """Told of every stored alarm (after §7.5.34's de-duplication); SMS implements it."""

    def alarm_stored(alarm):
        """*alarm* was committed; return nothing (failures are the notifier's own)."""


class ISmsSender(Interface):
    delivers = Attribute("Whether a message sent reaches a phone (False: no gateway configured)")

    def send(mobile, text, kind="message", display=None):
        """A Deferred that fires once the message is committed to be sent
        (the outbox) or, for a sender without one, accepted.  *kind* says
        what it is (message, password, devkey, alarm); *display*, when
        given, stands for *text* wherever it is shown or logged (*text*
        holds a secret)."""


class IGroupPlatform(Interface):
    """The province's group platform (§6); every call may also fail with
    GroupUnavailable (not reached, no answer in time, a bad answer, or this
    province refused: its Result in ``result``)."""

    configured = Attribute("Whether there is a group platform (False: the province is on its own)")

    def device_usage(dev_id, dev_key):
        """§6.5 DEVICE_USE_REQ: a Deferred that fires (None) when the group platform
        accepts the device and key, and fails with WrongDevKey, or UnknownToGroup
        carrying the group platform's Result, when it does not."""

    def address_report(mcu_url, dev_url):
        """§6.1 ADDRESS_REPORT_REQ: a Deferred of the ClientReleases
        (kandian.core.clients) the group platform answered with."""

    def user_open(mobile, ipcam_num):
        """§6.2 USER_OPEN_REQ: a Deferred that fires (None) once accepted."""

    def user_change(mobile, ipcam_num):
        """§6.3 USER_CHANGE_REQ: fires (None) once accepted; NoSuchAccount
        when the group platform does not know the user."""

    def user_cancel(mobile):
        """§6.4 USER_CANCEL_REQ: fires (None) once accepted; NoSuchAccount
        when the group platform does not know the user."""


class IStreamSteering(Interface):
    """One player's relayed stream, steered from outside the player (spec/000's
    pauseplay, resumeplay, changespeed, changeplayposition): the relay sends its
    own RTSP requests upstream in the player's RTSP session.  Every call fails
    with DeviceRefused (the upstream answered non-2xx: its status in ``result``;
    or did not answer in time: None) or DeviceOffline (the stream ended)."""

    def play(scale, position):
        """PLAY upstream with ``Scale: scale`` (None: leave it out) and
        ``Range: npt=position-`` (seconds; None: from where the stream is); the
        player receives media again once it is answered.  A Deferred."""

    def pause():
        """PAUSE upstream; the player receives nothing from now on.  A Deferred."""

    def close(why):
        """End the relayed stream (both of its connections)."""

    def position():
        """Where in the recording the stream is now, in seconds (the upstream's
        last ``Range`` and the time since at its speed), or None when unknown."""


class IPlaySession(Interface):
    """What the relay tells a play session of the core about its player."""

    def attached(steering):
        """A player connected with the session's URL and is relayed: *steering*
        is its IStreamSteering."""

    def client_play():
        """The player sends its PLAY: ``(scale, position)`` it should carry
        instead of its own (None: leave the player's)."""

    def played():
        """The upstream answered the player's PLAY."""

    def detached():
        """The player's relayed stream ended."""


class IRecordingTools(Interface):
    """What the core's recordings need done to files (kandian.media.tools runs ffmpeg/ffprobe and the
    file system off the reactor thread; tests may plug in their own)."""

    def index(path):
        """A Deferred of ``(segments, duration)`` of a finished MPEG-TS piece: its byte ranges
        ``((offset, length, seconds), …)``, each starting at a key frame (with the tables before it),
        and its length in seconds.  Fails when the file cannot be read as MPEG-TS."""

    def snapshot(path, jpeg_path):
        """A Deferred of True once *jpeg_path* holds a JPEG of the piece's first key frame (False: none made)."""

    def remux(path, mp4_path):
        """A Deferred that fires once *mp4_path* holds the piece as one MP4 (the same streams, not
        re-encoded); fails with RecordingUnavailable."""

    def remove(paths):
        """A Deferred that fires once none of *paths* exists (a missing one is not an error)."""

    def size(path):
        """A Deferred of the file's size in bytes, None when it is not there."""
