// SPDX-License-Identifier: GPL-2.0
/*
 * task.bpf.h - the process behind a state change or an fd: its identity
 * (tgid and start time), its name, and whether `rcleak run` traces it.
 */
#ifndef RCLEAK_TASK_BPF_H
#define RCLEAK_TASK_BPF_H

#include "maps.bpf.h"

/* Before 5.5, start_boottime was called real_start_time. */
struct task_struct___pre55 {
	__u64 real_start_time;
} __attribute__((preserve_access_index));

/*
 * When a process started, the half of its identity that a reused pid
 * does not repeat: the clock /proc/PID/stat's starttime comes from (boot
 * time, which goes on during a suspend), so that userspace can tell
 * whether that pid is still that process. Monotonic start_time would drift
 * from it by every suspend since the process started.
 */
static __always_inline __u64 proc_start_ns(struct task_struct *leader, bool btf)
{
	__u64 t;

	if (bpf_core_field_exists(leader->start_boottime))
		t = btf ? leader->start_boottime : BPF_CORE_READ(leader, start_boottime);
	else if (bpf_core_field_exists(((struct task_struct___pre55 *)leader)->real_start_time))
		t = BPF_CORE_READ((struct task_struct___pre55 *)leader, real_start_time);
	else
		t = btf ? leader->start_time : BPF_CORE_READ(leader, start_time);
	if (start_tick_ns)
		t = t / start_tick_ns * start_tick_ns;
	return t;
}

static __always_inline void owner_of(struct task_struct *task, struct rcl_owner *o, bool btf)
{
	o->pad = 0;
	if (btf) {
		o->tgid = task->tgid;
		o->start_ns = proc_start_ns(task->group_leader, true);
	} else {
		o->tgid = BPF_CORE_READ(task, tgid);
		o->start_ns = proc_start_ns(BPF_CORE_READ(task, group_leader), false);
	}
}

/* The current process's name: its main thread's, as ps and the fd walk
 * name it, not the calling thread's (a pool worker that names itself,
 * "tokio-runtime-w", named the process's row, and --comm with the process's
 * name missed it); task is the current task. In tp_btf, plain loads (the
 * helper's string copy costs about 60 ns a call). The kernel keeps comm's
 * last byte 0, and a rename in between can only mix two names, as the
 * helper's copy can. The hot path asks for the current task once per run:
 * bpf_get_current_task_btf() is a helper call, not inlined on 6.18. */
static __always_inline void current_comm(char comm[RCL_COMM_LEN], struct task_struct *task,
					 bool btf)
{
	if (btf) {
		struct task_struct *leader = task->group_leader;

		__builtin_memcpy(comm, leader->comm, RCL_COMM_LEN);
	} else {
		struct task_struct *leader = BPF_CORE_READ(task, group_leader);

		if (bpf_probe_read_kernel_str(comm, RCL_COMM_LEN, &leader->comm) < 0)
			comm[0] = '\0';
	}
}


/* In tree mode, does task descend from rcleak? Always true otherwise. */
static __always_inline bool traced(struct task_struct *task, bool btf)
{
	if (!tree_mode)
		return true;
	for (int i = 0; i < TREE_DEPTH; i++) {
		__u32 tgid;

		task = btf ? task->real_parent : BPF_CORE_READ(task, real_parent);
		if (!task)
			return false;
		tgid = btf ? task->tgid : BPF_CORE_READ(task, tgid);
		if (tgid == self_tgid)
			return true;
		if (tgid <= 1)
			return false;
	}
	return false;
}

#endif /* RCLEAK_TASK_BPF_H */
