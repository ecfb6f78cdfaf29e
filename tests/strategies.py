"""Hypothesis strategies for kandian's wire formats, gathered in one place."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st

from kandian.device.frame import MAX_DATA, Frame
from kandian.device.messages import Message, registry
from kandian.device.messages.base import FIELD, Child, Integer, Item, Repeated, Text

# Text that XML can carry and that survives the reader's whitespace stripping:
# no control characters (which also excludes tab, CR and LF), no surrogates,
# no unassigned code points (U+FFFE and U+FFFF among them), no padding.
xml_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Cn")),
    max_size=24,
).map(lambda value: value.strip(" "))

# Most real values are short ASCII; bias towards them so failures read well.
field_text = st.one_of(st.text("0123456789ABCDEFabcdef_.:-", max_size=16), xml_text)

_INT_LIMIT = 2**63


def _integers(kind: Integer) -> st.SearchStrategy[int]:
    low = -_INT_LIMIT if kind.minimum is None else kind.minimum
    high = _INT_LIMIT if kind.maximum is None else kind.maximum
    return st.integers(min_value=low, max_value=high)


def _field(kind: Any) -> st.SearchStrategy[Any]:
    if isinstance(kind, Text):
        value: st.SearchStrategy[Any] = field_text
    elif isinstance(kind, Integer):
        value = _integers(kind)
    elif isinstance(kind, Repeated):
        return st.lists(bodies(kind.item), max_size=3).map(tuple)
    elif isinstance(kind, Child):
        return st.none() | bodies(kind.item)
    else:
        raise TypeError(kind)
    return st.none() | value if kind.optional else value


def bodies(cls: type[Item]) -> st.SearchStrategy[Any]:
    """Instances of a message or item class, built from its declared fields."""
    return st.builds(cls, **{a.name: _field(a.metadata[FIELD]) for a in attrs.fields(cls)})


MESSAGE_CLASSES: list[type[Message]] = sorted(registry().values(), key=lambda cls: (cls.CMD, cls.IS_RESPONSE))

# One strategy per message class.
MESSAGES: dict[type[Message], st.SearchStrategy[Message]] = {cls: bodies(cls) for cls in MESSAGE_CLASSES}

any_message = st.sampled_from(MESSAGE_CLASSES).flatmap(bodies)


def frames(max_data: int = 64) -> st.SearchStrategy[Frame]:
    """Frames with small DATA (the codec does not look inside it)."""
    return st.builds(
        Frame,
        cmd=st.integers(0, 0xFF),
        seq=st.integers(0, 0xFFFF),
        data=st.binary(max_size=min(max_data, MAX_DATA)),
        remark=st.just(0) | st.integers(0, 0xFF),
    )


def chunked(data: bytes) -> st.SearchStrategy[list[bytes]]:
    """*data* cut at arbitrary points (empty chunks included)."""
    return st.lists(st.integers(0, len(data)), max_size=12).map(
        lambda cuts: [data[a:b] for a, b in zip([0, *sorted(cuts)], [*sorted(cuts), len(data)])]
    )


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """*data* with a few bytes flipped, inserted or deleted."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "insert", "delete"]))
        position = draw(st.integers(0, len(buf)))
        if operation == "insert" or not buf:
            buf[position:position] = draw(st.binary(min_size=1, max_size=4))
        elif operation == "flip":
            position = min(position, len(buf) - 1)
            buf[position] ^= draw(st.integers(1, 255))
        else:
            del buf[position : position + draw(st.integers(1, 4))]
    return bytes(buf)
