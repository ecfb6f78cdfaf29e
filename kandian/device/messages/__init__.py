"""Typed bodies of the binary device link (spec §7.5.1–§7.5.39).

The DATA of every frame (§7.4) is one XML document whose root element names
the body (``LOGIN_REQ``, ``LOGIN_RES`` …). Each body is a frozen attrs class
with class attributes ``CMD`` (the frame's command word, §7.4.3 表 2) and
``ROOT`` (the root element), and one attribute per element, named exactly as
the spec's tables name it (``DevID``, ``ChannelNo``, ``RtspUpnpPort`` …).
Integers are ``int``, everything else — timestamps included — ``str``;
repeated children are tuples of the small classes of :mod:`.items`. An
optional element that is missing is ``None`` ("unchanged", §7.5.6) and is left
out when writing.

* :func:`decode_body` ``(cmd, is_response, data) -> message`` checks that the
  root element is the one the CMD carries;
* :func:`encode_body` ``(message) -> bytes``, the same as ``message.to_xml()``;
* :func:`message_class` and :func:`registry` look classes up by
  ``(CMD, is_response)``; ``IS_RESPONSE`` and ``FROM_DEVICE`` tell a class's
  role, :data:`DEVICE_INITIATED` the commands whose request the device sends.

Every failure is a :class:`MessageError`, a subclass of
:class:`kandian.xmlwire.XMLWireError` (itself a ``ValueError``). Pure: no I/O,
no Twisted.

Readings of the spec
--------------------
Element names are written as the parameter tables name them; on input the
known misspellings of the samples are accepted too:

* §7.5.1, §7.5.3 ``<RtspUpnpPort>…</UpnpPort>``: the element is
  ``RtspUpnpPort``; ``UpnpPort`` is accepted.
* §7.5.1, §7.5.3 ``<RtspLocalPort>…</LocalPort>``: ``RtspLocalPort``;
  ``LocalPort`` is accepted.
* §7.5.1, §7.5.3 ``<TurnRelayIP>…</TurnRealyIP>``: ``TurnRelayIP``;
  ``TurnRealyIP`` is accepted.
* §7.5.28–§7.5.31 ``StorgeFlag`` / ``StorageFlag``: ``StorageFlag`` is
  written, both are accepted.
* §7.5.8 ``InUse`` / §8.11 ``InUser``: the device link uses ``InUse``;
  ``InUser`` is accepted.
* §7.5.21 ``</Channel> ..... </Channel>``: the repeated element is
  ``<Channel>`` (class :class:`.items.IpcamChannel`).
* §7.5.22 ``<File>`` is class :class:`.items.RecordFile`.
* §7.5.11–§7.5.12 ``StorageSpace`` is struck from the tables but still in the
  §7.5.11 sample: kept as an optional element.
* §7.5.2 ``<Onvif>`` appears once in the sample: an optional single child.
* ``PolicyID`` (§7.5.13–§7.5.15, §7.5.24–§7.5.26) is numbered by the device
  and only echoed back by the platform: kept as an opaque string.
* Times stay strings: ``Time`` is YYYYMMDDHHMMSS, §7.5.22's StartTime/EndTime
  YYYYMMDDHHMM, the policies' StartTime/EndTime HH:MM.
* ``ABILITYUP_RES``, ``HEARTBEAT_RES`` and ``NOTIFY_PICTURE_RES`` have no
  ``Result`` in the spec; kandian adds an optional one, written only to refuse
  a request (255), so that a refused report is still answered.
  ``STORE_QUERY_RES``'s Result is a state (1 ready, 0 no medium,
  2 unformatted, 3 faulty), not 0-for-success.
* 0x6A (存储录像参数设置), 0x6B (存储录像参数查询) and 0x73 (视频录像删除)
  are in the command table, but §7.5 defines no body for them: they have no
  classes, and :func:`decode_body` answers them with :class:`MessageError`.

Malformed XML in the samples (``</ DevID>``, ``< VIDEO_PLAY_RES>``) is not
repaired; the BOM, ``encoding=" UTF-8"`` and whitespace around values are
tolerated (see :mod:`kandian.xmlwire`). Bounds are the spec's where it
states them (ports 0–65535, counts ≥ 0, Week 1–7, PageNo ≥ 1) and kandian's
elsewhere, since a peer must not make the platform store a million channels
(:mod:`.base`): ChannelNum and DIDONum ≤ 256, ChannelNo and DIDONo 0–256,
every other integer 32-bit (enumerated codes 16-bit, sizes 64-bit), DevID ≤ 64
characters, URLs and descriptions ≤ 1024, other strings ≤ 256, repeated
children ≤ 256 (``<Video>`` ≤ 64). A value beyond its bound raises
:class:`OutOfRange`, a :class:`MessageError`. Strings may not start or end
with whitespace, since the reader strips it.
"""

from kandian.device.messages import (
    camera as _camera,
    maintenance as _maintenance,
    reports as _reports,
    storage as _storage,
)
from kandian.device.messages.base import (
    DEVICE_INITIATED,
    DeviceRequest,
    Message,
    MessageError,
    OutOfRange,
    StatusResponse,
    decode_body,
    encode_body,
    message_class,
    registry,
)
from kandian.device.messages.camera import *  # noqa: F401,F403
from kandian.device.messages.items import (
    DayPolicy,
    IpcamChannel,
    Onvif,
    RecordFile,
    Video,
    WeekPolicy,
    WifiSSID,
)
from kandian.device.messages.maintenance import *  # noqa: F401,F403
from kandian.device.messages.reports import *  # noqa: F401,F403
from kandian.device.messages.storage import *  # noqa: F401,F403

__all__ = [
    "DEVICE_INITIATED",
    "DeviceRequest",
    "Message",
    "MessageError",
    "OutOfRange",
    "StatusResponse",
    "decode_body",
    "encode_body",
    "message_class",
    "registry",
    "DayPolicy",
    "IpcamChannel",
    "Onvif",
    "RecordFile",
    "Video",
    "WeekPolicy",
    "WifiSSID",
    *_reports.__all__,
    *_camera.__all__,
    *_storage.__all__,
    *_maintenance.__all__,
]
