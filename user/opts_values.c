// SPDX-License-Identifier: GPL-2.0
/* opts_values.c - the values of options (numbers, seconds, port lists,
 * files), each checked whole, for opts.c's parser. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "opts_int.h"

int opts_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Strict decimal integer in [lo, hi]. Leading white space is refused as
 * the trailing is (strtol skips it: "-n ' 3'" was taken, "-n '3 '" not). */
int opts_parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (!s || !*s || isspace((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || end == s || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Strict finite decimal number (seconds). */
int opts_parse_secs(const char *s, double *out)
{
	char *end;
	double v;

	/* decimal only: strtod also takes hex ("0x10" would be 16 s); no
	 * white space, leading or trailing */
	if (!s || !*s || isspace((unsigned char)*s) || strpbrk(s, "xX"))
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !isfinite(v))
		return -1;
	*out = v;
	return 0;
}

int opts_parse_ports(const char *s, __u16 *ports, int max, char *err, size_t errlen)
{
	static __u8 seen[65536 / 8];
	char buf[1024], *tok, *save = NULL;
	int n = 0;

	if (!s || !*s)
		return opts_fail(err, errlen, "empty port list: give ports like 6379,7000-7005");
	if (strlen(s) >= sizeof(buf))
		return opts_fail(err, errlen, "port list too long (%zu characters): give at most %d ports, "
			    "with ranges like 7000-7063", strlen(s), max);
	/* digits, ranges and commas between them only: "6379,", ",6379",
	 * "6379,,6380" and "+6379" were taken */
	if (strspn(s, "0123456789,-") != strlen(s) || s[0] == ',' || s[strlen(s) - 1] == ',' ||
	    strstr(s, ",,"))
		return opts_fail(err, errlen, "bad port list '%s': give ports like 6379,7000-7005", s);
	strcpy(buf, s);
	memset(seen, 0, sizeof(seen));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		long lo, hi;

		if (dash) {
			*dash = '\0';
			if (opts_parse_long(tok, 1, 65535, &lo) || opts_parse_long(dash + 1, 1, 65535, &hi))
				return opts_fail(err, errlen, "bad port range '%s-%s': ports are 1-65535", tok, dash + 1);
			if (hi < lo)
				return opts_fail(err, errlen, "bad port range '%s-%s': end is below start", tok, dash + 1);
		} else {
			if (opts_parse_long(tok, 1, 65535, &lo))
				return opts_fail(err, errlen, "bad port '%s': ports are numbers 1-65535", tok);
			hi = lo;
		}
		for (long p = lo; p <= hi; p++) {
			if (seen[p / 8] & (1u << (p % 8)))
				continue;
			if (n >= max)
				return opts_fail(err, errlen, "too many ports: at most %d", max);
			seen[p / 8] |= 1u << (p % 8);
			n++;
		}
	}
	if (!n)
		return opts_fail(err, errlen, "empty port list: give ports like 6379,7000-7005");
	n = 0;
	for (long p = 1; p < 65536; p++)
		if (seen[p / 8] & (1u << (p % 8)))
			ports[n++] = (__u16)p;
	return n;
}

/* Add n sorted ports to o's sorted list, once each. */
int opts_add_ports(struct rcl_opts *o, const __u16 *more, int n, char *err, size_t errlen)
{
	__u16 merged[RCL_MAX_PORTS];
	int i = 0, j = 0, k = 0;

	while (i < o->nports || j < n) {
		__u16 p = j >= n || (i < o->nports && o->ports[i] <= more[j]) ? o->ports[i] : more[j];

		while (i < o->nports && o->ports[i] == p)
			i++;
		while (j < n && more[j] == p)
			j++;
		if (k == RCL_MAX_PORTS)
			return opts_fail(err, errlen, "too many ports: at most %d", RCL_MAX_PORTS);
		merged[k++] = p;
	}
	memcpy(o->ports, merged, (size_t)k * sizeof(merged[0]));
	o->nports = k;
	return 0;
}

/* A positive threshold: "what" names it in the message. */
int opts_threshold(const char *arg, double lo, double hi, double *out, const char *what,
		     char *err, size_t errlen)
{
	double d;

	if (opts_parse_secs(arg, &d) || d < lo || d > hi)
		/* %.10g: the bounds print whole ("2592000", not %g's "2.592e+06") */
		return opts_fail(err, errlen, "bad %s '%s': give a number from %.10g to %.10g", what, arg, lo, hi);
	*out = d;
	return 0;
}

/* Digits with at most one '.': "10", "2.5", ".5" (seconds given the way
 * an option's value is, not a command's name). */
bool opts_is_number(const char *s)
{
	size_t digits = 0, dots = 0;

	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s == '.')
			dots++;
		else
			return false;
	}
	return digits && dots <= 1;
}

/* A FILE option's value: never a word that starts with '-', which is
 * taken for the option it looks like (the file can be given as ./-x), nor
 * with '=': "-w=f.rcl" (a short option's value has no '=') wrote "=f.rcl". */
int opts_need_file(const char *opt, const char *arg, char *err, size_t errlen)
{
	if (!*arg)
		return opts_fail(err, errlen, "'%s' needs a file: %s FILE", opt, opt);
	if (*arg == '-' || *arg == '=')
		return opts_fail(err, errlen, "'%s' needs a file: %s FILE (got '%s'; for a file of that name "
			    "write ./%s)", opt, opt, arg, arg);
	return 0;
}

/* getopt's ':' (a value missing) or '?' for the word arg, in one line.
 * optopt is the option's value: no character to print for a long-only
 * option, 'h' for "--help=x"; 0 for a word no option or several fit. */
int opts_bad_option(const struct option *long_opts, int c, const char *arg, char *err, size_t errlen)
{
	const struct option *lo;
	size_t n = strcspn(arg, "=");
	char also[160] = "";
	int fits = 0;

	for (lo = long_opts; optopt && lo->name && lo->val != optopt; lo++)
		;
	/* "-vp": the value of -p was missing, not that of "-vp"; "--int"
	 * is --interval */
	if (c == ':' && !strncmp(arg, "--", 2) && lo->name)
		return opts_fail(err, errlen, "option '--%s' needs a value (see --help)", lo->name);
	if (c == ':')
		return opts_fail(err, errlen, "option '-%c' needs a value (see --help)", optopt);
	if (optopt && lo->name && lo->has_arg == no_argument && !strncmp(arg, "--", 2))
		return opts_fail(err, errlen, "option '--%s' takes no value (see --help)", lo->name);
	if (optopt) /* short options never get here with a known letter */
		return opts_fail(err, errlen, "unknown option '-%c' (see --help)", optopt);
	/* "--re" fits --reconcile, --redis-user and --replay: it was
	 * "unknown option '--re'", as if none of them existed */
	for (lo = long_opts; n > 2 && lo->name; lo++) {
		size_t len = strlen(also);

		if (strncmp(lo->name, arg + 2, n - 2) || len + strlen(lo->name) + 5 >= sizeof(also))
			continue;
		snprintf(also + len, sizeof(also) - len, "%s--%s", fits++ ? ", " : "", lo->name);
	}
	if (fits > 1)
		return opts_fail(err, errlen, "option '%.*s' is ambiguous: %s (see --help)", (int)n, arg, also);
	return opts_fail(err, errlen, "unknown option '%s' (see --help)", arg);
}

/* "6379,7000-7005": runs of three or more as ranges. Ports that do not fit
 * in buf are counted ("6379,6390 +12 more"), never silently left out: the
 * header would name fewer ports than are watched. */
void opts_ports_str(const __u16 *ports, int n, char *buf, size_t len)
{
	size_t l = 0;
	int i = 0;

	buf[0] = '\0';
	/* 24: room for one more range (12) and the count (" +64 more", 9) */
	while (i < n && l + 24 < len) {
		int j = i;

		while (j + 1 < n && ports[j + 1] == ports[j] + 1)
			j++;
		if (j >= i + 2) {
			l += snprintf(buf + l, len - l, "%s%u-%u", l ? "," : "", ports[i], ports[j]);
			i = j + 1;
		} else {
			l += snprintf(buf + l, len - l, "%s%u", l ? "," : "", ports[i]);
			i++;
		}
	}
	if (i < n)
		snprintf(buf + l, len - l, " +%d more", n - i);
}
