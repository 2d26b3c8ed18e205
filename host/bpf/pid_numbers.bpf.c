/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * pid_numbers.bpf.c - the host's own BPF object (no bundle, no guest): a task
 * iterator that lists, for every task, its kernel numbers (the initial PID
 * namespace's: what bpf_get_current_pid_tgid() and kdelay_target_tgid
 * compare) next to its number in one given PID namespace, kdelay's.
 *
 * Why: inside `unshare -p -f --mount-proc` (a container without the host's
 * /proc) nothing under /proc shows a kernel number, yet the probes filter on
 * them. The kernel knows both: task->thread_pid->numbers[] holds a task's
 * number at every namespace level from the initial one (0) down to its own.
 *
 * The iterator walks the tasks of the PID namespace of the process that
 * creates it (bpf_iter_create from kdelay), one call per thread, and a last
 * call with task == NULL. The host reads the records (struct
 * kdelay_pid_numbers) until EOF: host/system/task-numbers.ts.
 */
#include "kdelay_core.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/*
 * The kernel types only this object reads, declared here rather than in
 * kdelay_core.bpf.h so the probes' BTF (and so the signed bundles) stay as
 * they are. task_struct___pid_numbers is task_struct to CO-RE (libbpf
 * ignores a ___suffix when it matches types).
 */
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct task_struct___pid_numbers {
	struct pid *thread_pid; /* the thread's numbers in each PID namespace */
};
/* A PID namespace, and the inode number /proc/PID/ns/pid shows for it. */
struct ns_common {
	unsigned int inum;
};
struct pid_namespace {
	struct ns_common ns;
};
/* A task's number in one PID namespace. */
struct upid {
	int nr;
	struct pid_namespace *ns;
};
/* numbers[0] is the initial namespace's, numbers[level] the task's own namespace's. */
struct pid {
	unsigned int level;
	struct upid numbers[1];
};
/* The context of an iter/task program (DEFINE_BPF_ITER_FUNC(task, ...) in kernel/bpf/task_iter.c). */
struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
	u64 session_id;
	u64 seq_num;
};
struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};
#pragma clang attribute pop

/* The inode number of kdelay's PID namespace (stat /proc/self/ns/pid), set before load. */
const volatile u32 user_namespace_inode = 0;

/* One record per task; read by host/system/task-numbers.ts (12 bytes, no padding). */
struct kdelay_pid_numbers {
	u32 kernel_tgid;
	u32 kernel_tid;
	u32 user_tid; /* 0: the task has no number in kdelay's namespace */
};

/* MAX_PID_NS_LEVEL in include/linux/pid_namespace.h: nesting is limited to 32 levels. */
#define MAX_PID_NS_LEVEL 32

SEC("iter/task")
int kdelay_pid_numbers(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct kdelay_pid_numbers record = {};
	struct pid *pid;
	unsigned int level;

	if (!task)
		return 0;
	record.kernel_tgid = BPF_CORE_READ(task, tgid);
	record.kernel_tid = BPF_CORE_READ(task, pid);
	pid = BPF_CORE_READ((struct task_struct___pid_numbers *)task, thread_pid);
	level = BPF_CORE_READ(pid, level);
	/*
	 * numbers[] is a flexible array (numbers[1] in the kernel's declaration):
	 * its element size and start come from the running kernel's BTF, and
	 * entry i is read by address, not by a constant index CO-RE could relocate.
	 */
	for (unsigned int i = 0; i < MAX_PID_NS_LEVEL; i++) {
		struct upid *upid;

		if (i > level)
			break;
		upid = (void *)pid + bpf_core_field_offset(struct pid, numbers) + i * bpf_core_type_size(struct upid);
		if (BPF_CORE_READ(upid, ns, ns.inum) == user_namespace_inode) {
			record.user_tid = BPF_CORE_READ(upid, nr);
			break;
		}
	}
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}
