"""``kandianctl device …``: provisioning devices (§7.2; PRODUCT.md "kandianctl")."""

from __future__ import annotations

from twisted.internet import defer

from ..core.errors import NoSuchDevice
from ..store.devices import DEV_TYPES, DeviceExists
from . import sms
from .devlogs import add_device_commands as add_log_commands
from .output import CommandError, table, when


def add_commands(commands) -> None:
    device = commands.add_parser("device", help="devices").add_subparsers(dest="action", required=True)
    add = device.add_parser("add", help="provision a device")
    add.add_argument("dev_id", metavar="DEVID")
    add.add_argument("--key", required=True, help="the device's DevKey")
    add.add_argument("--type", type=int, choices=sorted(DEV_TYPES), default=1, help="1 IPC, 2 DVR, 3 NVR")
    add.add_argument("--model", default="", help="model (REGISTER_REQ Mode)")
    add.add_argument("--channels", type=int, default=1, metavar="N", help="video channels (default 1)")
    add.set_defaults(handler=add_device)
    device.add_parser("list", help="list devices").set_defaults(handler=list_devices)
    add_log_commands(device)
    rotate = device.add_parser("rotate-ftp", help="give a device a new FTP password (the old one stops working)")
    rotate.add_argument("dev_id", metavar="DEVID")
    rotate.set_defaults(handler=rotate_ftp)
    send_key = device.add_parser("send-key", help="send a device's DevKey to its owner by SMS (§4.17)")
    send_key.add_argument("dev_id", metavar="DEVID")
    send_key.set_defaults(handler=sms.send_key)


@defer.inlineCallbacks
def add_device(args, ctx, out):
    try:
        yield ctx.store.devices.add(args.dev_id, args.key, args.type, args.model, args.channels)
    except (DeviceExists, ValueError) as e:
        raise CommandError(str(e)) from None
    out.write("device %s added\n" % (args.dev_id,))


@defer.inlineCallbacks
def list_devices(args, ctx, out):
    devices = yield ctx.store.devices.list()
    table(out, ["DEVID", "TYPE", "MODEL", "MANUFACTURER", "CHANNELS", "ONLINE", "FIRMWARE", "LAST_SEEN"],
          [[d.dev_id, DEV_TYPES[d.dev_type], d.model or "-", d.manufacturer or "-", d.channels,
            "yes" if d.online else "no", d.dev_ver or "-", when(d.last_seen_at)] for d in devices])


@defer.inlineCallbacks
def rotate_ftp(args, ctx, out):
    try:
        generation = yield ctx.store.files.rotate(args.dev_id)
    except NoSuchDevice:
        raise CommandError("no such device: %s" % (args.dev_id,)) from None
    out.write("device %s: new FTP password (generation %d); the device gets it in its next REGISTER_RES,"
              " UPGRADE_REQ or LOG_UPLOAD_REQ\n" % (args.dev_id, generation))
