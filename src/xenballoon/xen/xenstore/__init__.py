"""XenStore: the store, its permissions, watches, transactions and xenstored's limits.

``store.py`` holds the store's requests and its connections (the exceptions each raises
are listed there); ``tree.py`` the nodes as a request sees them (directly or through a
transaction); ``node.py`` one node (compiled, or its twin ``pynode.py``); ``batch.py``
domain 0's requests in one step; ``transaction.py``, ``watches.py``, ``permissions.py``
and ``limits.py`` (xenstored's limits and quotas, and ``errno_of``) one concept each.
The names other modules use are re-exported here.
"""

from __future__ import annotations

from .batch import NodeEntry
from .limits import (
                     DOMID_FIRST_RESERVED,
                     MAX_VALUE_LEN,
                     QUOTA_NODES,
                     QUOTA_WATCHES,
                     SPECIAL_PATHS,
                     XENSTORE_ABS_PATH_MAX,
                     XENSTORE_PAYLOAD_MAX,
                     XENSTORE_REL_PATH_MAX,
                     canonical_path,
                     check_value,
                     errno_of,
)
from .permissions import (
                     XS_PERM_BOTH,
                     XS_PERM_NONE,
                     XS_PERM_READ,
                     XS_PERM_WRITE,
                     format_perms,
                     parse_perms,
                     perm_for_conn,
)
from .store import XenStore, XenStoreConnection
from .watches import WatchCallback, WatchHandle, raised_after_commit

__all__ = ["XenStore", "XenStoreConnection", "WatchHandle", "WatchCallback",
           "XS_PERM_NONE", "XS_PERM_READ", "XS_PERM_WRITE", "XS_PERM_BOTH",
           "parse_perms", "format_perms", "perm_for_conn", "errno_of", "canonical_path",
           "check_value", "MAX_VALUE_LEN", "DOMID_FIRST_RESERVED", "SPECIAL_PATHS",
           "XENSTORE_PAYLOAD_MAX", "XENSTORE_ABS_PATH_MAX", "XENSTORE_REL_PATH_MAX",
           "QUOTA_NODES", "QUOTA_WATCHES", "raised_after_commit", "NodeEntry"]
