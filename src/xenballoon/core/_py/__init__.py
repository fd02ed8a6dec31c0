"""The reference core: the functions of ``csrc/`` in plain Python, one module per C file.

This is the oracle the compiled core is tested against, and the baseline its speed is
measured against.  It is written for reading, as the kernel writes it: a loop per page
where ``balloon.c`` loops per page.  State lives in numpy arrays with the same layout as
the C structs (``csrc/xb_api.h``), so both backends expose their state to Python the same
way.  Return conventions are the C ones: status codes and counts, never exceptions; the
layers above raise.  Each function's docstring names its C twin, and each C function's
comment names its twin here.
"""

from __future__ import annotations

from ..abi import *  # noqa: F403  (the constants are part of a core's namespace)
from .balloon import *  # noqa: F403
from .domain import *  # noqa: F403
from .guest import *  # noqa: F403
from .host import *  # noqa: F403
from .hotplug import *  # noqa: F403
from .vmscan import *  # noqa: F403
