/* xenballoon core: the public C header (the cffi preamble includes it).
 * The declarations live in xb_api.h, which cffi's cdef parses as it is. */
#ifndef XB_H
#define XB_H

#include <stddef.h>
#include <stdint.h>

#include "xb_api.h"

#endif /* XB_H */
