"""Generate the cffi API-mode C source for xenballoon._core (run by CMake)."""

import sys
from pathlib import Path

from cffi import FFI

out, header = Path(sys.argv[1]), Path(sys.argv[2])
ffi = FFI()
ffi.cdef(header.read_text())
ffi.set_source("xenballoon._core", '#include "xb.h"')
ffi.emit_c_code(str(out))
