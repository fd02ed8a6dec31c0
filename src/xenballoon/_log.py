"""The kernel's ``pr_*`` for xenballoon: everything goes to ``logging``, nothing is printed.

balloon.c defines ``pr_fmt(fmt)`` as ``"xen:" KBUILD_MODNAME ": " fmt``, so its messages read
``xen:balloon: Initialising balloon driver``.  The same prefix is kept on every message, so
a log of a simulated host reads like a real guest's ``dmesg``.  Configure the ``xenballoon``
logger to see them (``logging.basicConfig(level=logging.INFO)``).
"""

from __future__ import annotations

import logging

__all__ = ["PR_FMT", "log", "pr_debug", "pr_err", "pr_info", "pr_warn"]

log = logging.getLogger("xenballoon")
# Without it, an application that configures no logging would get warnings on stderr
# (logging.lastResort): a library must not print.
log.addHandler(logging.NullHandler())
PR_FMT = "xen:balloon: "


def pr_debug(fmt: str, *args: object) -> None:
    log.debug(PR_FMT + fmt, *args)


def pr_info(fmt: str, *args: object) -> None:
    log.info(PR_FMT + fmt, *args)


def pr_warn(fmt: str, *args: object) -> None:
    log.warning(PR_FMT + fmt, *args)


def pr_err(fmt: str, *args: object) -> None:
    log.error(PR_FMT + fmt, *args)
