"""xenstored's wire format (Xen's ``xen/include/public/io/xs_wire.h``), described not copied.

A message is a 16-byte header of four little-endian uint32 (type, request id, transaction
id, payload length) and then the payload, at most ``XENSTORE_PAYLOAD_MAX`` (4096) bytes.
Arguments in a payload end with NUL; a reply has the request's type and ids, an error is
type ERROR with an errno name and NUL (``EINVAL\\0``), a plain success is ``OK\\0``.
"""

from __future__ import annotations

import errno
import struct
from dataclasses import dataclass
from enum import IntEnum

from ..errors import InvalidArgument
from ..xen.xenstore import XENSTORE_ABS_PATH_MAX, XENSTORE_PAYLOAD_MAX, XENSTORE_REL_PATH_MAX

__all__ = ["HEADER", "XsType", "XSD_ERRORS", "Message", "Decoder", "ProtocolError",
           "encode", "error_payload", "args_of", "XENSTORE_PAYLOAD_MAX",
           "XENSTORE_ABS_PATH_MAX", "XENSTORE_REL_PATH_MAX", "OK", "NUL"]

HEADER = struct.Struct("<IIII")  # type, req_id, tx_id, len
NUL = b"\0"
OK = b"OK\0"


class XsType(IntEnum):
    """enum xsd_sockmsg_type (23-26 exist only in Xen 4.18 and later)."""

    CONTROL = 0  # was DEBUG
    DIRECTORY = 1
    READ = 2
    GET_PERMS = 3
    WATCH = 4
    UNWATCH = 5
    TRANSACTION_START = 6
    TRANSACTION_END = 7
    INTRODUCE = 8
    RELEASE = 9
    GET_DOMAIN_PATH = 10
    WRITE = 11
    MKDIR = 12
    RM = 13
    SET_PERMS = 14
    WATCH_EVENT = 15
    ERROR = 16
    IS_DOMAIN_INTRODUCED = 17
    RESUME = 18
    SET_TARGET = 19
    RESTRICT = 20  # removed from Xen; invalid
    RESET_WATCHES = 21
    DIRECTORY_PART = 22
    GET_FEATURE = 23
    SET_FEATURE = 24
    GET_QUOTA = 25
    SET_QUOTA = 26


# xsd_errors[]: the errno names xenstored sends, in its order.  libxenstore turns a name it
# does not know into EINVAL, so anything else is sent as EINVAL (EIO for an internal error).
XSD_ERRORS = ("EINVAL", "EACCES", "EEXIST", "EISDIR", "ENOENT", "ENOMEM", "ENOSPC", "EIO",
              "ENOTEMPTY", "ENOSYS", "EROFS", "EBUSY", "EAGAIN", "EISCONN", "E2BIG", "EPERM")


class ProtocolError(Exception):
    """A message xenstored would not even answer: the connection is closed."""


@dataclass(frozen=True)
class Message:
    type: int
    req_id: int
    tx_id: int
    payload: bytes


def encode(type_: int, req_id: int, tx_id: int, payload: bytes) -> bytes:
    return HEADER.pack(type_, req_id, tx_id, len(payload)) + payload


def error_payload(code: int) -> bytes:
    name = errno.errorcode.get(code, "EINVAL")
    return (name if name in XSD_ERRORS else "EINVAL").encode() + NUL


def args_of(payload: bytes, count: int | None = None) -> list[str]:
    """The NUL-terminated arguments of a payload (``count`` of them, if given), as str.

    Bytes that are not UTF-8 are kept as surrogates (and refused later as path characters).
    Raises ``InvalidArgument`` (EINVAL) when the payload does not end with NUL or has the wrong
    number of arguments, as xenstored's ``get_strings``/``onearg``.
    """
    if not payload.endswith(NUL):
        raise InvalidArgument("arguments must end with NUL")
    args = [a.decode("utf-8", "surrogateescape") for a in payload[:-1].split(NUL)]
    if count is not None and len(args) != count:
        raise InvalidArgument(f"want {count} argument(s), got {len(args)}")
    return args


class Decoder:
    """Reassembles messages from a byte stream, however it was split across reads."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        """The complete messages so far; ``ProtocolError`` for a payload over the limit."""
        buffer = self._buffer
        buffer += data
        messages = []
        offset = 0
        while len(buffer) - offset >= HEADER.size:
            type_, req_id, tx_id, length = HEADER.unpack_from(buffer, offset)
            if length > XENSTORE_PAYLOAD_MAX:  # xenstored closes such a connection
                raise ProtocolError(f"payload of {length} bytes: the limit is "
                                    f"{XENSTORE_PAYLOAD_MAX}")
            end = offset + HEADER.size + length
            if end > len(buffer):
                break
            messages.append(Message(type_, req_id, tx_id,
                                    bytes(buffer[offset + HEADER.size:end])))
            offset = end
        del buffer[:offset]
        return messages

    @property
    def pending(self) -> int:
        """Bytes of an incomplete message."""
        return len(self._buffer)
