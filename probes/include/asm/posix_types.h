/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The BPF target's asm/posix_types.h: the generic one (see asm/bitsperlong.h for why). */
#include <asm-generic/posix_types.h>
