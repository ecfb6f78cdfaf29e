"""kandian: the province platform ("轻平台") of the 手机看店 cloud-camera service.

The specification is 中国电信手机看店 V1.6.2; section numbers in docstrings
(§7.5.1 …) are that document's.
"""

__version__ = "0.1.0"
