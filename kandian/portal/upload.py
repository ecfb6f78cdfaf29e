"""A firmware image sent to ``POST /api/v1/firmware`` (PRODUCT.md "Portal and REST API"), saved to a file.

Two forms: the raw image (``application/octet-stream``) with ``manufacturer``,
``model``, ``version`` and ``file_name`` in the query; or a browser's
``multipart/form-data`` with those fields and a ``file`` part (its file name
is the part's unless ``file_name`` is given), read a piece at a time by
:mod:`.multipart`.  :func:`save` blocks (it copies up to ``MAX_UPLOAD``
bytes): the handler runs it in a thread.
"""

from __future__ import annotations

import os
import shutil

from ..core import errors
from . import multipart

FIELDS = ("manufacturer", "model", "version", "file_name")
_CHUNK = 1 << 20
MAX_FIELD = 4096  # a text field of the form


def save(upload, query: dict, directory: str) -> tuple[dict, str]:
    """(the text fields, the path of the image saved under *directory*); BadValue for a body not so formed."""
    if upload.content_type.split(";")[0].strip().lower() == "multipart/form-data":
        return _multipart(upload, directory)
    fields = {k: v for k, v in query.items() if k in FIELDS}
    path = _path(directory, fields.get("file_name"))
    with open(path, "xb") as out:
        shutil.copyfileobj(upload.content, out, _CHUNK)
    return fields, path


def _multipart(upload, directory: str) -> tuple[dict, str]:
    """The form read from the request's file a piece at a time: the image is written as it comes."""
    try:
        reader = multipart.FormReader(multipart.boundary_of(upload.content_type))
    except multipart.MultipartError as e:
        raise errors.BadValue("multipart/form-data: %s" % e) from None
    fields: dict = {}
    image_name = None
    spooled = os.path.join(directory, ".image")
    current, text = None, bytearray()
    try:
        with open(spooled, "xb") as out:
            while True:
                chunk = upload.content.read(_CHUNK)
                try:
                    events = reader.feed(chunk) if chunk else reader.close() or []
                except multipart.MultipartError as e:
                    raise errors.BadValue("multipart/form-data: %s" % e) from None
                for event in events:
                    if isinstance(event, multipart.Part):
                        if event.name == "file":
                            if image_name is not None:
                                raise errors.BadValue("the form has two file parts")
                            image_name = event.filename or ""
                        current = event
                        text.clear()
                    elif event is multipart.END:
                        if current.name in FIELDS:
                            try:
                                fields[current.name] = text.decode("utf-8").strip()
                            except UnicodeDecodeError:
                                raise errors.BadValue("%s is not UTF-8" % current.name) from None
                        current = None
                    elif current.name == "file":
                        out.write(event)
                    elif current.name in FIELDS:
                        text += event
                        if len(text) > MAX_FIELD:
                            raise errors.BadValue("%s is longer than %d bytes" % (current.name, MAX_FIELD))
                if not chunk:
                    break
        if image_name is None:
            raise errors.BadValue("the form has no file part")
        path = _path(directory, fields.get("file_name") or image_name)
        os.rename(spooled, path)
    except BaseException:
        if os.path.exists(spooled):
            os.unlink(spooled)
        raise
    return fields, path


def _path(directory: str, file_name: str | None) -> str:
    name = os.path.basename((file_name or "").replace("\\", "/"))
    if not name or name in (".", ".."):
        raise errors.BadValue("the image's file_name is required")
    return os.path.join(directory, name)
