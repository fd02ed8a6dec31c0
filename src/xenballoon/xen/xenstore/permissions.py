"""Node permissions as xenstored keeps them (``core.c`` ``perm_for_conn``; ``xs_lib.h``).

A node's permissions are a list of entries written as xenstore-chmod writes them, a letter
and a domid: ``n`` none, ``r`` read, ``w`` write, ``b`` both (``["n0", "r3"]``).  The first
entry names the owner, who may always read and write the node, and gives the access of every
domain without an entry of its own.  Domain 0 may do anything.
"""

from __future__ import annotations

from collections.abc import Iterable

from ...errors import InvalidType
from .limits import DOMID_FIRST_RESERVED, invalid

__all__ = ["XS_PERM_NONE", "XS_PERM_READ", "XS_PERM_WRITE", "XS_PERM_BOTH", "Perms",
           "ROOT_PERMS", "parse_perms", "format_perms", "perm_for_conn", "may", "VERB"]

# xs_lib.h: the access a permission entry grants.
XS_PERM_NONE = 0
XS_PERM_READ = 1
XS_PERM_WRITE = 2
XS_PERM_BOTH = XS_PERM_READ | XS_PERM_WRITE
_LETTERS = {"n": XS_PERM_NONE, "r": XS_PERM_READ, "w": XS_PERM_WRITE, "b": XS_PERM_BOTH}
_NAMES = {bit: letter for letter, bit in _LETTERS.items()}
VERB = {XS_PERM_READ: "read", XS_PERM_WRITE: "write"}

Perms = tuple[tuple[int, int], ...]  # ((owner, default access), (domid, access), ...)
ROOT_PERMS: Perms = ((0, XS_PERM_NONE),)  # xenstored's manual_node("/")


def parse_perms(perms: Iterable[str]) -> Perms:
    """``["n0", "r3"]`` as a permission tuple; ``ValueError`` unless every entry is valid."""
    if isinstance(perms, str):
        raise InvalidType("perms must be a list of entries such as ['n0', 'r3'], not a str")
    entries = list(perms)
    if not entries:
        raise invalid("perms needs at least one entry (the owner's)")
    parsed = []
    for entry in entries:
        # A letter of n/r/w/b and a decimal domid without leading zeros, below the reserved.
        access = _LETTERS.get(entry[:1], -1) if isinstance(entry, str) else -1
        digits = entry[1:] if access >= 0 else ""
        if (not 0 < len(digits) <= 5 or not digits.isascii() or not digits.isdigit()
                or (digits[0] == "0" and len(digits) > 1)
                or int(digits) >= DOMID_FIRST_RESERVED):
            raise invalid(f"bad permission entry {entry!r}: want a letter of n/r/w/b "
                          "and a domid, such as 'r3'")
        parsed.append((int(digits), access))
    return tuple(parsed)


def format_perms(perms: Perms) -> list[str]:
    return [f"{_NAMES[access]}{domid}" for domid, access in perms]


def perm_for_conn(domid: int, perms: Perms) -> int:
    """The access ``domid`` has to a node: all for dom0 and the owner, else its entry."""
    if domid == 0 or perms[0][0] == domid:
        return XS_PERM_BOTH
    for entry_domid, access in perms[1:]:
        if entry_domid == domid:
            return access
    return perms[0][1]


def may(domid: int, perms: Perms, access: int) -> bool:
    return perm_for_conn(domid, perms) & access == access
