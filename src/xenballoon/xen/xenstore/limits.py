"""What xenstored accepts: path syntax, payload and path limits, per-domain quotas, errnos.

Sources (Xen, described not copied): ``xen/include/public/io/xs_wire.h`` for the payload and
path limits; ``tools/xenstored/core.c`` (``canonicalize``, ``is_valid_nodename``) for the
path syntax; ``tools/xenstored/domain.c`` (``quotas[]``) for the per-domain defaults, which
apply to unprivileged domains only (never to domain 0).  Each refusal is an exception that
carries xenstored's errno, which ``errno_of`` recovers for the wire protocol:

=====================================  =========  =========================================
refusal                                errno      raised as
=====================================  =========  =========================================
missing node, unknown transaction      ENOENT     ``KeyError``
no permission / change of owner        EACCES     ``PermissionError`` (EPERM for the owner)
malformed path, perms, argument        EINVAL     ``InvalidArgument`` (``InvalidType``)
value past the payload                 E2BIG      ``InvalidArgument``, ``errno`` E2BIG
a domain quota exceeded                ENOSPC     ``OSError`` with ``errno.ENOSPC``
=====================================  =========  =========================================
"""

from __future__ import annotations

import errno
import re

from ...errors import InvalidArgument, InvalidType

__all__ = ["XENSTORE_PAYLOAD_MAX", "XENSTORE_ABS_PATH_MAX", "XENSTORE_REL_PATH_MAX",
           "MAX_VALUE_LEN", "SPECIAL_PATHS", "DOMID_FIRST_RESERVED", "QUOTA_NODES",
           "QUOTA_NODE_SIZE", "QUOTA_WATCHES", "QUOTA_TRANSACTIONS", "QUOTA_PERMS",
           "canonical_path", "canonical_below", "check_value", "check_path_quota", "errno_of",
           "invalid", "quota_exceeded", "as_domid", "parent_of", "value_bytes"]

XENSTORE_PAYLOAD_MAX = 4096  # xs_wire.h: the most payload one message carries, either way
XENSTORE_ABS_PATH_MAX = 3072  # xs_wire.h: an absolute path, in bytes
XENSTORE_REL_PATH_MAX = 2048  # xs_wire.h; C xenstored's default "path-max" quota
MAX_VALUE_LEN = XENSTORE_PAYLOAD_MAX  # a value never exceeds one message's payload
DOMID_FIRST_RESERVED = 0x7FF0
SPECIAL_PATHS = ("@introduceDomain", "@releaseDomain")

# domain.c quotas[]: the defaults of C xenstored, for unprivileged domains.
QUOTA_NODES = 1000  # nodes a domain may own ("nodes")
QUOTA_NODE_SIZE = 2048  # bytes of one node's value ("node-size"; data only here)
QUOTA_WATCHES = 128  # watches a domain may have ("watches")
QUOTA_TRANSACTIONS = 10  # open transactions of a domain ("transactions")
QUOTA_PERMS = 5  # entries in one node's permissions ("permissions")

# canonicalize + is_valid_nodename: characters [A-Za-z0-9-/_@], no empty component (so no
# "//" and no trailing "/"), the root alone may end in "/".  "." is not a valid character,
# so "." and ".." components are refused with the rest.
_PATH = re.compile(r"/|(?:/[A-Za-z0-9_@-]+)+")
_HAS_BAD_CHAR = re.compile(r"[^A-Za-z0-9_@/-]")


def invalid(message: str, code: int = errno.EINVAL) -> InvalidArgument:
    """xenstored's EINVAL (or ``code``, such as E2BIG): a malformed request."""
    exc = InvalidArgument(message)
    exc.errno = code  # type: ignore[attr-defined]
    return exc


def quota_exceeded(message: str) -> OSError:
    """xenstored's ENOSPC: a domain went past one of its quotas; nothing changed."""
    return OSError(errno.ENOSPC, message)


def errno_of(exc: BaseException) -> int:
    """The errno xenstored answers for a refusal raised by the store (EIO if not one)."""
    if isinstance(exc, KeyError):
        return errno.ENOENT
    code = getattr(exc, "errno", None)
    if isinstance(code, int) and code > 0:
        return code
    if isinstance(exc, (ValueError, TypeError)):
        return errno.EINVAL
    return errno.EIO


def parent_of(path: str) -> str:
    return path.rsplit("/", 1)[0] or "/"


def canonical_path(path: object, *, special: bool = False) -> str:
    """``path`` if xenstored accepts it as an absolute node path (``special``: or @-path)."""
    if not isinstance(path, str):
        raise InvalidType(f"xenstore path must be a str, not {type(path).__name__}")
    if path.startswith("@"):
        if special and path in SPECIAL_PATHS:
            return path
        wanted = " or ".join(SPECIAL_PATHS) if special else "a node path"
        raise invalid(f"xenstore path {path!r} is not valid here: want {wanted}")
    if _PATH.fullmatch(path) is None:
        if not path.startswith("/"):
            raise invalid(f"xenstore path must be absolute, got {path!r}")
        bad = _HAS_BAD_CHAR.search(path)
        if bad is not None:
            raise invalid(f"xenstore path {path!r} has the character {bad[0]!r}: "
                          "only A-Z a-z 0-9 - / _ @ are allowed")
        raise invalid(f"malformed xenstore path {path!r}: empty component or trailing '/'")
    if len(path) > XENSTORE_ABS_PATH_MAX:
        raise invalid(f"xenstore path of {len(path)} bytes: the limit is {XENSTORE_ABS_PATH_MAX}")
    return path


# Relative paths (such as "memory/target") already found valid below some canonical path:
# the nodes of every domain's home have the same few names, checked once instead of per
# domain.  Bounded: forgotten when it grows past _RELATIVE_MAX.
_RELATIVE_OK: set[str] = set()
_RELATIVE_MAX = 4096


def canonical_below(top: str, relative: str) -> str:
    """``canonical_path(top + "/" + relative)`` for a canonical ``top`` (not ``/``)."""
    path = f"{top}/{relative}"
    if relative in _RELATIVE_OK and len(path) <= XENSTORE_ABS_PATH_MAX:
        return path
    canonical_path(path)  # raises as for any path
    if len(_RELATIVE_OK) >= _RELATIVE_MAX:
        _RELATIVE_OK.clear()
    _RELATIVE_OK.add(relative)
    return path


def check_path_quota(domid: int, path: str) -> None:
    """The "path-max" quota of an unprivileged domain: 2048 bytes below its home."""
    if domid == 0 or len(path) <= XENSTORE_REL_PATH_MAX:  # a shorter path always fits
        return
    home = f"/local/domain/{domid}/"
    relative = path[len(home):] if path.startswith(home) else path
    if len(relative) > XENSTORE_REL_PATH_MAX:
        raise invalid(f"xenstore path of {len(relative)} bytes below the home of domain "
                      f"{domid}: the limit is {XENSTORE_REL_PATH_MAX}")


def value_bytes(value: str) -> int:
    # Values received from the wire keep undecodable bytes as surrogates: count those as
    # the one byte each they were.
    return len(value.encode("utf-8", "surrogateescape"))


def check_value(domid: int, path: str, value: object) -> None:
    """Refuse a value xenstored would: not a str, past the payload, past the node-size quota.

    A WRITE carries the path, a NUL and the value in one payload of at most 4096 bytes
    (E2BIG beyond); an unprivileged domain's node is also held to 2048 bytes (ENOSPC).
    """
    if not isinstance(value, str):
        raise InvalidType(f"xenstore values are str, not {type(value).__name__}")
    size = len(value) if value.isascii() else value_bytes(value)  # ASCII: a byte a character
    room = XENSTORE_PAYLOAD_MAX - len(path) - 1
    if size > room:
        raise invalid(f"xenstore value of {size} bytes (UTF-8) at {path}: a WRITE has room "
                      f"for {room} (payload {XENSTORE_PAYLOAD_MAX} less the path)", errno.E2BIG)
    if domid != 0 and size > QUOTA_NODE_SIZE:
        raise quota_exceeded(f"xenstore value of {size} bytes from domain {domid}: the node "
                             f"size quota is {QUOTA_NODE_SIZE}")


def as_domid(domid: object) -> int:
    if isinstance(domid, bool) or not isinstance(domid, int):
        raise InvalidType(f"domid must be an int, not {type(domid).__name__}")
    if not 0 <= domid < DOMID_FIRST_RESERVED:
        raise invalid(f"domid must be in 0..{DOMID_FIRST_RESERVED - 1}, got {domid}")
    return domid
