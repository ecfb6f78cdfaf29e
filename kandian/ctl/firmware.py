"""``kandianctl firmware …``: the firmware catalogue (§7.5.17, §8.14; PRODUCT.md "Firmware and upgrades").

    kandianctl firmware add FILE --manufacturer NO --model M --version VER
    kandianctl firmware list
"""

from __future__ import annotations

from twisted.internet import defer

from ..core import errors
from ..core.firmware import Catalogue
from .output import CommandError, table, when


def add_commands(commands) -> None:
    firmware = commands.add_parser("firmware", help="the firmware catalogue").add_subparsers(
        dest="action", required=True)
    add = firmware.add_parser("add", help="catalogue a firmware image (copied under [files] root)")
    add.add_argument("file", metavar="FILE")
    add.add_argument("--manufacturer", required=True, metavar="NO", help="ManufacturerNo, 3 digits (§7.2)")
    add.add_argument("--model", required=True, metavar="M", help="the model it is for (REGISTER_REQ Mode)")
    add.add_argument("--version", required=True, metavar="VER", help="its DevVer, e.g. V1.6_20240101")
    add.set_defaults(handler=add_firmware)
    firmware.add_parser("list", help="list the catalogue").set_defaults(handler=list_firmware)


def catalogue(ctx) -> Catalogue:
    return Catalogue(ctx.store, ctx.config.files_root, ctx.reactor)


@defer.inlineCallbacks
def add_firmware(args, ctx, out):
    try:
        firmware = yield catalogue(ctx).add(args.file, args.manufacturer, args.model, args.version)
    except errors.DomainError as e:
        raise CommandError(str(e)) from None
    except OSError as e:
        raise CommandError("%s: %s" % (args.file, e.strerror or e)) from None
    out.write("firmware %d added: %s %s %s %s, %d bytes, sha256 %s\n" % (
        firmware.firmware_id, firmware.manufacturer_no, firmware.model, firmware.dev_ver, firmware.file_name,
        firmware.file_size, firmware.sha256))


@defer.inlineCallbacks
def list_firmware(args, ctx, out):
    rows = yield catalogue(ctx).list()
    table(out, ["ID", "MANUFACTURER", "MODEL", "VERSION", "FILE", "SIZE", "SHA256", "ADDED"],
          [[f.firmware_id, f.manufacturer_no, f.model, f.dev_ver, f.file_name,
            f.file_size if f.file_size is not None else "-", f.sha256 or "-", when(f.released_at)] for f in rows])
