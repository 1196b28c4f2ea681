// SPDX-License-Identifier: GPL-2.0
/* record_trig.c - the flight recorder's triggers (record_trig.h). */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "record_trig.h"
#include "redis.h"
#include "view.h"

bool record_triggered(const struct rcl_opts *o, const struct model *m, bool usr1, struct rec_trigger *t)
{
	memset(t, 0, sizeof(*t));
	if (usr1) {
		snprintf(t->why, sizeof(t->why), "SIGUSR1");
		return true;
	}
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];

		if (p->exited)
			continue;
		if (o->trigger_headroom >= 0 && p->nlisten) {
			long eff = model_server_limit(p);

			if (eff > 0 && (double)model_server_headroom(p) * 100.0 / (double)eff <= o->trigger_headroom) {
				t->owner = p->key;
				/* the slots of rcleak's link and a replica's link
				 * to its master are no client's: "17 clients of
				 * 20" read as 3 slots left where 2 were */
				long links = p->rcleak_links + p->master_links + p->cluster_links;
				char lk[64] = "";

				if (links)
					snprintf(lk, sizeof(lk), " and %ld %s", links,
						 p->rcleak_links == links ? "rcleak --ask-redis link(s)" : "links");
				snprintf(t->why, sizeof(t->why),
					 "redis-server pid %u: %ld clients of %ld%s: headroom %ld (<= %g%%)",
					 p->key.tgid, p->clients, eff, lk, model_server_headroom(p),
					 o->trigger_headroom);
				return true;
			}
		}
		/* --pid and --comm say whose verdict: `--comm app
		 * --trigger-verdict LEAK` fired on any process's leak once */
		if (o->trigger_verdict && !strcmp(verdict_name(p->verdict), o->trigger_verdict) &&
		    view_selected(o, p)) {
			t->owner = p->key;
			snprintf(t->verdict, sizeof(t->verdict), "%s", verdict_name(p->verdict));
			snprintf(t->rule, sizeof(t->rule), "%s", p->rule);
			snprintf(t->why, sizeof(t->why), "pid %u (%s): %s: %s", p->key.tgid, p->comm,
				 verdict_name(p->verdict), p->rule);
			return true;
		}
	}
	return false;
}

/* --trigger-headroom against a limit rcleak guessed: the maxclients of a
 * server it was neither told (--maxclients) nor let ask (--ask-redis) is
 * Redis's default 10000, capped by the fd limit. A Redis at maxclients 20
 * refused clients while the trigger waited for 9000 of them, and nothing
 * said so. */
void record_trigger_limits(const struct rcl_opts *o, const struct model *m, struct trig_said *said)
{
	if (o->trigger_headroom < 0 || o->ask_redis || o->maxclients > 0)
		return;
	for (size_t i = 0; i < m->nprocs && said->n < (int)(sizeof(said->pid) / sizeof(said->pid[0])); i++) {
		const struct proc *p = m->procs[i];
		char name[4 * RCL_COMM_LEN];
		long eff;
		int k;

		if (p->exited || !p->nlisten || p->maxclients > 0)
			continue;
		for (k = 0; k < said->n && said->pid[k] != p->key.tgid; k++)
			;
		if (k < said->n)
			continue;
		said->pid[said->n++] = p->key.tgid;
		eff = model_server_limit(p);
		shown_str(name, sizeof(name), p->comm);
		elog("--trigger-headroom: %s pid %u: its maxclients is not known, so its headroom is taken against "
		     "%ld (%s): give --ask-redis, or --maxclients N, for the trigger to fire near its real limit",
		     name, p->key.tgid, eff,
		     eff < REDIS_DEFAULT_MAXCLIENTS ? "its fd limit's cap of Redis's default 10000"
						    : "Redis's default 10000 assumed");
	}
}
