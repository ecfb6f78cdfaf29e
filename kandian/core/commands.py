"""Every platform→device command by name, for whoever may send it (§7.5.6–§7.5.39).

The catalogue (:data:`CATALOGUE`) names each typed call of
:class:`kandian.device.commands.DeviceCommands` — ``ptz``, ``get_wifi``,
``add_record_policy``, ``store_query`` … — with its request class (so its
fields are the spec's element names) and who may send it:

* ``view``: anyone who sees the device (a read-only share, a viewer operator);
* ``control``: the owner, a share that may control, an admin operator;
* ``own``: the owner or an admin operator (factory reset, formatting the disk);
* ``operator``: admin operators only — the upgrade (sent as a campaign of
  one by :mod:`.upgrades`, so that the FTP server serves the image), the log
  upload and the 天翼云 account (§4: users get "every command that concerns their camera, not
  upgrade, log upload, cloud account").

:meth:`Commands.run` checks access (:class:`kandian.core.access.Access`),
turns a mapping of field values into the typed call's arguments (unknown,
missing or mistyped fields are BadValue), applies the policy rules of
:mod:`.policies` against what the camera holds, fills the FTP fields of
UPGRADE_REQ and LOG_UPLOAD_REQ itself, and answers the device's typed answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import attrs
from twisted.internet import defer

from ..device import messages as m
from ..device.messages.base import FIELD, Child, Integer, Repeated, Text
from . import errors, policies


@attrs.frozen
class UpgradeStarted:
    """The answer to ``upgrade``: the device accepted UPGRADE_REQ (Result 0) in *campaign_id* (None: an
    upgrade of it was already in flight), to *NewDevVer*."""
    DevID: str
    Result: int
    campaign_id: int | None
    NewDevVer: str


class Command(NamedTuple):
    name: str
    request: type
    level: str  # view | control | own | operator
    platform_fields: tuple[str, ...] = ()  # filled by the platform, never by the caller


CATALOGUE: dict[str, Command] = {c.name: c for c in (
    Command("set_channel", m.SetChannelRequest, "control"),
    Command("get_channel", m.GetChannelRequest, "view"),
    Command("get_wifi", m.GetWifiRequest, "control"),
    Command("set_wifi", m.SetWifiRequest, "control"),
    Command("ptz", m.PtzRequest, "control"),
    Command("set_estore", m.SetEStoreRequest, "operator"),
    Command("get_estore", m.GetEStoreRequest, "operator"),
    Command("add_record_policy", m.AddRecordPolicyRequest, "control"),
    Command("query_record_policy", m.QueryRecordPolicyRequest, "view"),
    Command("del_record_policy", m.DelRecordPolicyRequest, "control"),
    Command("reboot", m.RebootRequest, "control"),
    Command("upgrade", m.UpgradeRequest, "operator",
            ("FtpIP", "FtpPort", "FtpAccount", "FtpPassword", "FtpFileName")),
    Command("nvr_link_ipcam", m.NvrLinkIpcamRequest, "control"),
    Command("nvr_modify_ipcam", m.NvrModifyIpcamRequest, "control"),
    Command("nvr_del_ipcam", m.NvrDelIpcamRequest, "control"),
    Command("nvr_query_ipcam", m.NvrQueryIpcamRequest, "view"),
    Command("file_query", m.FileQueryRequest, "view"),
    Command("add_picture_policy", m.AddPicturePolicyRequest, "control"),
    Command("query_picture_policy", m.QueryPicturePolicyRequest, "view"),
    Command("del_picture_policy", m.DelPicturePolicyRequest, "control"),
    Command("set_record_full", m.SetRecordFullRequest, "control"),
    Command("get_record_full", m.GetRecordFullRequest, "view"),
    Command("set_record_loop", m.SetRecordLoopRequest, "control"),
    Command("get_record_loop", m.GetRecordLoopRequest, "view"),
    Command("set_alarm", m.SetAlarmRequest, "control"),
    Command("get_alarm", m.GetAlarmRequest, "view"),
    Command("log_upload", m.LogUploadRequest, "operator", ("FtpIP", "FtpPort", "FtpAccount", "FtpPassword")),
    Command("store_query", m.StoreQueryRequest, "view"),
    Command("store_format", m.StoreFormatRequest, "own"),
    Command("estore_activate", m.EStoreActivateRequest, "control"),
    Command("reset_default", m.ResetDefaultRequest, "own"),
)}


class Field(NamedTuple):
    """One field a caller sends: its spec name, JSON type and bounds."""
    name: str
    type: str  # string | integer | array | object
    optional: bool
    minimum: int | None = None
    maximum: int | None = None
    max_length: int | None = None
    items: tuple = ()  # for array/object: the item's [Field]
    secret: bool = False


def _field(attribute) -> Field:
    kind = attribute.metadata[FIELD]
    secret = attribute.repr is not True
    if isinstance(kind, Text):
        return Field(attribute.name, "string", kind.optional, max_length=kind.max_length, secret=secret)
    if isinstance(kind, Integer):
        return Field(attribute.name, "integer", kind.optional, kind.minimum, kind.maximum)
    if isinstance(kind, Repeated):
        return Field(attribute.name, "array", False, max_length=kind.max_items, items=item_fields(kind.item))
    if isinstance(kind, Child):
        return Field(attribute.name, "object", True, items=item_fields(kind.item))
    raise TypeError(kind)


def item_fields(cls) -> tuple[Field, ...]:
    return tuple(_field(a) for a in attrs.fields(cls))


def request_fields(command: Command) -> tuple[Field, ...]:
    """What a caller sends for *command*: the request's fields but DevID and those the platform fills."""
    return tuple(f for f in item_fields(command.request) if f.name != "DevID" and f.name not in command.platform_fields)


def answer_fields(command: Command) -> tuple[Field, ...]:
    from ..device.messages import message_class
    return item_fields(message_class(command.request.CMD, True))


def _value(field: Field, value, where: str, item_class=None):
    label = where + field.name
    if field.type == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.BadValue("%s must be an integer" % label)
        return value
    if field.type == "string":
        if not isinstance(value, str):
            raise errors.BadValue("%s must be a string" % label)
        return value
    if field.type == "array":
        if not isinstance(value, list):
            raise errors.BadValue("%s must be a list" % label)
        return tuple(_build(item_class, field.items, v, "%s[%d]." % (label, n)) for n, v in enumerate(value))
    return _build(item_class, field.items, value, label + ".")


def _build(cls, fields, values, where: str):
    if not isinstance(values, dict):
        raise errors.BadValue("%s must be an object" % where.rstrip("."))
    return cls(**_arguments(cls, fields, values, where))


def _arguments(cls, fields, values: dict, where: str = "") -> dict:
    known = {f.name: f for f in fields}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise errors.BadValue("unknown field%s %s" % ("s" if len(unknown) > 1 else "",
                                                     ", ".join(where + u for u in unknown)))
    arguments = {}
    for f in fields:
        if f.name not in values or values[f.name] is None:
            if not f.optional and f.type != "array":
                raise errors.BadValue("%s%s is required" % (where, f.name))
            continue
        item = None
        if f.type in ("array", "object"):
            item = attrs.fields_dict(cls)[f.name].metadata[FIELD].item
        arguments[f.name] = _value(f, values[f.name], where, item)
    return arguments


class Commands:
    def __init__(self, devices, access, *, ftp_access: Callable[[str], defer.Deferred] | None = None,
                 upgrade: Callable[[str], defer.Deferred] | None = None):
        """*devices*: :class:`kandian.core.devices.Devices`; *access*:
        :class:`kandian.core.access.Access`; *ftp_access(dev_id)*: a Deferred
        of (FtpIP, FtpPort, FtpAccount, FtpPassword) for the device;
        *upgrade(dev_id)*: a Deferred of the campaign upgrading the device to
        its model's newest firmware (``upgrade`` goes there, never straight to
        the device: outside a campaign the FTP server serves no image)."""
        self.devices = devices
        self.upgrade = upgrade
        self.access = access
        self.ftp_access = ftp_access

    @staticmethod
    def lookup(name: str) -> Command:
        command = CATALOGUE.get(name)
        if command is None:
            raise errors.NoSuchCommand("no command %r" % (name,))
        return command

    @defer.inlineCallbacks
    def run(self, principal, dev_id: str, name: str, values: dict):
        """The device's typed answer to command *name* with *values*; raises
        NoSuchCommand, NotBound/NoSuchDevice, Forbidden, BadValue,
        DeviceOffline, DeviceRefused."""
        command = self.lookup(name)
        yield self.access.device(principal, dev_id, command.level)
        if not isinstance(values, dict):
            raise errors.BadValue("the body is a JSON object of the request's fields")
        if name == "upgrade":
            return (yield self._upgrade(dev_id, values))
        arguments = _arguments(command.request, request_fields(command), values)
        if command.platform_fields:
            if self.ftp_access is None:
                raise errors.DeviceRefused("no FTP server to hand the device")
            ftp = yield self.ftp_access(dev_id)
            arguments.update(zip(command.platform_fields, ftp))
        try:
            command.request(DevID=dev_id, **arguments)  # every bound and type, before a byte is sent
        except (TypeError, ValueError) as e:
            raise errors.BadValue(str(e)) from None
        if name == "add_record_policy":
            held = yield self._call(dev_id, "query_record_policy", ChannelNo=arguments["ChannelNo"])
            policies.check_week(held.WeekPolicy, arguments.get("WeekPolicy", ()))
        elif name == "add_picture_policy":
            held = yield self._call(dev_id, "query_picture_policy", ChannelNo=arguments["ChannelNo"],
                                    StoreType=arguments["StoreType"])
            policies.check_day(arguments["StoreType"], held.DayPolicy, arguments.get("DayPolicy", ()))
        return (yield self._call(dev_id, name, **arguments))

    @defer.inlineCallbacks
    def _upgrade(self, dev_id: str, values: dict):
        """UPGRADE_REQ through a campaign of one: the catalogue chooses the image; a NewDevVer given must be it."""
        unknown = sorted(set(values) - {"NewDevVer"})
        if unknown:
            raise errors.BadValue("upgrade takes only NewDevVer (the catalogue chooses the image): not %s"
                                  % ", ".join(unknown))
        if self.upgrade is None:
            raise errors.DeviceRefused("no firmware catalogue here")
        campaign_id, dev_ver = yield self.upgrade(dev_id, values.get("NewDevVer"))
        return UpgradeStarted(dev_id, 0, campaign_id, dev_ver)

    def _call(self, dev_id: str, name: str, **arguments) -> defer.Deferred:
        return self.devices.command(dev_id, lambda c: getattr(c, name)(**arguments))
