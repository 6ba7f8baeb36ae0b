"""Content encoding: what users pass to ``send()`` / ``send_many()`` -> the wire's content values,
and back (`decode_content`, what the engine reads of a post).

This module is the one owner of the posted content shapes: a bare string, text with a MIME
type ``{"type_string": mime, "value": text}``, and a file ``{"type_string": "file", "value":
{"raw_bytes": base64, "metadata": {"name", "mime_type"}}}``. Everything is checked and read
here, before a frame is built, so bad input never reaches the engine and never leaves half a
batch sent.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Union, cast

import attrs

from ._errors import CodecError, ContentTooLargeError
from ._types import SessionMessage, UserSessionMessage

__all__ = [
    "DEFAULT_MAX_CONTENT_BYTES",
    "DecodedContent",
    "WireContent",
    "decode_content",
    "encode_attachments",
    "encode_batch",
    "encode_content",
]

#: A content value on the wire: a bare string or a typed object.
WireContent = Union[str, dict[str, Any]]

#: Default limit for one piece of content (a file, or a text), in bytes before base64.
DEFAULT_MAX_CONTENT_BYTES = 16 * 1024 * 1024

_ACCEPTED = "str, pathlib.Path, bytes, bytearray, or a file object opened for reading"
_ACCEPTED_ITEMS = f"{_ACCEPTED}, UserSessionMessage or SessionMessage"
_OCTET_STREAM = "application/octet-stream"
_FILE = "file"  # the type_string of file content


def _describe(value: object) -> str:
    """``an int``, ``a pathlib.PosixPath``: the type given, for error messages."""
    name = f"{type(value).__module__}.{type(value).__qualname__}".removeprefix("builtins.")
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _check_size(what: str, size: int, limit: int | None) -> None:
    if limit is not None and size > limit:
        raise ContentTooLargeError(what, size, limit)


def _guess_mime(name: str) -> str:
    return mimetypes.guess_type(name)[0] or _OCTET_STREAM


def _read_path(path: Path, limit: int | None) -> bytes:
    try:  # exists() and stat() too are refused when a parent directory cannot be entered
        if not path.exists():
            raise FileNotFoundError(2, "cannot attach a file that does not exist", str(path))
        if path.is_dir():
            raise IsADirectoryError(
                21, "cannot attach a directory; attach the files in it", str(path)
            )
        if not path.is_file():  # a FIFO or a device would block, or never end
            raise ValueError(f"cannot attach {str(path)!r}: it is not a regular file")
        _check_size(f"file {str(path)!r}", path.stat().st_size, limit)
        return path.read_bytes()
    except PermissionError as exc:
        raise PermissionError(exc.errno, "cannot read the file to attach", str(path)) from exc


def _read_rest(obj: Any, first: Any, limit: int) -> Any:
    """``first`` plus what ``obj`` still holds, up to one byte (or character) past ``limit``."""
    chunks = [first]
    size = len(first)
    while size <= limit:
        more = obj.read(limit + 1 - size)
        if not more:
            break
        chunks.append(more)
        size += len(more)
    return first[:0].join(chunks) if len(chunks) > 1 else first


def _read_file_object(obj: Any, limit: int | None) -> bytes:
    if getattr(obj, "closed", False):
        raise ValueError(f"cannot attach a closed file object ({_describe(obj)}); open it again")
    readable = getattr(obj, "readable", None)
    if callable(readable) and not readable():
        raise ValueError(f"cannot attach a file object not opened for reading ({_describe(obj)})")
    if limit is None:
        raw = obj.read()
    else:
        # Read one byte past the limit: enough to know it is too large without reading it all.
        # Raw streams (unbuffered files, pipes, sockets) may return fewer bytes than asked
        # before their end, so read on until the end or past the limit.
        raw = obj.read(limit + 1)
        if isinstance(raw, (str, bytes, bytearray)) and raw:
            raw = _read_rest(obj, raw, limit)
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if not isinstance(raw, (bytes, bytearray)):
        raise TypeError(
            f"the file object's read() returned {_describe(raw)}; expected bytes or str"
        )
    _check_size(f"file object {_file_name(obj) or _describe(obj)!r}", len(raw), limit)
    return bytes(raw)


def _file_name(obj: Any) -> str | None:
    name = getattr(obj, "name", None)
    if isinstance(name, (str, Path)) and str(name):
        return Path(name).name
    return None  # file descriptors (int) and nameless buffers


def _is_file_object(value: object) -> bool:
    return callable(getattr(value, "read", None))


def _utf8_size(text: str) -> int:
    """The size of ``text`` in UTF-8, which must be able to carry it: no lone surrogate (from
    a bad decode, or JSON's ``"\\ud800"`` escapes)."""
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"the text holds a lone surrogate ({text[exc.start]!r} at index {exc.start}), which "
            "UTF-8 cannot carry: decode the text with errors='replace', or drop it"
        ) from None


def encode_content(
    content: Any,
    *,
    mime_type: str | None = None,
    filename: str | None = None,
    max_bytes: int | None = DEFAULT_MAX_CONTENT_BYTES,
) -> WireContent:
    """Encode one piece of content as the protocol says.

    ``str`` stays a bare string (or ``{"type_string": mime, "value": str}`` with ``mime_type``);
    a ``Path``, ``bytes``/``bytearray`` or file object becomes a ``file`` object with base64 bytes,
    a name (``filename``, else the path's or file's name, else ``"file"``) and a MIME type
    (``mime_type``, else guessed from the name, else ``application/octet-stream``).
    """
    if isinstance(content, str):
        # The limit is in UTF-8 bytes: one per character for ASCII.
        size = len(content) if content.isascii() else _utf8_size(content)
        _check_size("text", size, max_bytes)
        if mime_type is None:
            return content
        if mime_type == _FILE:  # on the wire, {"type_string": "file"} is a file's content
            raise ValueError(
                f"mime_type {_FILE!r} is reserved for files in the protocol; to send a file, "
                "pass its bytes or its Path, else give a text MIME type such as 'text/plain'"
            )
        return {"type_string": mime_type, "value": content}
    if isinstance(content, bool) or content is None:
        raise TypeError(f"cannot send {content!r}; content must be {_ACCEPTED}")
    if isinstance(content, Path):
        data = _read_path(content, max_bytes)
        name = filename or content.name or "file"
    elif isinstance(content, (bytes, bytearray, memoryview)):
        data = bytes(cast("bytes | bytearray | memoryview[int]", content))
        _check_size("bytes content", len(data), max_bytes)
        name = filename or "file"
    elif _is_file_object(content):
        data = _read_file_object(content, max_bytes)
        name = filename or _file_name(content) or "file"
    else:
        raise TypeError(f"cannot send {_describe(content)}; content must be {_ACCEPTED}")
    return {
        "type_string": _FILE,
        "value": {
            "raw_bytes": base64.b64encode(data).decode("ascii"),
            "metadata": {"name": name, "mime_type": mime_type or _guess_mime(name)},
        },
    }


@attrs.frozen
class DecodedContent:
    """One posted content value, read back: what `encode_content` was given.

    Text: ``text``, with its ``mime_type`` when it was sent with one. A file: ``filename``,
    ``mime_type`` and ``data`` (the bytes; ``text`` is ``None``).
    """

    text: str | None = None
    mime_type: str | None = None
    filename: str | None = None
    data: bytes | None = attrs.field(default=None, repr=False)

    @property
    def is_file(self) -> bool:
        return self.data is not None


def json_type(value: object) -> str:
    """``a string``, ``an object``, ``null``...: a decoded JSON value's type, for error messages
    (here and in the codec)."""
    if value is None:
        return "null"
    names: dict[type[object], str] = {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def _field(
    obj: Mapping[str, Any], key: str, kind: type[object], where: str, frame_type: str | None
) -> Any:
    """``obj[key]`` when absent (``None``) or of type ``kind``; else a ``CodecError``."""
    value = obj.get(key)
    if value is None or type(value) is kind:
        return value
    expected = "an object" if kind is dict else "a string"
    raise CodecError(
        f"expected {expected}, got {json_type(value)}", frame_type=frame_type, field=where + key
    )


def decode_content(
    content: Any, frame_type: str | None = None, path: str = "content"
) -> DecodedContent:
    """A posted content value -> what it holds; ``CodecError`` (naming ``frame_type`` and the
    field under ``path``) when it is none of the shapes above.

    A file's ``metadata`` may leave out its name (``"file"``) and MIME type
    (``application/octet-stream``); its ``raw_bytes`` must be valid base64.
    """
    if type(content) is str:
        return DecodedContent(text=content)
    if type(content) is not dict:
        raise CodecError(
            f"expected a string or an object, got {json_type(content)}",
            frame_type=frame_type,
            field=path,
        )
    content = cast("dict[str, Any]", content)
    type_string = _field(content, "type_string", str, path + ".", frame_type)
    value = content.get("value")
    if type_string == _FILE:
        where = path + ".value."
        if type(value) is not dict:
            raise CodecError(
                "file content needs a 'value' object with raw_bytes and metadata",
                frame_type=frame_type,
                field=path + ".value",
            )
        value = cast("dict[str, Any]", value)
        raw = _field(value, "raw_bytes", str, where, frame_type)
        if raw is None:
            raise CodecError("missing", frame_type=frame_type, field=where + "raw_bytes")
        metadata: dict[str, Any] = _field(value, "metadata", dict, where, frame_type) or {}
        name = _field(metadata, "name", str, where + "metadata.", frame_type)
        mime = _field(metadata, "mime_type", str, where + "metadata.", frame_type)
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise CodecError(
                "file content's raw_bytes is not valid base64",
                frame_type=frame_type,
                field=where + "raw_bytes",
            ) from None
        return DecodedContent(mime_type=mime or _OCTET_STREAM, filename=name or "file", data=data)
    if type_string is not None and type(value) is str:
        return DecodedContent(text=value, mime_type=type_string)  # text with a MIME type
    raise CodecError(
        "unsupported content: expected a string, {'type_string': <mime>, 'value': <string>} "
        "or a file object",
        frame_type=frame_type,
        field=path,
    )


def encode_attachments(
    files: Iterable[Any] | None, max_bytes: int | None = DEFAULT_MAX_CONTENT_BYTES
) -> list[WireContent]:
    """Encode ``send(..., files=[...])`` attachments; text is not an attachment."""
    if files is None:
        return []
    if isinstance(files, (str, bytes, bytearray, Path)) or _is_file_object(files):
        raise TypeError(
            f"files must be a list of attachments, got {_describe(files)}; "
            f"wrap it in a list: files=[...]"
        )
    encoded: list[WireContent] = []
    for item in files:
        if isinstance(item, str):
            raise TypeError(
                f"attachment {item[:40]!r} is a str; attach pathlib.Path(...) for a file on disk, "
                f"or send text as the content"
            )
        encoded.append(encode_content(item, max_bytes=max_bytes))
    return encoded


def encode_batch(
    items: Sequence[Any], max_bytes: int | None = DEFAULT_MAX_CONTENT_BYTES
) -> list[WireContent]:
    """Encode ``send_many(items)`` as the ``messages`` of one ``post_messages`` frame."""
    if isinstance(items, (str, bytes, bytearray, Path, UserSessionMessage, SessionMessage)) or (
        _is_file_object(items) or isinstance(items, Mapping)
    ):
        raise TypeError(
            f"send_many() takes a list of items, got {_describe(items)}; "
            f"use send() for one message, or wrap it in a list"
        )
    encoded: list[WireContent] = []
    for item in items:
        if isinstance(item, UserSessionMessage):
            if item.content is not None:
                encoded.append(
                    encode_content(
                        item.content,
                        mime_type=item.mime_type,
                        filename=item.filename,
                        max_bytes=max_bytes,
                    )
                )
            encoded.extend(encode_attachments(item.files, max_bytes))
        elif isinstance(item, SessionMessage):
            if item.text:
                encoded.append(encode_content(item.text, max_bytes=max_bytes))
        else:
            try:
                encoded.append(encode_content(item, max_bytes=max_bytes))
            except TypeError:
                raise TypeError(
                    f"cannot send {_describe(item)} in send_many(); each item must be "
                    f"{_ACCEPTED_ITEMS}"
                ) from None
    if not encoded:
        raise ValueError(
            "send_many() got nothing to send: the batch is empty (or its messages have no "
            "content and no files); pass at least one item"
        )
    return encoded
