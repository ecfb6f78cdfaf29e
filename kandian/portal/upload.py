"""A firmware image sent to ``POST /api/v1/firmware`` (PRODUCT.md "Portal and REST API"), saved to a file.

Two forms: the raw image (``application/octet-stream``) with ``manufacturer``,
``model``, ``version`` and ``file_name`` in the query; or a browser's
``multipart/form-data`` with those fields and a ``file`` part (its file name
is the part's unless ``file_name`` is given).  :func:`save` blocks (it copies
up to ``MAX_UPLOAD`` bytes): the handler runs it in a thread.
"""

from __future__ import annotations

import email.parser
import email.policy
import os
import shutil

from ..core import errors

FIELDS = ("manufacturer", "model", "version", "file_name")
_CHUNK = 1 << 20


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
    head = ("Content-Type: %s\r\n\r\n" % upload.content_type).encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + upload.content.read())
    if not message.is_multipart():
        raise errors.BadValue("a multipart/form-data body without parts")
    fields, image, image_name = {}, None, None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name == "file":
            image, image_name = part.get_payload(decode=True), part.get_filename()
        elif name in FIELDS:
            payload = part.get_payload(decode=True) or b""
            try:
                fields[name] = payload.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise errors.BadValue("%s is not UTF-8" % name) from None
    if image is None:
        raise errors.BadValue("the form has no file part")
    path = _path(directory, fields.get("file_name") or image_name)
    with open(path, "xb") as out:
        out.write(image)
    return fields, path


def _path(directory: str, file_name: str | None) -> str:
    name = os.path.basename((file_name or "").replace("\\", "/"))
    if not name or name in (".", ".."):
        raise errors.BadValue("the image's file_name is required")
    return os.path.join(directory, name)
