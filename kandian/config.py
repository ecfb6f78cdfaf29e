"""The INI configuration of the daemon and of ``kandianctl``.

The public keys are fixed in PRODUCT.md ("Config"); ``etc/kandian.ini``
documents each one.  Like Tahoe-LAFS's ``tahoe.cfg`` the file is whitelisted:
an unknown section or key is an error naming it, so a typo never silently
falls back to a default.  Every failure is a :class:`ConfigError` whose text
is one line naming the file, the key and the value.
"""

from __future__ import annotations

import configparser
import os
import zoneinfo
from collections.abc import Callable
from typing import Any

import attrs
from psycopg2.extensions import parse_dsn
from twisted.internet.endpoints import clientFromString, serverFromString


class ConfigError(Exception):
    """The configuration cannot be used; ``str()`` is one line for the operator."""


# -- value parsers: each takes the raw string and returns the typed value or
# raises ValueError with a short reason.


def text(raw: str) -> str:
    return raw.strip()


def positive_int(raw: str) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("not an integer") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def count(raw: str) -> int:
    """A non-negative integer (0 has a meaning stated with the key)."""
    try:
        value = int(raw.strip())
    except ValueError:
        raise ValueError("not an integer") from None
    if value < 0:
        raise ValueError("must be 0 or greater")
    return value


_BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
             "false": False, "no": False, "off": False, "0": False}


def boolean(raw: str) -> bool:
    try:
        return _BOOLEANS[raw.strip().lower()]
    except KeyError:
        raise ValueError("not a boolean (true/false)") from None


def zone(raw: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(raw.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone") from None


def dsn(raw: str) -> str:
    value = raw.strip()
    if value:
        try:
            parse_dsn(value)
        except Exception as e:
            raise ValueError("not a libpq connection string: %s" % (str(e).strip().splitlines() or ["?"])[0]) from None
    return value


def address(raw: str) -> tuple[str, int] | None:
    """``host:port`` handed to devices; empty for "not configured"."""
    value = raw.strip()
    if not value:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("not HOST:PORT")
    return host.strip("[]"), int(port)


_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}


def size(raw: str) -> int:
    """Bytes: an integer with an optional K, M, G or T suffix (powers of 1024)."""
    value = raw.strip().upper().removesuffix("B")
    number, unit = (value[:-1], value[-1]) if value[-1:] in _UNITS else (value, "")
    if not number.isdigit():
        raise ValueError("not a size (bytes, or a number with K, M, G or T)")
    return int(number) * _UNITS[unit]


def port_range(raw: str) -> range | None:
    """``LOW-HIGH`` (inclusive); empty for "any port the system gives"."""
    value = raw.strip()
    if not value:
        return None
    low, sep, high = value.partition("-")
    if not sep or not low.strip().isdigit() or not high.strip().isdigit():
        raise ValueError("not LOW-HIGH")
    low_n, high_n = int(low), int(high)
    if not 1024 <= low_n <= high_n <= 65535:
        raise ValueError("ports must be 1024-65535, LOW <= HIGH")
    return range(low_n, high_n + 1)


def http_url(raw: str) -> str:
    """An http:// or https:// URL (ASCII, no spaces), or empty."""
    value = raw.strip()
    if value and (not value.startswith(("http://", "https://")) or not value.isascii()
                  or any(c.isspace() for c in value) or len(value) > 1000 or "://" == value[-3:]):
        raise ValueError("not an http:// or https:// URL")
    return value


def digits(n: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value and (len(value) != n or not value.isdigit()):
            raise ValueError("must be %d digits" % n)
        return value
    return parse


def digits_up_to(n: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if not value.isdigit() or len(value) > n:
            raise ValueError("must be 1 to %d digits" % n)
        return value
    return parse


def endpoint(raw: str) -> str:
    """A Twisted server endpoint description; checked at load time."""
    value = raw.strip()
    if not value:
        raise ValueError("empty endpoint")
    return value


def optional_endpoint(raw: str) -> str:
    """An endpoint description, or empty for "this interface is off"."""
    return raw.strip()


def _setting(default: str, parse: Callable[[str], Any], **kw: Any) -> Any:
    return attrs.field(default=parse(default), metadata={"parse": parse, "raw": default}, **kw)


@attrs.frozen
class PlatformSection:
    data_dir: str = _setting("./var", text)
    public_host: str = _setting("127.0.0.1", text)
    timezone: zoneinfo.ZoneInfo = _setting("Asia/Shanghai", zone)
    # open files kept out of the listeners' caps (kandian.limits)
    fd_reserve: int = _setting("256", positive_int)


@attrs.frozen
class DatabaseSection:
    dsn: str = _setting("", dsn)
    pool_size: int = _setting("4", positive_int)
    embedded_user: str = _setting("nobody", text)


@attrs.frozen
class DeviceSection:
    listen: str = _setting("tcp:8588", endpoint)
    login_timeout: int = _setting("30", positive_int)
    heartbeat_timeout: int = _setting("360", positive_int)
    command_timeout: int = _setting("10", positive_int)
    # kandian.limits: 0 = what the open-file limit leaves / no per-address cap
    max_connections: int = _setting("0", count)
    max_connections_per_address: int = _setting("0", count)


@attrs.frozen
class RegisterSection:
    listen: str = _setting("tcp:8589", endpoint)
    auto_provision: bool = _setting("false", boolean)
    # REGISTER_RES (§7.2): where devices log in, relay through TURN, upload to FTP.
    link_address: tuple[str, int] | None = _setting("", address)
    backup_link_address: tuple[str, int] | None = _setting("", address)
    turn_address: tuple[str, int] | None = _setting("", address)
    backup_turn_address: tuple[str, int] | None = _setting("", address)
    ftp_address: tuple[str, int] | None = _setting("", address)
    # kandian.limits and kandian.web
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("32", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)


def client_version(prefix: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        parts = value.split("-", 1)
        if len(parts) != 2 or parts[0] != prefix or not all(p.isdigit() for p in parts[1].split(".")):
            raise ValueError("not a %s- client version such as %s-1.0" % (prefix, prefix))
        return value
    return parse


def choice(*values: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip()
        if value not in values:
            raise ValueError("must be one of: %s" % ", ".join(values))
        return value
    return parse


@attrs.frozen
class McuSection:
    listen: str = _setting("tcp:8590", endpoint)
    session_timeout: int = _setting("1800", positive_int)
    # §8.2: McuLogin answers 3 below these
    min_version_android: str = _setting("A-1.0", client_version("A"))
    min_version_ios: str = _setting("I-1.0", client_version("I"))
    min_version_windows: str = _setting("W-1.0", client_version("W"))
    # §8.7 StunIP/StunPort handed to clients
    stun_address: tuple[str, int] | None = _setting("", address)
    # §8.1 GetSmsPassword limits per mobile number
    sms_interval: int = _setting("60", positive_int)
    sms_daily_limit: int = _setting("10", positive_int)
    # kandian.limits and kandian.web
    max_connections: int = _setting("512", positive_int)
    max_connections_per_address: int = _setting("64", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)


def cidr_list(raw: str) -> tuple:
    from .dialpolicy import networks
    return networks(raw)


def routes(raw: str) -> tuple[str, ...]:
    value = tuple(part.strip() for part in raw.split(",") if part.strip())
    unknown = [part for part in value if part not in ("local", "upnp", "turn")]
    if unknown or not value or len(set(value)) != len(value):
        raise ValueError("a comma-separated order of local, upnp, turn")
    return value


@attrs.frozen
class RtspSection:
    listen: str = _setting("tcp:8554", endpoint)
    # §10.4: no media while playing for media_timeout, or no traffic at all for idle_timeout, ends a session
    media_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("60", positive_int)
    connect_timeout: int = _setting("5", positive_int)
    # which of the device's addresses the relay tries, in order (§15)
    upstream_order: tuple[str, ...] = _setting("local,upnp,turn", routes)
    # §10.2 453: relayed streams per device
    max_streams_per_device: int = _setting("4", positive_int)
    # networks the relay and the UPnP probe may dial besides a device's own link address and the TURN relays
    upstream_allow: tuple = _setting("", cidr_list)
    # a client's request (first byte to last) must arrive within this many seconds
    request_timeout: int = _setting("10", positive_int)
    # kandian.limits (each relayed connection holds two open files)
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("32", count)


@attrs.frozen
class ThrottleSection:
    # failed credential checks (passwords, DevKeys, play tokens) counted per window
    window: int = _setting("900", positive_int)
    failures_per_address: int = _setting("30", positive_int)
    failures_per_account: int = _setting("5", positive_int)


@attrs.frozen
class AdminSection:
    listen: str = _setting("tcp:8591:interface=127.0.0.1", endpoint)
    # kandian.limits and kandian.web
    max_connections: int = _setting("32", positive_int)
    max_connections_per_address: int = _setting("0", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)


@attrs.frozen
class FtpSection:
    listen: str = _setting("tcp:2121", endpoint)
    # data connections (PASV/EPSV) listen on these; empty: any port
    passive_ports: range | None = _setting("30000-30099", port_range)
    # seconds: a control connection idle (or not logged in); a data connection awaited or idle
    idle_timeout: int = _setting("120", positive_int)
    data_timeout: int = _setting("30", positive_int)
    # uploads: bytes per file, bytes on disk per device (0: no quota), logged-in sessions per device
    max_file_size: int = _setting("16M", size)
    device_quota: int = _setting("512M", size)
    max_connections_per_device: int = _setting("4", positive_int)
    # kandian.limits
    max_connections: int = _setting("64", positive_int)
    max_connections_per_address: int = _setting("16", count)


def ascii_text(width: int) -> Callable[[str], str]:
    """ASCII of at most *width* characters (a fixed-width SMGP field)."""
    def parse(raw: str) -> str:
        value = raw.strip()
        if not value.isascii() or len(value) > width:
            raise ValueError("at most %d ASCII characters" % width)
        return value
    return parse


@attrs.frozen
class SmsSection:
    # the carrier's SMGP 3.0 gateway (ISMG), a client endpoint (tcp:HOST:PORT); empty: no gateway
    gateway: str = _setting("", text)
    account: str = _setting("", ascii_text(8))  # Login ClientID
    password: str = _setting("", text, repr=False)  # the shared secret
    sp_number: str = _setting("", ascii_text(21))  # SrcTermID of every message
    service_id: str = _setting("", ascii_text(10))  # ServiceID of every message
    window: int = _setting("16", positive_int)  # Submits unanswered at a time
    rate: int = _setting("50", positive_int)  # Submits per second
    alarm_sms_interval: int = _setting("300", count)  # at most one alarm SMS per device per this many s (0: no limit)
    # how long a signed alarm-page link stays valid, seconds
    alarm_link_ttl: int = _setting("604800", positive_int)
    # the outbox: a message not submitted within validity seconds ends expired;
    # attempts are retry_delay seconds apart, doubling up to retry_max_delay
    validity: int = _setting("3600", positive_int)
    retry_delay: int = _setting("5", positive_int)
    retry_max_delay: int = _setting("300", positive_int)
    # finished messages (and stray status reports) are kept this many days
    keep_days: int = _setting("30", positive_int)


@attrs.frozen
class FilesSection:
    # pictures, logs and firmware images; empty: <data_dir>/files
    root: str = _setting("", text)
    # an upload is flushed to disk before its 226
    fsync: bool = _setting("true", boolean)
    retention_days: int = _setting("90", count)


@attrs.frozen
class FirmwareSection:
    # seconds between two looks at the upgrade campaigns and log requests (kandianctl writes them)
    poll_interval: int = _setting("5", positive_int)
    # a device sent UPGRADE_REQ that has not logged in with the new DevVer after this many seconds failed
    upgrade_timeout: int = _setting("1800", positive_int)
    # a `kandianctl device logs` request whose device stayed offline this long is dropped
    log_request_expiry: int = _setting("600", positive_int)


@attrs.frozen
class PortalSection:
    # the web portal at /, the REST API at /api/v1/ (empty: off)
    listen: str = _setting("tcp:8592", optional_endpoint)
    # seconds a login (Bearer token, cookie session) stays valid
    token_ttl: int = _setting("43200", positive_int)
    # seconds between two statistics samples kept in PostgreSQL
    stats_interval: int = _setting("300", positive_int)
    # days statistics samples are kept (daily counts are kept for ever)
    stats_keep_days: int = _setting("90", positive_int)
    # kandian.limits and kandian.web
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("64", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)
    # bytes per second a firmware upload (POST /api/v1/firmware) keeps up on average: each this many bytes
    # received add a second to its request_timeout
    upload_min_rate: int = _setting("65536", positive_int)
    # seconds a page of GET /api/v1/devices is answered from the node's cache at most (0: never cached)
    list_cache_ttl: int = _setting("1", count)


@attrs.frozen
class MediaSection:
    # the recorder's and the HLS packager's binary (a name on PATH or a path)
    ffmpeg: str = _setting("ffmpeg", text)
    # live HLS: where the packagers write (empty: <data_dir>/hls; emptied at start-up)
    hls_dir: str = _setting("", text)
    # seconds of video a live segment holds at least (cut at the camera's next key frame)
    hls_time: int = _setting("1", positive_int)
    # segments a live playlist lists (older ones are deleted)
    hls_list_size: int = _setting("6", positive_int)
    # seconds without a viewer's request before a stream's packager stops
    idle_timeout: int = _setting("30", positive_int)
    # seconds a first viewer waits for the first segment before 503 "starting"
    start_timeout: int = _setting("20", positive_int)
    # live streams this node packages at once (more: 503 "busy")
    max_live_streams: int = _setting("200", positive_int)
    # live HLS packagers starting at once (the others wait their turn, within start_timeout)
    max_starting: int = _setting("8", positive_int)
    # seconds of one recorded piece (a file, a row, a snapshot)
    segment_seconds: int = _setting("300", positive_int)
    # days recordings are kept (0: for ever)
    retention_days: int = _setting("30", count)
    # recording stops (an exception row says so) when the file system under [files] root has less free
    min_free: int = _setting("1G", size)
    # networks a stream proxy's source may be in (IP literals only); empty: loopback only
    proxy_allow: tuple = _setting("", cidr_list)
    # seconds between two checks that a stream proxy's source answers
    proxy_check_interval: int = _setting("30", positive_int)
    # the daemon's RTSP server of its own files (kandian.media.loop: spec/002's MP4 channels, spec/000's
    # platform recordings), loopback only, started when [mvb] or [cloudmonitor] is on; empty: off
    file_server: str = _setting("tcp:8597:interface=127.0.0.1", optional_endpoint)


@attrs.frozen
class GroupSection:
    # the province's group platform (§6): POST here; empty: none, the province is on its own
    url: str = _setting("", http_url)
    province_no: str = _setting("", digits(4))  # GB/T 2260's first four digits
    cms_no: str = _setting("", digits(2))
    cms_password: str = _setting("", text)
    # §6.1: seconds between two address reports
    report_interval: int = _setting("3600", positive_int)
    # §6.1 McuUrl and DevUrl; empty: http://public_host:PORT/mcu and …/register
    mcu_url: str = _setting("", http_url)
    dev_url: str = _setting("", http_url)
    # seconds one exchange with the group platform may take, connecting included
    timeout: int = _setting("10", positive_int)
    # §6.2–§6.4 changes not accepted: first retry after retry_first s, doubling up to retry_max
    retry_first: int = _setting("30", positive_int)
    retry_max: int = _setting("3600", positive_int)


@attrs.frozen
class GroupRoleSection:
    # this node as the group platform (§5, §6, §9); empty: off
    listen: str = _setting("", optional_endpoint)
    # §5 REDIRECT_RES StunIP/StunPort and BackupStunIP/BackupStunPort, HOST:PORT
    stun_address: tuple[str, int] | None = _setting("", address)
    backup_stun_address: tuple[str, int] | None = _setting("", address)
    # kandian.limits and kandian.web
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("32", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)


@attrs.frozen
class MvbSection:
    # spec/000's mobile video backend API, POST /mobileservice/{action} (empty: off)
    listen: str = _setting("", optional_endpoint)
    # seconds a play session waits for its player, and is kept after the player left or stopplay
    session_timeout: int = _setting("60", positive_int)
    # play sessions held at once on this node (play answers 100003 beyond)
    max_sessions: int = _setting("10000", positive_int)
    # kandian.limits and kandian.web
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("64", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)


@attrs.frozen
class CloudmonitorSection:
    # spec/002's cloud-monitoring API, GET /api/v1/… (empty: off)
    listen: str = _setting("", optional_endpoint)
    # seconds an access token (spec/002 §3.2) is valid
    token_ttl: int = _setting("7200", positive_int)
    # the base of play_url and storage_addr; empty: http://public_host:PORT of this listener
    public_url: str = _setting("", http_url)
    # stream_prop 1 channels: MP4 files of mp4_dir (empty: <files root>/mp4), played by [media] file_server
    mp4_dir: str = _setting("", text)
    # kandian.limits and kandian.web
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("64", count)
    request_timeout: int = _setting("10", positive_int)
    idle_timeout: int = _setting("15", positive_int)


@attrs.frozen
class OnenetSection:
    # the device-cloud video API of spec/001 (empty: off)
    listen: str = _setting("", optional_endpoint)
    # the one product this platform is: the product_id the API's requests must name
    product_id: str = _setting("1", digits_up_to(18))
    # §1.2: the register code devices are created with (empty: creating by code is off)
    register_code: str = _setting("", text, repr=False)
    # DevIDs of devices created without one: <prefix><8 digits>
    dev_id_prefix: str = _setting("899", digits(3))
    # the listener as API clients reach it, for the URLs it hands out; empty: http://public_host:PORT
    public_url: str = _setting("", http_url)
    # seconds a signed picture URL stays valid
    url_ttl: int = _setting("86400", positive_int)
    # bytes of one uploaded picture or object (§16.1: 8M)
    max_upload: int = _setting("8M", size)
    # §18.1's total storage; 0: the size of the file system under [files] root
    storage_capacity: int = _setting("0", size)
    # kandian.limits and kandian.web (an upload must arrive whole within request_timeout)
    max_connections: int = _setting("256", positive_int)
    max_connections_per_address: int = _setting("64", count)
    request_timeout: int = _setting("60", positive_int)
    idle_timeout: int = _setting("15", positive_int)


@attrs.frozen
class Config:
    path: str | None = None
    platform: PlatformSection = attrs.field(factory=PlatformSection)
    database: DatabaseSection = attrs.field(factory=DatabaseSection)
    device: DeviceSection = attrs.field(factory=DeviceSection)
    register: RegisterSection = attrs.field(factory=RegisterSection)
    mcu: McuSection = attrs.field(factory=McuSection)
    rtsp: RtspSection = attrs.field(factory=RtspSection)
    admin: AdminSection = attrs.field(factory=AdminSection)
    ftp: FtpSection = attrs.field(factory=FtpSection)
    files: FilesSection = attrs.field(factory=FilesSection)
    throttle: ThrottleSection = attrs.field(factory=ThrottleSection)
    firmware: FirmwareSection = attrs.field(factory=FirmwareSection)
    portal: PortalSection = attrs.field(factory=PortalSection)
    sms: SmsSection = attrs.field(factory=SmsSection)
    group: GroupSection = attrs.field(factory=GroupSection)
    group_role: GroupRoleSection = attrs.field(factory=GroupRoleSection)
    media: MediaSection = attrs.field(factory=MediaSection)
    mvb: MvbSection = attrs.field(factory=MvbSection)
    cloudmonitor: CloudmonitorSection = attrs.field(factory=CloudmonitorSection)
    onenet: OnenetSection = attrs.field(factory=OnenetSection)

    def listeners(self) -> dict[str, str]:
        """Listener name (the config section) → endpoint description (those with an empty ``listen`` are off)."""
        listeners = {
            name: getattr(self, name).listen
            for name in ("device", "register", "mcu", "rtsp", "admin", "ftp", "portal")
            if getattr(self, name).listen  # an empty listen turns an interface off
        }
        if self.group_role.listen:
            listeners["group_role"] = self.group_role.listen
        for name in ("mvb", "cloudmonitor", "onenet"):  # the compatibility APIs, off unless configured
            if getattr(self, name).listen:
                listeners[name] = getattr(self, name).listen
        return listeners

    def port_of(self, listener: str) -> int | None:
        """The port of a listener's ``tcp:``/``ssl:`` endpoint string, if it names one."""
        parts = getattr(self, listener).listen.split(":")
        if len(parts) > 1 and parts[0] in ("tcp", "ssl", "tcp6") and parts[1].isdigit():
            return int(parts[1])
        for part in parts:
            if part.startswith("port=") and part[5:].isdigit():
                return int(part[5:])
        return None

    @property
    def data_dir(self) -> str:
        return os.path.abspath(self.platform.data_dir)

    @property
    def hls_dir(self) -> str:
        return os.path.abspath(self.media.hls_dir or os.path.join(self.platform.data_dir, "hls"))

    @property
    def files_root(self) -> str:
        return os.path.abspath(self.files.root or os.path.join(self.platform.data_dir, "files"))


SECTIONS: dict[str, type] = {
    "platform": PlatformSection, "database": DatabaseSection,
    "device": DeviceSection, "register": RegisterSection, "mcu": McuSection,
    "rtsp": RtspSection, "admin": AdminSection, "ftp": FtpSection, "files": FilesSection,
    "throttle": ThrottleSection, "portal": PortalSection, "sms": SmsSection,
    "group": GroupSection, "group_role": GroupRoleSection, "media": MediaSection, "firmware": FirmwareSection,
    "mvb": MvbSection, "cloudmonitor": CloudmonitorSection,
    "onenet": OnenetSection,
}

# keys that are gone, and what replaced them
REMOVED: dict[tuple[str, str], str] = {
    ("mcu", "group_platform"): "AddDevice of a device this platform does not know asks the group platform"
                               " at [group] url (§6.5); with [group] url empty it answers Result 3, as"
                               " group_platform = refuse did: remove the key",
}


def parse(text_: str, path: str = "<string>", reactor: Any = None) -> Config:
    """Parse INI text into a :class:`Config`, or raise :class:`ConfigError`."""
    parser = configparser.ConfigParser(interpolation=None, strict=True,
                                       inline_comment_prefixes=(";", "#"),
                                       default_section="\x00none")
    parser.optionxform = str  # keys are case-sensitive, as documented
    try:
        parser.read_string(text_, source=path)
    except configparser.Error as e:
        raise ConfigError("%s: not a valid INI file: %s" % (path, " ".join(str(e).split()))) from None
    sections: dict[str, Any] = {}
    for name in parser.sections():
        cls = SECTIONS.get(name)
        if cls is None:
            raise ConfigError("%s: unknown section [%s] (known: %s)"
                              % (path, name, ", ".join(sorted(SECTIONS))))
        fields = {f.name: f for f in attrs.fields(cls)}
        values: dict[str, Any] = {}
        for key, raw in parser.items(name):
            field = fields.get(key)
            if (name, key) in REMOVED:
                raise ConfigError("%s: [%s] %s is no longer a setting: %s" % (path, name, key, REMOVED[name, key]))
            if field is None:
                raise ConfigError("%s: unknown key '%s' in [%s] (known: %s)"
                                  % (path, key, name, ", ".join(sorted(fields))))
            try:
                values[key] = field.metadata["parse"](raw)
            except ValueError as e:
                raise ConfigError("%s: [%s] %s = %r: %s" % (path, name, key, raw, e)) from None
        sections[name] = cls(**values)
    config = Config(path=path, **sections)
    _check_group(config)
    _check_endpoints(config, reactor)
    _check_sms(config, reactor)
    return config


def _check_sms(config: Config, reactor: Any) -> None:
    """A gateway must be a client endpoint string and come with an account."""
    gateway = config.sms.gateway
    if not gateway:
        return
    if reactor is None:
        from twisted.internet import reactor as global_reactor
        reactor = global_reactor
    try:
        clientFromString(reactor, gateway)
    except Exception as e:
        reason = " ".join(str(e).split()) or e.__class__.__name__
        raise ConfigError("%s: [sms] gateway = %r: bad endpoint: %s" % (config.path, gateway, reason)) from None
    if not config.sms.account:
        raise ConfigError("%s: [sms] account is required when gateway is set" % (config.path,))
def _check_group(config: Config) -> None:
    g = config.group
    if g.url:
        missing = [key for key in ("province_no", "cms_no", "cms_password") if not getattr(g, key)]
        if missing:
            raise ConfigError("%s: [group] url is set: %s must be set too" % (config.path, ", ".join(missing)))


def _check_endpoints(config: Config, reactor: Any) -> None:
    """Build (not listen on) every endpoint, so a bad string fails at start-up.

    ``serverFromString`` parses the description and, for ``ssl:``, loads the
    certificate and key: a missing file is reported here, not at bind time.
    """
    if reactor is None:
        from twisted.internet import reactor as global_reactor
        reactor = global_reactor
    seen: dict[str, str] = {}
    for name, description in config.listeners().items():
        try:
            serverFromString(reactor, description)
        except Exception as e:
            reason = " ".join(str(e).split()) or e.__class__.__name__
            raise ConfigError("%s: [%s] listen = %r: bad endpoint: %s"
                              % (config.path, name, description, reason)) from None
        if description in seen and not description.split(":")[1:2] == ["0"]:
            raise ConfigError("%s: [%s] listen = %r: same endpoint as [%s]"
                              % (config.path, name, description, seen[description]))
        seen[description] = name
    files = config.media.file_server
    if (config.cloudmonitor.listen or config.mvb.listen) and files:
        try:
            serverFromString(reactor, files)
        except Exception as e:
            reason = " ".join(str(e).split()) or e.__class__.__name__
            raise ConfigError("%s: [media] file_server = %r: bad endpoint: %s"
                              % (config.path, files, reason)) from None


def load(path: str | None, reactor: Any = None) -> Config:
    """Load the file at *path*; ``None`` means "no file: the built-in defaults"."""
    if path is None:
        config = Config()
        _check_endpoints(config, reactor)
        return config
    try:
        with open(path, encoding="utf-8") as f:
            content = f.read()
    except FileNotFoundError:
        raise ConfigError("%s: config file not found" % (path,)) from None
    except UnicodeDecodeError:
        raise ConfigError("%s: config file is not UTF-8" % (path,)) from None
    except OSError as e:
        raise ConfigError("%s: cannot read config file: %s" % (path, e.strerror)) from None
    return parse(content, path, reactor)


def describe_dsn(value: str) -> str:
    """A DSN for log lines and error messages: never its password."""
    try:
        parts = parse_dsn(value)
    except Exception:
        return "<unparsable dsn>"
    parts.pop("password", None)
    return " ".join("%s=%s" % kv for kv in sorted(parts.items()))
