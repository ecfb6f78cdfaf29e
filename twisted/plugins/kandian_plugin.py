from twisted.application.service import ServiceMaker

Kandian = ServiceMaker(
    "kandian",
    "kandian.tap",
    "kandian province platform: device link, MCU web service, RTSP relay",
    "kandian",
)
