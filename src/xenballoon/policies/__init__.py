"""Host balancers: the policy protocol and the built-in policies.

`xenballoon.policies.base` defines the protocol (a policy sees the host only through
``xen.lowlevel.xc`` / ``xs`` handles and a clock) and the registry; the built-ins are
`static` (a fixed equal split, the baseline), `squeezed` (XenServer) and `qmemman`
(Qubes OS), imported on first use by `make_policy`.
"""

from __future__ import annotations

from .base import (
    Attachment,
    Clock,
    NullPolicy,
    Policy,
    PolicyBase,
    SimClock,
    attach_policy,
    available_policies,
    make_policy,
    register_policy,
    run_async,
    run_blocking,
)

__all__ = ["Attachment", "Clock", "NullPolicy", "Policy", "PolicyBase", "SimClock",
           "attach_policy", "available_policies", "make_policy", "register_policy",
           "run_async", "run_blocking"]
