/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The BPF target's <asm/...> UAPI headers (this folder).
 *
 * <linux/types.h>, <linux/bpf.h> and libbpf's usdt.bpf.h (<linux/errno.h>)
 * include a few <asm/...> headers, which normally come from the build
 * machine's multiarch folder (/usr/include/x86_64-linux-gnu). A BPF object
 * is for neither machine: it is 64-bit little-endian whatever kernel loads
 * it, and on the 64-bit architectures kdelay supports (x86_64, arm64) these
 * headers only forward to <asm-generic/...> anyway. Using the generic ones
 * directly means one build machine of any architecture compiles every
 * architecture's object, with no arm64 sysroot, and x86's header can no
 * longer decide __BITS_PER_LONG from a compiler macro the BPF target does
 * not define (it said 32).
 */
#define __BITS_PER_LONG 64
#include <asm-generic/bitsperlong.h>
