/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * kdelay_core.bpf.h - the only kernel type definitions kdelay's probes use.
 *
 * Instead of a generated multi-megabyte vmlinux.h we declare just the fields
 * we read, with preserve_access_index so clang records CO-RE relocations and
 * the host's libbpf fixes every offset against the running kernel's BTF
 * (/sys/kernel/btf/vmlinux). Add a field here when a probe needs one.
 */
#ifndef KDELAY_CORE_BPF_H
#define KDELAY_CORE_BPF_H

/* Tells bpf_tracing.h that kernel (not UAPI) register names are in use. */
#define __VMLINUX_H__

#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

typedef __u8 u8;
typedef __u32 u32;
typedef __s32 s32;
typedef __u64 u64;
typedef __s64 s64;
typedef int pid_t;

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct task_struct {
	unsigned int __state; /* since 5.14 */
	pid_t pid;            /* the thread id */
	pid_t tgid;           /* the process id */
	char comm[16];
};

/* Kernels before 5.14 called the field `state` (and made it a long). */
struct task_struct___pre_5_14 {
	long state;
};

/*
 * The registers a kprobe sees, per architecture (the build compiles every
 * probe once per -D__TARGET_ARCH_x; see scripts/lib/probe-build.mjs). Only
 * referenced through bpf_tracing.h's PT_REGS macros, which read
 * x86's pt_regs fields by name and arm64's through struct user_pt_regs.
 */
#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
/* arm64's pt_regs begins with (a union holding) the user-visible registers. */
struct user_pt_regs {
	__u64 regs[31]; /* x0..x30; regs[0] is the return value */
	__u64 sp;
	__u64 pc;
	__u64 pstate;
};
struct pt_regs {
	struct user_pt_regs user_regs;
	__u64 orig_x0;
};
/* After the user registers: the system call number, NO_SYSCALL (-1) on other entries. */
struct pt_regs___syscallno {
	s32 syscallno;
};
#else
#error "kdelay probes are built for __TARGET_ARCH_x86 or __TARGET_ARCH_arm64"
#endif

/* One handler of an interrupt line; the irq_handler_entry/exit argument. */
struct irqaction {
	const char *name; /* what /proc/interrupts shows, e.g. "virtio1-req.0" */
};

#pragma clang attribute pop

/*
 * KDELAY_BTF_READS: a tp_btf program's arguments are typed pointers
 * (PTR_TO_BTF_ID), and the fields of what they point to are read with a
 * plain load (task->pid), which the verifier checks against the kernel's
 * BTF and the JIT guards with an exception table entry: a few instructions.
 * BPF_CORE_READ() is a bpf_probe_read_kernel() call for each field, about
 * as dear as the rest of a hook: keep it for pointers the verifier does not
 * type (one read from memory, a stack found by arithmetic). Both are
 * relocated by CO-RE (these structs have preserve_access_index).
 */

/*
 * The system call a task entered the kernel for, from the registers it
 * entered with (a sys_exit's, or those task_pt_regs() finds): negative if it
 * entered for something else (an interrupt, an exception).
 */
static __always_inline long kdelay_syscall_nr(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return BPF_CORE_READ(regs, orig_ax);
#else
	return BPF_CORE_READ((struct pt_regs___syscallno *)regs, syscallno);
#endif
}

/* Bits of kdelay_task_state(), as include/linux/sched.h has them on every supported kernel. */
#define TASK_RUNNING   0
#define __TASK_STOPPED 0x4
#define TASK_DEAD      0x80

/*
 * The scheduler state of a task, on kernels before and after 5.14. task is
 * a tp_btf argument (see KDELAY_BTF_READS above).
 */
static __always_inline long kdelay_task_state(const struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return task->__state;
	return ((const struct task_struct___pre_5_14 *)task)->state;
}

/*
 * KDELAY_SHARED_STRUCT(name) / KDELAY_SHARED_ENUM(name): the user half (or
 * the host) reads this type, but no map declares it (a ring-buffer record,
 * an enum of states). The build compiles each probe once more with
 * KDELAY_LAYOUT_BUILD, where these become pointer globals that put the type
 * into the BTF, and generates the type's size, offsets and values for user
 * code from that (scripts/lib/layouts.mjs); map keys and values need no
 * marking. In the objects that ship they expand to nothing.
 */
#ifdef KDELAY_LAYOUT_BUILD
#define KDELAY_SHARED_STRUCT(name) struct name *kdelay_layout__##name;
#define KDELAY_SHARED_ENUM(name)   enum name *kdelay_layout__##name;
#else
#define KDELAY_SHARED_STRUCT(name)
#define KDELAY_SHARED_ENUM(name)
#endif

#endif /* KDELAY_CORE_BPF_H */
