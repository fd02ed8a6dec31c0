"""The Xen side: the hypervisor's frames and domains, xenstore, and libxl's node layout.

Models ``xen/common/memory.c`` (the XENMEM reservation hypercalls), ``xen/common/domain.c``,
``tools/xenstored`` (the store and its permissions) and the nodes
``tools/libs/light/libxl_create.c`` writes for a new domain.
"""

from __future__ import annotations

from .cost import CostModel
from .domain import Domain
from .hypervisor import MAX_HOST_PAGES, Hypervisor
from .xenstore import WatchHandle, XenStore, XenStoreConnection

__all__ = ["MAX_HOST_PAGES", "CostModel", "Domain", "Hypervisor", "WatchHandle", "XenStore",
           "XenStoreConnection"]
