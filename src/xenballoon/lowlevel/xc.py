"""``xen.lowlevel.xc`` for the simulated host: the hypervisor as a dom0 tool sees it.

Follows Xen's Python binding, ``tools/python/xen/lowlevel/xc/xc.c`` (read, described,
not copied):

- ``xc()`` opens a handle; every method is a hypercall wrapper.
- ``physinfo()`` returns a dict whose memory fields are **KiB** (``pages_to_kib`` of
  ``total_pages``/``free_pages``/``scrub_pages``), plus the CPU topology fields.
- ``domain_getinfo(first_dom=0, max_doms=1024)`` returns one dict per domain with
  ``domid >= first_dom`` in domid order, at most ``max_doms`` of them, with the keys of
  ``pyxc_domain_getinfo``: ``domid``, ``online_vcpus``, ``max_vcpu_id``, ``hvm``, ``dying``,
  ``crashed``, ``shutdown``, ``paused``, ``blocked``, ``running``, ``mem_kb``
  (``tot_pages * 4``), ``cpu_time``, ``maxmem_kb`` (``max_pages * 4``), ``ssidref``,
  ``shutdown_reason``, ``cpupool`` and ``handle`` (16 ints).
- ``domain_setmaxmem(dom, maxmem_kb)``: ``xc_domain_setmaxmem`` (XEN_DOMCTL_max_mem), the
  domain's ``max_pages`` = ``maxmem_kb // 4``; returns 0.
- ``domain_set_target_mem(dom, mem_kb)``: ``xc_domain_set_pod_target`` with
  ``mem_kb // 4`` pages; returns 0.  The model has no populate-on-demand, so this checks
  its arguments and the domain and changes nothing: guests follow ``memory/target``.
- Failures raise ``Error`` (``xen.lowlevel.xc.Error``, a ``RuntimeError``) with
  ``(errno, strerror)`` args, as ``PyErr_SetFromErrno(xc_error_obj)`` builds them: an
  unknown domain is ``ESRCH``.  Arguments the C binding parses with ``"i"`` must be ints
  (else ``InvalidType``, a ``TypeError`` as ``PyArg_ParseTuple`` raises); a negative or
  32-bit-overflowing size is ``Error(EINVAL)`` here, where C would silently wrap it.

Deviations: every domain reports one online vCPU, running, never paused, ``hvm`` 0 (the
model has no HVM flag), ``cpu_time`` the simulated nanoseconds since boot;
``scrub_memory`` is 0 because freed frames are scrubbed synchronously.
"""

from __future__ import annotations

import errno
import os
from typing import TYPE_CHECKING, Any

from ..errors import InvalidType, XenBalloonError

if TYPE_CHECKING:
    from ..xen.hypervisor import Hypervisor

__all__ = ["Error", "Xc", "bind"]

KIB_PER_PAGE = 4  # XC_PAGE_SIZE / 1024
INT_MAX = (1 << 31) - 1  # what PyArg_ParseTuple's "i" holds
DOMID_FIRST_RESERVED = 0x7FF0


class Error(XenBalloonError, RuntimeError):
    """``xen.lowlevel.xc.Error``: a failed hypercall, args ``(errno, strerror)``."""


def _error(code: int, detail: str | None = None) -> Error:
    message = os.strerror(code) if detail is None else f"{os.strerror(code)}: {detail}"
    exc = Error(code, message)
    exc.errno = code  # type: ignore[attr-defined]
    return exc


def _int(value: Any, name: str) -> int:
    """An argument parsed with ``"i"``: an int (not bool), in 0..INT_MAX."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidType(f"{name} must be an integer, not {type(value).__name__}")
    if not 0 <= value <= INT_MAX:
        raise _error(errno.EINVAL, f"{name} must be in 0..{INT_MAX}, got {value}")
    return value


class Xc:
    """A libxc handle on ``hv``; ``bind(hv)`` makes the argument-less ``xc`` class."""

    def __init__(self, hv: Hypervisor) -> None:
        self._hv = hv

    def _domain(self, dom: Any) -> Any:
        domid = _int(dom, "dom")
        domain = self._hv.domains.get(domid)
        if domain is None:
            raise _error(errno.ESRCH, f"no domain {domid}")
        return domain

    def physinfo(self) -> dict[str, Any]:
        """The host: memory in KiB (``total_memory``, ``free_memory``, ``scrub_memory``)."""
        hv = self._hv
        return {
            "nr_nodes": 1, "threads_per_core": 1, "cores_per_socket": 1, "nr_cpus": 1,
            "total_memory": hv.total_pages * KIB_PER_PAGE,
            "free_memory": hv.free_pages * KIB_PER_PAGE,
            "scrub_memory": 0,
            "cpu_khz": 0, "hw_caps": "", "virt_caps": "hvm pv",
        }

    def domain_getinfo(self, first_dom: int = 0, max_doms: int = 1024) -> list[dict[str, Any]]:
        """One dict per domain from ``first_dom`` on, in domid order, at most ``max_doms``."""
        first = _int(first_dom, "first_dom")
        count = _int(max_doms, "max_doms")
        domains = sorted((d for d in self._hv.domains.values() if d.domid >= first),
                         key=lambda d: d.domid)[:count]
        cpu_ns = int(self._hv.sim.now * 1e9)
        return [{
            "domid": d.domid, "online_vcpus": 1, "max_vcpu_id": 0, "hvm": 0,
            "dying": 0, "crashed": 0, "shutdown": 0, "paused": 0, "blocked": 0,
            "running": 1, "mem_kb": d.tot_pages * KIB_PER_PAGE, "cpu_time": cpu_ns,
            "maxmem_kb": d.max_pages * KIB_PER_PAGE, "ssidref": 0, "shutdown_reason": 0,
            "cpupool": 0, "handle": [0] * 16,
        } for d in domains]

    def domain_setmaxmem(self, dom: int, maxmem_kb: int) -> int:
        """``xc_domain_setmaxmem``: the domain may hold at most ``maxmem_kb // 4`` pages."""
        domain = self._domain(dom)
        kb = _int(maxmem_kb, "maxmem_kb")
        domain.max_pages = kb // KIB_PER_PAGE
        return 0

    def domain_set_target_mem(self, dom: int, mem_kb: int) -> int:
        """``xc_domain_set_pod_target``: no populate-on-demand here, so only checked."""
        self._domain(dom)
        _int(mem_kb, "mem_kb")
        return 0

    def pages_to_kib(self, pages: int) -> int:
        """Pages as KiB, as the binding's helper does."""
        if isinstance(pages, bool) or not isinstance(pages, int):
            raise InvalidType(f"pages must be an integer, not {type(pages).__name__}")
        return pages * KIB_PER_PAGE

    def __repr__(self) -> str:
        return f"<xen.lowlevel.xc.xc on {self._hv!r}>"


def bind(hv: Hypervisor) -> type[Xc]:
    """The class ``xen.lowlevel.xc.xc`` for ``hv``: ``xc()`` takes no arguments, as Xen's."""

    class xc(Xc):  # noqa: N801 -- Xen's name
        __doc__ = Xc.__doc__

        def __init__(self) -> None:
            super().__init__(hv)

    xc.__module__ = "xen.lowlevel.xc"
    return xc
