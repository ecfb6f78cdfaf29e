"""kandian.mcu.envelope writes answers byte for byte as spyne's serializer would."""

from hypothesis import given, strategies as st
from lxml import etree
from spyne.server.http import HttpBase
from twisted.trial import unittest

from kandian.mcu import api, envelope
from kandian.mcu.soap import SOAP_CONTENT_TYPE, _MethodContext

DEV = api.Dev(DevID="81100000001", ChannelNo=0, Name="收银台 <&>", OnLine=1, PtzFlag=1, ShareFlag=0,
              MotionDetectionFlag=1, InfraredDetectionFlag=0, ManualAlarmFlag=0, DIDOAlarmFlag=1,
              VideoList=[api.Video(StreamType=1, FrameSize=1), api.Video(StreamType=2, FrameSize=3)],
              DIDOList=[api.DIDO(DIDONo=0, DIDONoName="门磁")])
RESULTS = {
    "GetSmsPassword": [0, 2],
    "McuLogin": [(0, "a" * 32, 4, [DEV, DEV]), (0, "s", 4, []), (1, None, None, None)],
    "RefreshDevList": [(0, [DEV]), (2, None)],
    "VideoPlay": [(0, "rtsp://192.168.1.2:554/realplay?devid=1&hashtoken=x", "", "", "", 0, 3, "rtsp://r"),
                  (4, None, None, None, None, None, None, None)],
    "GetCameraParam": [(0, "81100000001", 3, 15, 1, 4, 0)],
    "GetWifiList": [(0, [api.Wifi(SSID="shop", Signal=80, Security=4, InUser=1)])],
    "QueryAlarms": [(0, 25, [api.Alarm(DevName="d", AlarmType=1, DIDONoName="", AlarmTime="20261118220000")])],
    "QueryRecordFiles": [(0, 96, [api.RecordFile(FileName="f.ts", FileSize=2**40, StartTime="20261118000000",
                                                  EndTime="20261118001500")])],
    "RecordPlay": [(0, "", "", "", "rtsp://r?filename=f.ts")],
}


def _xml_char(c: str) -> bool:
    o = ord(c)
    return c in "\t\n\r" or 0x20 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000


class EnvelopeTests(unittest.SynchronousTestCase):
    def spyne(self, descriptor, result):
        app = api.application(None)
        ctx = _MethodContext(HttpBase(app), None, SOAP_CONTENT_TYPE.decode())
        ctx.descriptor = descriptor
        ctx.out_object = [result] if len(descriptor.out_message._type_info) <= 1 else result
        app.out_protocol.serialize(ctx, message=app.out_protocol.RESPONSE)
        app.out_protocol.create_out_string(ctx)
        return b"".join(ctx.out_string)

    def test_same_bytes_as_spyne(self):
        for name, results in RESULTS.items():
            descriptor = api.McuService.public_methods[name]
            for result in results:
                self.assertEqual(envelope.response(descriptor, result, api.NS), self.spyne(descriptor, result),
                                 (name, result))

    def test_every_result_only_operation(self):
        for name in api.McuService.public_methods:
            descriptor = api.McuService.public_methods[name]
            if len(descriptor.out_message._type_info) == 1:
                self.assertEqual(envelope.response(descriptor, 255, api.NS), self.spyne(descriptor, 255), name)

    def test_named_tuples_answer_like_spyne_objects(self):
        """Handlers may answer with plain records of the contract's field names."""
        import collections
        Video = collections.namedtuple("Video", "StreamType FrameSize")
        DIDO = collections.namedtuple("DIDO", "DIDONo DIDONoName")
        Dev = collections.namedtuple("Dev", [name for name, _ in api.Dev._type_info.items()])
        plain = Dev(DevID=DEV.DevID, ChannelNo=0, Name=DEV.Name, OnLine=1, PtzFlag=1, ShareFlag=0,
                    MotionDetectionFlag=1, InfraredDetectionFlag=0, ManualAlarmFlag=0, DIDOAlarmFlag=1,
                    VideoList=[Video(1, 1), Video(2, 3)], DIDOList=[DIDO(0, "门磁")])
        descriptor = api.McuService.public_methods["RefreshDevList"]
        self.assertEqual(envelope.response(descriptor, (0, [plain]), api.NS),
                         self.spyne(descriptor, (0, [DEV])))

    @given(st.text(max_size=40),
           st.integers(-2**31, 2**31 - 1), st.lists(st.tuples(st.integers(0, 9), st.text(max_size=8)), max_size=3))
    def test_any_text_as_spyne_writes_it_or_dropped_where_xml_cannot(self, name, number, didos):
        dev = api.Dev(DevID="81100000001", ChannelNo=number, Name=name, OnLine=1, PtzFlag=0, ShareFlag=1,
                      MotionDetectionFlag=0, InfraredDetectionFlag=0, ManualAlarmFlag=0, DIDOAlarmFlag=0,
                      VideoList=[], DIDOList=[api.DIDO(DIDONo=n, DIDONoName=t) for n, t in didos])
        descriptor = api.McuService.public_methods["RefreshDevList"]
        ours = envelope.response(descriptor, (0, [dev]), api.NS)
        try:
            theirs = self.spyne(descriptor, (0, [dev]))
        except (ValueError, UnicodeEncodeError):
            # lxml refuses what XML cannot carry (control characters, NUL, lone
            # surrogates, U+FFFE/U+FFFF): ours drops it and stays well-formed
            parsed = etree.fromstring(ours)
            written = parsed.find(".//{%s}Name" % api.NS).text or ""
            self.assertEqual(written, "".join(c for c in name if _xml_char(c)))
            return
        self.assertEqual(ours, theirs)

    def test_empty_records_and_lists_of_nothing(self):
        descriptor = api.McuService.public_methods["GetWifiList"]
        self.assertIn(b"<tns:WifiList><tns:Wifi/></tns:WifiList>",
                      envelope.response(descriptor, (0, [api.Wifi()]), api.NS))
        self.assertEqual(envelope.response(descriptor, (0, [api.Wifi()]), api.NS),
                         self.spyne(descriptor, (0, [api.Wifi()])))
        # spyne writes a list of only None as xsi:nil; we write it as the empty list it means
        self.assertIn(b"<tns:WifiList/>", envelope.response(descriptor, (0, [None, None]), api.NS))
        self.assertIn(b"<tns:WifiList><tns:Wifi><tns:SSID>a</tns:SSID></tns:Wifi></tns:WifiList>",
                      envelope.response(descriptor, (0, [api.Wifi(SSID="a"), None]), api.NS))

    def test_text_subclasses_and_numbers_are_escaped_too(self):
        class Text(str):
            pass

        descriptor = api.McuService.public_methods["GetWifiList"]
        wifi = api.Wifi(SSID=Text("<x>&"), Signal=80, Security=4, InUser=1)
        ours = envelope.response(descriptor, (0, [wifi]), api.NS)
        self.assertIn(b"<tns:SSID>&lt;x&gt;&amp;</tns:SSID>", ours)
        self.assertEqual(ours, self.spyne(descriptor, (0, [api.Wifi(SSID="<x>&", Signal=80, Security=4,
                                                                     InUser=1)])))


_values = st.one_of(st.none(), st.integers(-2**40, 2**40), st.integers(-3, 300), st.booleans(), st.text(max_size=12),
                    st.sampled_from(["81100000001", "a&b", "<x>", "\r\n\t", "\x00", "\ud800", "\ufffe"]))


class _Loose:
    """A record that has only some of its fields as attributes."""

    def __init__(self, **fields):
        self.__dict__.update(fields)


def _records(cls):
    """Records of *cls* (spyne objects' field names) as named tuples or objects missing attributes, with any
    value of the three shapes in any field."""
    from collections import namedtuple

    from spyne.model.complex import Array, ComplexModelBase

    names = list(cls._type_info)
    record = namedtuple(cls.get_type_name(), names)

    def value(field_cls):
        if isinstance(field_cls, type) and issubclass(field_cls, Array):
            ((_, item_cls),) = field_cls._type_info.items()
            return st.one_of(st.none(), st.lists(st.one_of(st.none(), _records(item_cls) if isinstance(
                item_cls, type) and issubclass(item_cls, ComplexModelBase) else _values), max_size=3))
        if isinstance(field_cls, type) and issubclass(field_cls, ComplexModelBase):
            return _records(field_cls)
        return _values

    fields = st.fixed_dictionaries({n: value(c) for n, c in cls._type_info.items()})
    return st.one_of(fields.map(lambda f: record(**f)),
                     st.tuples(fields, st.sets(st.sampled_from(names))).map(
                         lambda fs: _Loose(**{n: v for n, v in fs[0].items() if n not in fs[1]})))


class CompiledWriterTests(unittest.SynchronousTestCase):
    """The writers generated per answer write what the generic walk of the field table (``_write``) writes."""

    def walk(self, descriptor, result) -> bytes:
        answer = envelope._Answer(descriptor.out_message, api.NS)
        values = (result,) if answer.single else result
        out = [answer.head]
        for field, value in zip(answer.fields, values):
            if value is not None:
                envelope._write(out, field, value)
        if len(out) == 1:
            return answer.empty.encode("utf-8")
        out.append(answer.tail)
        return "".join(out).encode("utf-8")

    @given(st.data())
    def test_same_bytes_as_the_generic_walk(self, data):
        for name in ("McuLogin", "RefreshDevList", "GetWifiList", "QueryAlarms", "QueryRecordFiles", "VideoPlay",
                     "GetCameraParam"):
            descriptor = api.McuService.public_methods[name]
            outputs = descriptor.out_message._type_info
            result = tuple(data.draw(_field_values(cls)) for cls in outputs.values())
            self.assertEqual(envelope.response(descriptor, result, api.NS), self.walk(descriptor, result), name)

    def test_small_and_large_numbers_and_flags(self):
        descriptor = api.McuService.public_methods["GetCameraParam"]
        for result in [(0, "d", 255, 256, -1, 2**40, True), (0, "d", False, 0, 1, None, 7)]:
            self.assertEqual(envelope.response(descriptor, result, api.NS), self.walk(descriptor, result))
        self.assertIn(b"<tns:FrameSize>255</tns:FrameSize><tns:FrameRate>256</tns:FrameRate>",
                      envelope.response(descriptor, (0, "d", 255, 256, -1, 2**40, True), api.NS))


def _field_values(cls):
    from spyne.model.complex import Array, ComplexModelBase

    if isinstance(cls, type) and issubclass(cls, Array):
        ((_, item_cls),) = cls._type_info.items()
        return st.one_of(st.none(), st.lists(st.one_of(st.none(), _records(item_cls)), max_size=4))
    if isinstance(cls, type) and issubclass(cls, ComplexModelBase):
        return st.one_of(st.none(), _records(cls))
    return _values
