"""Content encoding: what ``send()`` / ``send_many()`` accept, exactly as the protocol says."""

from __future__ import annotations

import base64
import errno
import io
import mimetypes
import os
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vectorshift_sessions import (
    CodecError,
    ContentTooLargeError,
    MessageSender,
    SessionMessage,
    SessionMessageRole,
    UserSessionMessage,
    VectorShiftError,
)
from vectorshift_sessions._content import (
    DEFAULT_MAX_CONTENT_BYTES,
    DecodedContent,
    decode_content,
    encode_attachments,
    encode_batch,
    encode_content,
)

OCTET = "application/octet-stream"


def file_content(data: bytes, name: str, mime: str) -> dict[str, Any]:
    """The protocol's file content, written out."""
    return {
        "type_string": "file",
        "value": {
            "raw_bytes": base64.b64encode(data).decode("ascii"),
            "metadata": {"name": name, "mime_type": mime},
        },
    }


def decoded_bytes(content: Any) -> bytes:
    return base64.b64decode(content["value"]["raw_bytes"], validate=True)


class TrickleStream(io.RawIOBase):
    """A raw stream that returns at most a few bytes per read, as pipes and sockets may."""

    def __init__(self, data: bytes, step: int = 3) -> None:
        self._data = data
        self._pos = 0
        self._step = step
        self.reads = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.reads += 1
        chunk = self._data[self._pos : self._pos + self._step]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


class DeniedStream(io.RawIOBase):
    """A readable stream whose reads are refused by the operating system."""

    name = "secret.txt"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise PermissionError(errno.EACCES, "Permission denied", "secret.txt")


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"hello notes")
    return path


# --- str ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["hello", "", "héllo ☃ 日本", "line\nbreak"])
def test_str_is_the_bare_string(text: str) -> None:
    assert encode_content(text) == text


def test_str_with_mime_type() -> None:
    assert encode_content("# Title", mime_type="text/markdown") == {
        "type_string": "text/markdown",
        "value": "# Title",
    }


def test_str_ignores_filename() -> None:
    assert encode_content("hi", filename="x.txt") == "hi"


# --- Path -----------------------------------------------------------------------------------


def test_path_name_and_guessed_mime(text_file: Path) -> None:
    assert encode_content(text_file) == file_content(b"hello notes", "notes.txt", "text/plain")


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("chart.png", "image/png"),
        ("doc.pdf", "application/pdf"),
        ("data.json", "application/json"),
        ("page.html", "text/html"),
        ("blob.unknownext", OCTET),
        ("README", OCTET),
    ],
)
def test_path_mime_guess(tmp_path: Path, name: str, mime: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x00\x01binary")
    encoded = encode_content(path)
    assert encoded == file_content(b"\x00\x01binary", name, mime)


def test_path_overrides(text_file: Path) -> None:
    # The name override also drives the MIME guess ("guessed from the name").
    assert encode_content(text_file, filename="report.pdf") == file_content(
        b"hello notes", "report.pdf", "application/pdf"
    )
    assert encode_content(text_file, mime_type="text/x-custom") == file_content(
        b"hello notes", "notes.txt", "text/x-custom"
    )
    assert encode_content(text_file, filename="a.png", mime_type="text/plain") == file_content(
        b"hello notes", "a.png", "text/plain"
    )


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    assert encode_content(path) == file_content(b"", "empty.txt", "text/plain")


def test_large_binary_round_trips_through_base64(tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "noise.bin"
    path.write_bytes(data)
    encoded = encode_content(path)
    assert decoded_bytes(encoded) == data
    assert encoded["value"]["metadata"]["name"] == "noise.bin"


def test_missing_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "missing.txt"
    with pytest.raises(FileNotFoundError) as info:
        encode_content(missing)
    assert info.value.filename == str(missing)
    assert info.value.errno == errno.ENOENT
    assert str(missing) in str(info.value)
    assert "does not exist" in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        encode_content(tmp_path)
    assert info.value.filename == str(tmp_path)
    assert "directory" in str(info.value)
    assert str(tmp_path) in str(info.value)


_AS_NOBODY = textwrap.dedent(
    """
    import mimetypes, os, sys
    from pathlib import Path
    from vectorshift_sessions._content import encode_content
    mimetypes.init()  # load everything before giving up root
    os.setgid(65534)
    os.setuid(65534)
    try:
        encode_content(Path(sys.argv[1]))
    except BaseException as exc:
        print(type(exc).__name__, getattr(exc, "errno", None), getattr(exc, "filename", None))
        print(exc)
    else:
        print("no error")
    """
)


@pytest.fixture
def world_visible_dir() -> Iterator[Path]:
    """A directory any user may enter (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="vs-content-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        for child in path.iterdir():
            if child.is_dir():
                child.chmod(0o755)
                for grandchild in child.iterdir():
                    grandchild.unlink()
                child.rmdir()
            else:
                child.unlink()
        path.rmdir()


def _encode_unreadable(path: Path) -> list[str]:
    """Encode ``path`` as a user the OS refuses: directly, or (as root) in a child that drops
    root, since root reads any file whatever its mode."""
    if os.geteuid() != 0:
        try:
            encode_content(path)
        except PermissionError as exc:
            return [f"PermissionError {exc.errno} {exc.filename}", str(exc)]
        return ["no error"]
    result = subprocess.run(
        [sys.executable, "-c", _AS_NOBODY, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if "Operation not permitted" in result.stderr:
        pytest.skip("cannot drop root privileges here")
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_unreadable_file(world_visible_dir: Path) -> None:
    path = world_visible_dir / "secret.txt"
    path.write_bytes(b"top secret")
    path.chmod(0o000)
    lines = _encode_unreadable(path)
    assert lines[0] == f"PermissionError {errno.EACCES} {path}", lines
    assert "cannot read the file to attach" in lines[1]
    assert str(path) in lines[1]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_file_in_a_directory_that_cannot_be_entered(world_visible_dir: Path) -> None:
    locked = world_visible_dir / "locked"
    locked.mkdir()
    path = locked / "inside.txt"
    path.write_bytes(b"x")
    locked.chmod(0o700 if os.geteuid() == 0 else 0o000)
    lines = _encode_unreadable(path)
    assert lines[0] == f"PermissionError {errno.EACCES} {path}", lines
    assert "cannot read the file to attach" in lines[1]


def test_file_object_whose_read_is_refused() -> None:
    with pytest.raises(PermissionError) as info:
        encode_content(DeniedStream())
    assert info.value.filename == "secret.txt"
    # send_many() must not turn it into a "wrong type" TypeError.
    with pytest.raises(PermissionError):
        encode_batch([DeniedStream()])


# --- bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"\x00\xffraw", bytearray(b"\x00\xffraw"), b""])
def test_bytes(data: bytes) -> None:
    assert encode_content(data) == file_content(bytes(data), "file", OCTET)


def test_bytes_overrides() -> None:
    assert encode_content(b"%PDF", filename="a.pdf") == file_content(
        b"%PDF", "a.pdf", "application/pdf"
    )
    assert encode_content(b"x", mime_type="image/png") == file_content(b"x", "file", "image/png")
    assert encode_content(bytearray(b"x"), filename="a.bin", mime_type="text/plain") == (
        file_content(b"x", "a.bin", "text/plain")
    )


# --- file objects ---------------------------------------------------------------------------


def test_binary_file_object(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    path.write_bytes(b'{"a": 1}')
    with path.open("rb") as f:
        assert encode_content(f) == file_content(b'{"a": 1}', "data.json", "application/json")


def test_binary_file_object_name_is_the_base_name_not_the_path(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "chart.png"
    path.parent.mkdir()
    path.write_bytes(b"\x89PNG")
    with open(str(path), "rb") as f:
        assert f.name == str(path)
        assert encode_content(f)["value"]["metadata"] == {
            "name": "chart.png",
            "mime_type": "image/png",
        }


def test_unbuffered_file_object(tmp_path: Path) -> None:
    path = tmp_path / "raw.bin"
    data = os.urandom(100_000)
    path.write_bytes(data)
    with path.open("rb", buffering=0) as f:
        assert decoded_bytes(encode_content(f)) == data


def test_text_file_object_is_utf8_encoded(tmp_path: Path) -> None:
    path = tmp_path / "greeting.txt"
    path.write_text("héllo ☃", encoding="utf-8")
    with path.open("r", encoding="utf-8") as f:
        assert encode_content(f) == file_content("héllo ☃".encode(), "greeting.txt", "text/plain")


def test_text_file_object_in_another_encoding_is_sent_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.txt"
    path.write_bytes("café".encode("latin-1"))
    with path.open("r", encoding="latin-1") as f:
        assert decoded_bytes(encode_content(f)) == "café".encode()


def test_file_object_reads_from_its_position(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"0123456789")
    with path.open("rb") as f:
        f.seek(4)
        assert decoded_bytes(encode_content(f)) == b"456789"


def test_bytes_io_and_string_io() -> None:
    assert encode_content(io.BytesIO(b"abc")) == file_content(b"abc", "file", OCTET)
    assert encode_content(io.StringIO("héllo")) == file_content("héllo".encode(), "file", OCTET)


def test_file_object_without_a_name_uses_overrides() -> None:
    assert encode_content(io.BytesIO(b"abc"), filename="x.csv") == file_content(
        b"abc", "x.csv", "text/csv"
    )
    assert encode_content(io.StringIO("a"), mime_type="text/plain") == file_content(
        b"a", "file", "text/plain"
    )


def test_file_object_with_a_name_attribute() -> None:
    buffer = io.BytesIO(b"%PDF")
    buffer.name = "report.pdf"  # type: ignore[attr-defined]
    assert encode_content(buffer) == file_content(b"%PDF", "report.pdf", "application/pdf")
    assert (
        encode_content(io.BytesIO(b"x"), filename="n.txt")["value"]["metadata"]["name"] == "n.txt"
    )


def test_file_object_opened_from_a_descriptor_is_named_file(tmp_path: Path) -> None:
    path = tmp_path / "fd.txt"
    path.write_bytes(b"fd data")
    fd = os.open(path, os.O_RDONLY)
    with open(fd, "rb") as f:
        assert isinstance(f.name, int)
        assert encode_content(f) == file_content(b"fd data", "file", OCTET)


def test_raw_stream_with_short_reads_is_read_to_the_end() -> None:
    data = b"a raw stream returns fewer bytes than asked before its end"
    stream = TrickleStream(data)
    assert decoded_bytes(encode_content(stream)) == data
    assert stream.reads > 1
    assert decoded_bytes(encode_content(TrickleStream(data), max_bytes=None)) == data


def test_raw_stream_with_short_reads_still_respects_the_limit() -> None:
    with pytest.raises(ContentTooLargeError):
        encode_content(TrickleStream(b"x" * 100), max_bytes=50)
    assert decoded_bytes(encode_content(TrickleStream(b"x" * 50), max_bytes=50)) == b"x" * 50


def test_closed_file_object(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_bytes(b"x")
    f = path.open("rb")
    f.close()
    with pytest.raises(ValueError, match="closed file object") as info:
        encode_content(f)
    assert "BufferedReader" in str(info.value)
    closed = io.BytesIO(b"x")
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        encode_content(closed)


def test_write_only_file_object(tmp_path: Path) -> None:
    with (
        (tmp_path / "out.bin").open("wb") as f,
        pytest.raises(ValueError, match="not opened for reading"),
    ):
        encode_content(f)
    with (tmp_path / "out.txt").open("w") as f, pytest.raises(ValueError, match="for reading"):
        encode_content(f)


def test_file_object_whose_read_returns_something_else() -> None:
    class Weird:
        def read(self, size: int = -1) -> int:
            return 42

    with pytest.raises(TypeError, match=r"read\(\) returned an int; expected bytes or str"):
        encode_content(Weird())


# --- unsupported types ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [None, 42, 1.5, True, {"type_string": "file"}, ["a"], ("a",), object(), {1, 2}],
    ids=lambda v: type(v).__name__,
)
def test_unsupported_content_type(value: Any) -> None:
    with pytest.raises(TypeError) as info:
        encode_content(value)
    message = str(info.value)
    assert type(value).__name__ in message or repr(value) in message
    assert "str, pathlib.Path, bytes, bytearray, or a file object" in message


# --- size limit -----------------------------------------------------------------------------


def _too_large(call: Any, size: int, limit: int) -> ContentTooLargeError:
    with pytest.raises(ContentTooLargeError) as info:
        call()
    error = info.value
    assert isinstance(error, ValueError)
    assert isinstance(error, VectorShiftError)
    assert (error.size, error.limit) == (size, limit)
    assert "max_content_bytes" in str(error)
    return error


def test_default_limit() -> None:
    assert DEFAULT_MAX_CONTENT_BYTES == 16 * 1024 * 1024


def test_size_limit_str() -> None:
    assert encode_content("x" * 10, max_bytes=10) == "x" * 10
    _too_large(lambda: encode_content("x" * 11, max_bytes=10), 11, 10)
    _too_large(lambda: encode_content("x" * 11, mime_type="text/plain", max_bytes=10), 11, 10)


def test_size_limit_str_counts_utf8_bytes_not_characters() -> None:
    # 10 characters, 20 bytes: the limit is in bytes.
    error = _too_large(lambda: encode_content("é" * 10, max_bytes=15), 20, 15)
    assert "20 bytes" in str(error)
    assert encode_content("é" * 10, max_bytes=20) == "é" * 10


def test_size_limit_bytes() -> None:
    assert encode_content(b"x" * 10, max_bytes=10)["type_string"] == "file"
    _too_large(lambda: encode_content(b"x" * 11, max_bytes=10), 11, 10)
    _too_large(lambda: encode_content(bytearray(11), max_bytes=10), 11, 10)


def test_size_limit_path(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1000)
    assert decoded_bytes(encode_content(path, max_bytes=1000)) == b"x" * 1000
    error = _too_large(lambda: encode_content(path, max_bytes=999), 1000, 999)
    assert str(path) in str(error)


def test_size_limit_file_objects(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_bytes(b"x" * 1000)
    with path.open("rb") as f:
        error = _too_large(lambda: encode_content(f, max_bytes=100), 101, 100)
        assert f.tell() == 101  # it stopped reading just past the limit
    assert "big.txt" in str(error)
    _too_large(lambda: encode_content(io.BytesIO(b"x" * 11), max_bytes=10), 11, 10)
    _too_large(lambda: encode_content(io.StringIO("é" * 6), max_bytes=10), 12, 10)
    with path.open("r", encoding="utf-8") as f:
        _too_large(lambda: encode_content(f, max_bytes=100), 101, 100)
    assert decoded_bytes(encode_content(io.BytesIO(b"x" * 10), max_bytes=10)) == b"x" * 10


def test_no_limit() -> None:
    data = b"x" * (DEFAULT_MAX_CONTENT_BYTES + 1)
    _too_large(lambda: encode_content(data), len(data), DEFAULT_MAX_CONTENT_BYTES)
    assert encode_content(data, max_bytes=None)["type_string"] == "file"


def test_size_limit_applies_to_attachments_and_batches(tmp_path: Path) -> None:
    _too_large(lambda: encode_attachments([b"x" * 11], max_bytes=10), 11, 10)
    _too_large(lambda: encode_batch(["ok", b"x" * 11], max_bytes=10), 11, 10)
    _too_large(lambda: encode_batch([UserSessionMessage(content="x" * 11)], max_bytes=10), 11, 10)
    _too_large(
        lambda: encode_batch([UserSessionMessage(content="ok", files=[b"x" * 11])], max_bytes=10),
        11,
        10,
    )


# --- attachments ----------------------------------------------------------------------------


def test_attachments(text_file: Path) -> None:
    buffer = io.BytesIO(b"buf")
    assert encode_attachments([text_file, b"raw", buffer]) == [
        file_content(b"hello notes", "notes.txt", "text/plain"),
        file_content(b"raw", "file", OCTET),
        file_content(b"buf", "file", OCTET),
    ]
    assert encode_attachments((b"a",)) == [file_content(b"a", "file", OCTET)]
    assert encode_attachments(iter([b"a"])) == [file_content(b"a", "file", OCTET)]


def test_no_attachments() -> None:
    assert encode_attachments(None) == []
    assert encode_attachments([]) == []


@pytest.mark.parametrize(
    "single",
    [b"x", bytearray(b"x"), Path("a.txt"), io.BytesIO(b"x"), "a.txt"],
    ids=lambda v: type(v).__name__,
)
def test_single_attachment_instead_of_a_list(single: Any) -> None:
    with pytest.raises(TypeError, match=r"wrap it in a list: files=\[\.\.\.\]") as info:
        encode_attachments(single)
    assert type(single).__name__ in str(info.value)


def test_str_attachment_is_refused_with_a_hint() -> None:
    with pytest.raises(TypeError, match=r"is a str; attach pathlib.Path") as info:
        encode_attachments(["chart.png"])
    assert "'chart.png'" in str(info.value)


def test_bad_attachment_type() -> None:
    with pytest.raises(TypeError, match="cannot send an int"):
        encode_attachments([b"ok", 42])


# --- batches (send_many) ------------------------------------------------------------------


def _message(text: str | None) -> SessionMessage:
    return SessionMessage(
        id="m", session_id="s", sender=MessageSender(SessionMessageRole.USER), text=text
    )


def test_batch_of_plain_items(text_file: Path) -> None:
    assert encode_batch(["hello", text_file, b"raw", io.StringIO("text io")]) == [
        "hello",
        file_content(b"hello notes", "notes.txt", "text/plain"),
        file_content(b"raw", "file", OCTET),
        file_content(b"text io", "file", OCTET),
    ]


def test_batch_user_session_message(text_file: Path) -> None:
    message = UserSessionMessage(
        content="# Summary", files=[text_file, b"png"], mime_type="text/markdown"
    )
    assert encode_batch([message]) == [
        {"type_string": "text/markdown", "value": "# Summary"},
        file_content(b"hello notes", "notes.txt", "text/plain"),
        file_content(b"png", "file", OCTET),
    ]


def test_batch_user_session_message_file_content_uses_its_filename_and_mime() -> None:
    message = UserSessionMessage(content=b"%PDF", filename="doc.pdf")
    assert encode_batch([message]) == [file_content(b"%PDF", "doc.pdf", "application/pdf")]
    typed = UserSessionMessage(content=b"x", filename="a.bin", mime_type="image/png")
    assert encode_batch([typed]) == [file_content(b"x", "a.bin", "image/png")]


def test_batch_user_session_message_without_content() -> None:
    message = UserSessionMessage(content=None, files=[b"a", b"b"])
    assert encode_batch([message]) == [
        file_content(b"a", "file", OCTET),
        file_content(b"b", "file", OCTET),
    ]


def test_batch_user_session_message_with_empty_text_keeps_it() -> None:
    # content None is skipped; an empty string is content (as in the official client).
    assert encode_batch([UserSessionMessage(content="")]) == [""]


def test_batch_session_message_contributes_its_text() -> None:
    assert encode_batch([_message("earlier answer"), "follow-up"]) == [
        "earlier answer",
        "follow-up",
    ]
    assert encode_batch([_message(None), "x"]) == ["x"]


def test_batch_keeps_order_across_kinds(text_file: Path) -> None:
    items: list[Any] = [
        "a",
        UserSessionMessage(content="b", files=[b"c"]),
        _message("d"),
        text_file,
    ]
    encoded = encode_batch(items)
    assert encoded[0] == "a"
    assert encoded[1] == "b"
    assert decoded_bytes(encoded[2]) == b"c"
    assert encoded[3] == "d"
    assert encoded[4]["value"]["metadata"]["name"] == "notes.txt"
    assert len(encoded) == 5


def test_batch_from_a_generator() -> None:
    assert encode_batch(x for x in ["a", "b"]) == ["a", "b"]  # type: ignore[arg-type]


def test_empty_batch() -> None:
    with pytest.raises(ValueError, match="nothing to send"):
        encode_batch([])
    with pytest.raises(ValueError, match="no content and no files"):
        encode_batch([UserSessionMessage(), _message(None), UserSessionMessage(files=[])])


@pytest.mark.parametrize(
    "single",
    [
        "hello",
        b"x",
        bytearray(b"x"),
        Path("a.txt"),
        io.BytesIO(b"x"),
        UserSessionMessage(content="x"),
        _message("x"),
        {"a": 1},
    ],
    ids=lambda v: type(v).__name__,
)
def test_single_item_instead_of_a_list(single: Any) -> None:
    with pytest.raises(TypeError, match="takes a list of items") as info:
        encode_batch(single)
    assert type(single).__name__ in str(info.value)
    assert "use send() for one message" in str(info.value)


@pytest.mark.parametrize(
    "bad", [None, 42, {"type_string": "file"}, object()], ids=lambda v: type(v).__name__
)
def test_bad_batch_item(bad: Any) -> None:
    with pytest.raises(TypeError) as info:
        encode_batch(["ok", bad])
    message = str(info.value)
    assert "send_many()" in message
    assert "UserSessionMessage or SessionMessage" in message
    assert type(bad).__name__ in message or repr(bad) in message


def test_bad_file_in_user_session_message() -> None:
    with pytest.raises(TypeError, match="is a str"):
        encode_batch([UserSessionMessage(content="x", files=["chart.png"])])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="wrap it in a list"):
        encode_batch([UserSessionMessage(content="x", files=b"x")])  # type: ignore[arg-type]


def test_batch_errors_are_raised_before_anything_is_returned(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        encode_batch(["first", tmp_path / "missing.txt"])


# --- the official client as an oracle ------------------------------------------------------

official_encode: Any = None
if sys.version_info >= (3, 11):
    try:
        from vectorshift.session import _encode_content as official_encode
    except ImportError:  # pragma: no cover
        official_encode = None


@pytest.mark.skipif(official_encode is None, reason="the official client needs Python 3.11+")
def test_encoding_matches_the_official_client(text_file: Path, tmp_path: Path) -> None:
    png = tmp_path / "chart.png"
    png.write_bytes(b"\x89PNG")
    cases: list[tuple[Any, dict[str, Any]]] = [
        ("hello", {}),
        ("# t", {"mime_type": "text/markdown"}),
        (b"raw", {}),
        (bytearray(b"raw"), {}),
        (b"%PDF", {"filename": "a.pdf"}),
        (b"x", {"mime_type": "image/png"}),
        (text_file, {}),
        (png, {}),
        (text_file, {"mime_type": "text/x-custom"}),
        (text_file, {"filename": "renamed.txt"}),
    ]
    for value, kwargs in cases:
        assert encode_content(value, **kwargs) == official_encode(value, **kwargs), value
    for make in (lambda: io.BytesIO(b"abc"), lambda: io.StringIO("héllo")):
        assert encode_content(make()) == official_encode(make())


def _official_frames(action: Any) -> list[dict[str, Any]]:
    """The frames the official client sends for ``action(session)``, captured at its socket."""
    import asyncio
    import json

    from vectorshift.session import Session as OfficialSession

    sent: list[dict[str, Any]] = []

    class Capturing(OfficialSession):  # type: ignore[misc]
        def _ensure_connected(self) -> None:
            pass

        async def _ws_send(self, data: dict[str, Any]) -> None:
            sent.append(json.loads(json.dumps(data)))

    asyncio.run(action(Capturing(session_id="s")))
    return sent


@pytest.mark.skipif(official_encode is None, reason="the official client needs Python 3.11+")
def test_send_with_files_matches_the_official_client(text_file: Path) -> None:
    (theirs,) = _official_frames(lambda s: s.send("look", files=[text_file, b"raw"]))
    assert theirs == {
        "type": "post_messages",
        "session_id": "s",
        "messages": [encode_content("look"), *encode_attachments([text_file, b"raw"])],
    }
    (plain,) = _official_frames(lambda s: s.send(b"x", filename="a.png"))
    assert plain["content"] == encode_content(b"x", filename="a.png")


@pytest.mark.skipif(official_encode is None, reason="the official client needs Python 3.11+")
def test_send_many_matches_the_official_client(text_file: Path) -> None:
    from vectorshift.events import MessageSender as OfficialSender
    from vectorshift.events import SessionMessage as OfficialMessage
    from vectorshift.events import SessionMessageRole as OfficialRole
    from vectorshift.session import UserSessionMessage as OfficialUserMessage

    def items(user_cls: Any, message_cls: Any, sender: Any) -> list[Any]:
        return [
            "plain",
            text_file,
            b"raw",
            io.BytesIO(b"buffer"),
            user_cls(content="# md", mime_type="text/markdown", files=[b"f1", text_file]),
            user_cls(content=b"%PDF", filename="doc.pdf"),
            user_cls(content=None, files=[b"only file"]),
            message_cls(id="m", session_id="s", sender=sender, text="earlier"),
            message_cls(id="m", session_id="s", sender=sender, text=None),
        ]

    ours = encode_batch(
        items(UserSessionMessage, SessionMessage, MessageSender(SessionMessageRole.USER))
    )
    (theirs,) = _official_frames(
        lambda s: s.send_many(
            items(OfficialUserMessage, OfficialMessage, OfficialSender(role=OfficialRole.USER))
        )
    )
    assert theirs == {"type": "post_messages", "session_id": "s", "messages": ours}


# --- read back: decode_content is encode_content's inverse ---------------------------------

_names = st.text(min_size=1, max_size=20)
_mimes = st.none() | st.text(min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(text=st.text(), mime_type=_mimes.filter(lambda mime: mime != "file"))
def test_text_round_trips(text: str, mime_type: str | None) -> None:
    decoded = decode_content(encode_content(text, mime_type=mime_type))
    assert decoded == DecodedContent(text=text, mime_type=mime_type)
    assert not decoded.is_file


def test_a_text_cannot_take_the_mime_type_that_marks_files() -> None:
    # {"type_string": "file", "value": ...} is a file's content on the wire (found by the
    # round trip above)
    with pytest.raises(ValueError, match="mime_type 'file' is reserved for files"):
        encode_content("", mime_type="file")


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048), filename=st.none() | _names, mime_type=_mimes)
def test_file_round_trips(data: bytes, filename: str | None, mime_type: str | None) -> None:
    decoded = decode_content(encode_content(data, filename=filename, mime_type=mime_type))
    name = filename or "file"
    guessed = mimetypes.guess_type(name)[0] or OCTET
    assert decoded == DecodedContent(mime_type=mime_type or guessed, filename=name, data=data)
    assert decoded.is_file and decoded.text is None


def test_path_round_trips(text_file: Path) -> None:
    assert decode_content(encode_content(text_file)) == DecodedContent(
        mime_type="text/plain", filename="notes.txt", data=b"hello notes"
    )


def test_file_metadata_may_be_left_out() -> None:
    for value in ({"raw_bytes": "aGk="}, {"raw_bytes": "aGk=", "metadata": {}}):
        assert decode_content({"type_string": "file", "value": value}) == DecodedContent(
            mime_type=OCTET, filename="file", data=b"hi"
        )
    empty = {"raw_bytes": "", "metadata": {"name": "", "mime_type": ""}}
    assert decode_content({"type_string": "file", "value": empty}) == DecodedContent(
        mime_type=OCTET, filename="file", data=b""
    )


MALFORMED_CONTENT: list[tuple[Any, str, str]] = [
    (5, "content", "expected a string or an object, got a number"),
    (None, "content", "got null"),
    (["x"], "content", "got an array"),
    ({}, "content", "unsupported content"),
    ({"value": "x"}, "content", "unsupported content"),
    ({"type_string": 5, "value": "x"}, "content.type_string", "expected a string, got a number"),
    ({"type_string": "text/plain", "value": 5}, "content", "unsupported content"),
    ({"type_string": "response_message", "value": {}}, "content", "unsupported content"),
    ({"type_string": "file"}, "content.value", "raw_bytes and metadata"),
    ({"type_string": "file", "value": "aGk="}, "content.value", "raw_bytes and metadata"),
    ({"type_string": "file", "value": {}}, "content.value.raw_bytes", "missing"),
    ({"type_string": "file", "value": {"raw_bytes": 1}}, "content.value.raw_bytes", "a number"),
    (
        {"type_string": "file", "value": {"raw_bytes": "%%%"}},
        "content.value.raw_bytes",
        "not valid base64",
    ),
    (
        {"type_string": "file", "value": {"raw_bytes": "aGk"}},  # bad padding
        "content.value.raw_bytes",
        "not valid base64",
    ),
    (
        {"type_string": "file", "value": {"raw_bytes": "é"}},
        "content.value.raw_bytes",
        "not valid base64",
    ),
    (
        {"type_string": "file", "value": {"raw_bytes": "", "metadata": []}},
        "content.value.metadata",
        "expected an object, got an array",
    ),
    (
        {"type_string": "file", "value": {"raw_bytes": "", "metadata": {"name": 1}}},
        "content.value.metadata.name",
        "expected a string",
    ),
    (
        {"type_string": "file", "value": {"raw_bytes": "", "metadata": {"mime_type": {}}}},
        "content.value.metadata.mime_type",
        "got an object",
    ),
]


@pytest.mark.parametrize(("content", "field", "reason"), MALFORMED_CONTENT, ids=str)
def test_malformed_content_is_a_codec_error(content: Any, field: str, reason: str) -> None:
    with pytest.raises(CodecError) as info:
        decode_content(content)
    assert (info.value.frame_type, info.value.field) == (None, field)
    assert reason in str(info.value)
    with pytest.raises(CodecError) as info:
        decode_content(content, "post_messages", "messages[]")
    assert info.value.frame_type == "post_messages"
    assert info.value.field == field.replace("content", "messages[]", 1)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    content=_json
    | st.fixed_dictionaries(
        {"type_string": st.sampled_from(["file", "text/plain"]) | _json, "value": _json}
    )
    | st.fixed_dictionaries(
        {
            "type_string": st.just("file"),
            "value": st.fixed_dictionaries(
                {"raw_bytes": st.text(max_size=12) | _json, "metadata": _json}
            ),
        }
    )
)
def test_decode_content_raises_nothing_but_codec_error(content: Any) -> None:
    try:
        decoded = decode_content(content)
    except CodecError as exc:
        assert exc.field is not None and exc.field.startswith("content")
        return
    assert isinstance(decoded, DecodedContent)
    assert (decoded.text is None) == decoded.is_file
