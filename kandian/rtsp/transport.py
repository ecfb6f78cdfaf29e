"""The RTSP ``Transport`` header (RFC 2326 §12.39; spec §15): pure helpers.

The relay carries RTP interleaved over TCP only; :func:`parse_transport` reads
what a client offers, :func:`offers_tcp_interleaved` tells whether it can be
served, :func:`format_transport` writes the offers kept.  No I/O, no Twisted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = ["TransportSpec", "parse_transport", "format_transport", "offers_tcp_interleaved"]

_DIGITS = re.compile(r"[0-9]+")


def _range(name: str, value: str | None, high: int) -> tuple[int, int] | None:
    if value is None:
        return None
    low_text, dash, high_text = value.strip().partition("-")
    if not _DIGITS.fullmatch(low_text) or dash and not _DIGITS.fullmatch(high_text):
        raise ValueError(f"bad {name}={value!r} in Transport")
    low = int(low_text)
    top = int(high_text) if dash else low
    if not low <= top <= high:
        raise ValueError(f"bad {name}={value!r} in Transport")
    return low, top


_PROTOCOL = re.compile(r"[A-Za-z0-9.+\-_]+/[A-Za-z0-9.+\-_]+(?:/[A-Za-z0-9.+\-_]+)?")


def _transport_params(value: Any) -> tuple[tuple[str, str | None], ...]:
    return tuple((str(name), None if v is None else str(v)) for name, v in value)


@attrs.frozen
class TransportSpec:
    """One transport specification of a ``Transport`` header (RFC 2326 §12.39).

    ``protocol`` as written (``RTP/AVP``, ``RTP/AVP/TCP``, ``RTP/AVP/UDP``);
    ``params`` every parameter in order, ``(name, value)`` with ``None`` for a
    flag such as ``unicast``; the properties read the usual ones. Port and
    channel ranges are ``(low, high)``, ``(n, n)`` for a single number.
    """

    protocol: str
    params: tuple[tuple[str, str | None], ...] = attrs.field(default=(), converter=_transport_params)

    def __attrs_post_init__(self) -> None:
        if not _PROTOCOL.fullmatch(self.protocol):
            raise ValueError(f"bad transport protocol {self.protocol!r}")
        (self.interleaved, self.client_port, self.server_port, self.port)  # noqa: B018 (reading validates)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of parameter *name* (case-insensitive), unquoted."""
        key = name.lower()
        for have, value in self.params:
            if have.lower() == key:
                return default if value is None else value.strip('"')
        return default

    @property
    def transport(self) -> str:
        return self.protocol.split("/")[0].upper()

    @property
    def profile(self) -> str:
        return self.protocol.split("/")[1].upper()

    @property
    def lower_transport(self) -> str:
        """``TCP`` or ``UDP`` (the default when the protocol names none)."""
        parts = self.protocol.split("/")
        return parts[2].upper() if len(parts) > 2 else "UDP"

    @property
    def cast(self) -> str | None:
        """``unicast``, ``multicast`` or ``None`` when not said."""
        for name, value in self.params:
            if value is None and name.lower() in ("unicast", "multicast"):
                return name.lower()
        return None

    @property
    def interleaved(self) -> tuple[int, int] | None:
        return _range("interleaved", self.get("interleaved"), 0xFF)

    @property
    def client_port(self) -> tuple[int, int] | None:
        return _range("client_port", self.get("client_port"), 0xFFFF)

    @property
    def server_port(self) -> tuple[int, int] | None:
        return _range("server_port", self.get("server_port"), 0xFFFF)

    @property
    def port(self) -> tuple[int, int] | None:
        return _range("port", self.get("port"), 0xFFFF)

    @property
    def mode(self) -> str | None:
        """``mode`` unquoted and upper-cased (``PLAY``), or ``None``."""
        value = self.get("mode")
        return None if value is None else value.upper()

    @property
    def is_tcp_interleaved(self) -> bool:
        """RTP over the RTSP connection (``…/TCP``; the channels may be left to the server)."""
        return self.lower_transport == "TCP"

    def to_str(self) -> str:
        return ";".join([self.protocol, *(name if value is None else f"{name}={value}" for name, value in self.params)])

    __str__ = to_str


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for char in text:
        if char == '"':
            quoted = not quoted
        if char == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def parse_transport(value: str) -> list[TransportSpec]:
    """The transport specifications of a ``Transport`` header, in order of
    preference; ``ValueError`` for a malformed one."""
    specs = []
    for spec_text in _split_outside_quotes(value, ","):
        pieces = [piece.strip(" \t") for piece in _split_outside_quotes(spec_text, ";")]
        if not pieces[0]:
            if any(pieces):
                raise ValueError(f"transport specification without protocol: {spec_text.strip()!r}")
            continue
        params = []
        for piece in pieces[1:]:
            if piece:
                name, eq, param = piece.partition("=")
                params.append((name.strip(" \t"), param.strip(" \t") if eq else None))
        specs.append(TransportSpec(pieces[0], tuple(params)))
    if not specs:
        raise ValueError("empty Transport header")
    return specs


def format_transport(specs: Iterable[TransportSpec]) -> str:
    return ",".join(spec.to_str() for spec in specs)


def offers_tcp_interleaved(value: str | Iterable[TransportSpec]) -> bool:
    """Whether any offered specification is RTP interleaved over TCP."""
    specs = parse_transport(value) if isinstance(value, str) else value
    return any(spec.is_tcp_interleaved for spec in specs)
