"""``kandianctl province …`` and ``client …``: this node as the group platform (§5, §6, §9; docs/group-platform.md).

    kandianctl province add CMSNO --province-no P --password PW [--mcu-url U] [--dev-url U] [--name N]
    kandianctl province list
    kandianctl client set android|ios|windows --version V --url U
    kandianctl client list

They work whether or not ``[group_role] listen`` is set: the tables are
there, the listener only answers from them.
"""

from __future__ import annotations

import getpass

from twisted.internet import defer

from ..core.clients import PLATFORMS
from ..core.errors import BadValue, ProvinceExists
from ..core.grouprole import GroupRole
from .output import CommandError, at, table


def add_commands(commands) -> None:
    province = commands.add_parser("province", help="province platforms of this group platform (§6)"
                                   ).add_subparsers(dest="action", required=True)
    add = province.add_parser("add", help="allow a province platform to talk to this group platform")
    add.add_argument("cms_no", metavar="CMSNO", help="the province platform's CmsNo (2 digits)")
    add.add_argument("--province-no", required=True, metavar="P", help="ProvinceNo: 4 digits of GB/T 2260")
    add.add_argument("--password", help="its CmsPassword (prompted for when omitted)")
    add.add_argument("--mcu-url", default="", metavar="U", help="McuUrl (until its first address report)")
    add.add_argument("--dev-url", default="", metavar="U", help="DevUrl (until its first address report)")
    add.add_argument("--name", default="", metavar="N", help="CmsName in GetPlatformList (§9)")
    add.set_defaults(handler=add_province)
    province.add_parser("list", help="list province platforms").set_defaults(handler=list_provinces)

    client = commands.add_parser("client", help="the current MCU/CU clients (§6.1, §9.1)").add_subparsers(
        dest="action", required=True)
    set_ = client.add_parser("set", help="publish the current client of a platform")
    set_.add_argument("platform", choices=PLATFORMS)
    set_.add_argument("--version", required=True, metavar="V", help="e.g. A-2.1 (or 2.1)")
    set_.add_argument("--url", required=True, metavar="U", help="where to download it")
    set_.set_defaults(handler=set_client)
    client.add_parser("list", help="list the current clients").set_defaults(handler=list_clients)


def role(ctx) -> GroupRole:
    """The core's group role for the operator's commands (no province is authenticated here)."""
    return GroupRole(ctx.store, ctx.reactor, passwords=None, throttle=None)


@defer.inlineCallbacks
def add_province(args, ctx, out):
    password = args.password
    if password is None:
        password = getpass.getpass("CmsPassword of %s/%s: " % (args.province_no, args.cms_no))
    try:
        yield role(ctx).add_province(args.province_no, args.cms_no, password, name=args.name,
                                     mcu_url=args.mcu_url, dev_url=args.dev_url)
    except (BadValue, ProvinceExists) as e:
        raise CommandError(str(e)) from None
    out.write("province %s/%s added\n" % (args.province_no, args.cms_no))


def _at(ctx, seconds: float | None) -> str:
    return at(seconds, ctx.config.platform.timezone)


@defer.inlineCallbacks
def list_provinces(args, ctx, out):
    provinces = yield role(ctx).provinces()
    table(out, ["PROVINCE_NO", "CMS_NO", "NAME", "MCU_URL", "DEV_URL", "USERS", "DEVICES", "REPORTED"],
          [[p.province_no, p.cms_no, p.name or "-", p.mcu_url or "-", p.dev_url or "-", p.users, p.devices,
            _at(ctx, p.reported_at)] for p in provinces])


@defer.inlineCallbacks
def set_client(args, ctx, out):
    try:
        version = yield role(ctx).set_client(args.platform, args.version, args.url)
    except BadValue as e:
        raise CommandError(str(e)) from None
    out.write("%s client %s at %s\n" % (args.platform, version, args.url))


@defer.inlineCallbacks
def list_clients(args, ctx, out):
    releases = yield role(ctx).releases()
    table(out, ["CLIENT", "VERSION", "URL"],
          [[name, r.version, r.url] for name, r in zip(PLATFORMS, releases) if r is not None])
