/* SPDX-License-Identifier: GPL-2.0 */
/* redis.h - what limits a redis-server: maxclients, from its command line,
 * its config file, or by asking it (CONFIG GET maxclients). */
#ifndef RCLEAK_REDIS_H
#define RCLEAK_REDIS_H

#include <stdbool.h>
#include <linux/types.h>

/* Redis's compiled-in default when nothing else says. */
#define REDIS_DEFAULT_MAXCLIENTS 10000
/* Redis reserves this many fds for itself (CONFIG_MIN_RESERVED_FDS). */
#define REDIS_RESERVED_FDS 32

/* maxclients from a command line ("--maxclients N", or a *.conf argument
 * whose file says "maxclients N"). Returns N, or 0 when it does not say. */
/* Longest command line read for --maxclients and a .conf path. */
#define REDIS_CMDLINE_MAX 4096
long redis_maxclients_from_cmdline(const char *cmdline, int pid);

/* Value of "maxclients" in a redis.conf (last one wins), or 0. */
long redis_maxclients_from_config(const char *path);

/* Parse a RESP reply to CONFIG GET maxclients. Returns N, or 0. */
long redis_parse_config_reply(const char *buf, size_t len);

/* Parse a RESP reply to INFO clients: N of its "maxclients:N" line (Redis
 * 7+), 0 when it has none, -1 while the reply is not whole yet. */
long redis_parse_info_maxclients(const char *buf, size_t len);

/* The same for its "cluster_connections:N" line (Redis 7+: the cluster bus
 * links it counts against maxclients): N, 0 when it has none. */
long redis_parse_info_cluster_links(const char *buf, size_t len);

#endif
