/* SPDX-License-Identifier: GPL-2.0 */
/* portshint.h - what to say when the watched ports hold nothing at start:
 * the empty table of a newcomer whose Redis is not on 6379 said nothing,
 * refresh after refresh. Reads /proc only. */
#ifndef RCLEAK_PORTSHINT_H
#define RCLEAK_PORTSHINT_H

#include <stddef.h>
#include <linux/types.h>

/* The TCP ports processes named redis-server listen on, each in its own
 * network namespace, at most max of them, in /proc's order. Returns how
 * many (0 when /proc cannot tell). */
int portshint_redis_ports(__u16 *ports, int max);

/* The ports of portshint_redis_ports() in have, sorted, as -p takes them
 * ("6380,7000", the first 16 then ",..."). Returns how many there are. */
int portshint_have(char *have, size_t len);

/* One line on stderr: nothing is on the watched ports, and the ports
 * redis-server listens on here, as -p takes them. */
void portshint_say(const __u16 *watched, int nwatched);

#endif
