// SPDX-License-Identifier: GPL-2.0
/* summary.c - see summary.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"
#include "opts.h"
#include "summary.h"
#include "view.h"

static const char *const rule_names[RULE__N] = {
	"max-open", "max-leaked", "max-connects", "max-churn", "close-wait",
};

/* ------------------------------------------------------------------------
 * figures
 */

static void fill_row(struct run_row *r, const struct proc *p, const struct rcl_opts *o,
		     double now, double start_boot_s, long dup_open)
{
	double born = (double)p->key.start_ns / 1e9 - start_boot_s;
	double end = p->exited ? p->exited_at : now;
	double life = end - (born > 0 ? born : 0);

	/* what it holds, less what it accepted (clients counts unix-socket
	 * ones too, which open does not), and less the sockets whose
	 * connection is over (a daemon holds one its parent shut down): no
	 * connection, and their close was counted */
	long own_open = p->open - (p->clients - p->unix_clients) - p->own_over;

	memset(r, 0, sizeof(*r));
	r->p = p;
	r->server = p->nlisten > 0 || p->listener;
	/* A process that listens (a server, a proxy, a Sentinel) is judged by
	 * the connections it opened itself, as any client: those accepted on
	 * its listen ports are in no figure here but accepted. The kernel's
	 * peak is of its own already (struct rcl_counters). */
	r->accepted = (long)p->accepted;
	r->peak_open = (long)p->peak;
	/* sockets received from a parent (a fork's) or over SCM_RIGHTS, held
	 * at some refresh: the kernel's peak counts only what it opened */
	if (p->own_open_max > r->peak_open)
		r->peak_open = p->own_open_max;
	if (own_open > r->peak_open)
		r->peak_open = own_open;
	r->opened = (long)(p->opened - p->accepted);
	/* the application's own closes, counted when it let go (not when the
	 * TCP handshake ended), so exits and races never blur them. Another
	 * process's accepted connections that a non-listener let go of (a
	 * server's fork) count as before. */
	r->closed = (long)(p->released - (r->server ? p->acc_released : 0));
	/* accepted connections dropped at a server's exit are not its leaks,
	 * nor a redis-server's own (its link to its master: proc_leaked) */
	r->leaked = (long)(p->exit_closed - (r->server ? p->acc_exit_closed : 0));
	/* and the connections it opened that no fd holds (a thread's recv()
	 * keeps one alive whose fd another thread closed) */
	r->open_at_end = p->exited ? 0 : own_open - dup_open + p->unheld;
	if (proc_is_redis(p->comm, r->server))
		r->leaked = r->open_at_end = 0;
	r->median_lifetime_ms = p->median_lifetime_ms;
	if (life < RUN_MIN_LIFE_S)
		life = RUN_MIN_LIFE_S; /* within the timing error of its exit */
	/* one connect is no rate: a one-shot process (redis-cli ping) is not
	 * churn however short its life */
	if (r->opened < 2 && life < o->window_s)
		life = o->window_s;
	r->connects_per_s = (double)r->opened / life;
	/* over its whole life when that is shorter than the window, else
	 * the most in any one window (the run loop's watch, which counts
	 * the kernel's opened: its own) */
	if (life <= o->window_s)
		r->max_churn = r->connects_per_s;
	else
		r->max_churn = p->max_churn;
	r->close_wait_max = p->close_wait_max;

	if (r->leaked + r->open_at_end > 0)
		r->verdict = "LEAK";
	else if (r->close_wait_max > 0)
		r->verdict = "ZOMBIE";
	/* and at least the connects the live view's rule needs to see, the
	 * rate over half the window: a test suite's 3 connections in 0.1 s
	 * read 30/s (what --max-churn judges), a burst, not churn */
	else if (r->max_churn >= o->churn_per_s && r->opened >= o->churn_per_s * o->window_s / 2 &&
		 r->median_lifetime_ms >= 0 && r->median_lifetime_ms < o->churn_life_ms)
		r->verdict = "CHURN";
	else
		r->verdict = "ok";
}

/* A rule's value or threshold: a count exactly (%g wrote 1234567 as
 * 1.23457e+06, so a failure could read "value 1.23457e+06, threshold <=
 * 1.23457e+06"), a rate to the hundredth. */
static const char *fmt_num(char buf[32], double v)
{
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		snprintf(buf, 32, "%lld", (long long)v);
	else
		snprintf(buf, 32, "%.2f", v);
	return buf;
}

/* A threshold as given: to the hundredth, as fmt_num, when that is it
 * ("2.50"), else with the digits it has: --max-churn 0.004 read "<= 0.00"
 * (and a rate of 0.20 failed it), 2.345 was 2.35 in the text and in --json. */
static const char *fmt_threshold_num(char buf[32], double v)
{
	double hundredths = v * 100;

	if (hundredths > -1e15 && hundredths < 1e15 && hundredths == (double)(long long)hundredths)
		return fmt_num(buf, v);
	snprintf(buf, 32, "%.10g", v);
	return buf;
}

/* room kept at the end of a detail for "; and N more" */
#define BLAME_MORE_ROOM 32

/* Name the rows that break a rule, worst first, in the rule's detail, as
 * many as it holds, and how many more there are: it named 7 of 20
 * processes that leaked one each, and said nothing of the other 13. */
static void blame(struct run_rule *rule, const struct run_summary *s,
		  double (*metric)(const struct run_row *), bool total)
{
	const size_t cap = sizeof(rule->detail);
	size_t len = strlen(rule->detail);
	long more = 0;

	for (size_t i = 0; i < s->nrows; i++) {
		const struct run_row *r = &s->rows[i];
		double v = metric(r);
		char num[32], one[96];
		int n;

		/* a total names every contributor; a per-process rule the offenders */
		if (!(total ? v > 0 : v > rule->threshold))
			continue;
		n = snprintf(one, sizeof(one), "%spid %u (%s): %s", len ? "; " : "", r->p->key.tgid,
			     r->p->comm, fmt_num(num, v));
		if (more || n < 0 || (size_t)n >= sizeof(one) || len + (size_t)n + BLAME_MORE_ROOM >= cap) {
			more++;
			continue;
		}
		memcpy(rule->detail + len, one, (size_t)n + 1);
		len += (size_t)n;
	}
	if (more)
		snprintf(rule->detail + len, cap - len, "%sand %ld more", len ? "; " : "", more);
}

/* Does p's open at end count rec's socket? As fill_row's: a live process's
 * connections, not those accepted on its own listen ports, nor sockets
 * whose connection is over. */
static bool counts_at_end(const struct proc *p, const struct rcl_fd_rec *rec)
{
	return p && !p->exited && !model_conn_over(rec->state) && !model_listens_on(p, rec->lport);
}

/* A socket that several live processes of the tree hold (a child forked
 * with its parent's connection, both still running) is one connection, and
 * one open at end: the holder with the lowest pid counts it, the others do
 * not (each counted it, and --max-leaked 1 failed on one connection with 2).
 * dup[i]: how many of m->procs[i]'s sockets another holder counts. Without
 * the walk's order (no memory for the sort) nothing is known to be shared. */
static void shared_once(const struct model *m, long *dup)
{
	const struct recsort_key *k = m->order;

	if (!k)
		return;
	for (size_t i = 0; i < m->nrecs;) {
		size_t j = i + 1;
		const struct proc *keep = NULL;

		while (j < m->nrecs && k[j].sk == k[i].sk)
			j++;
		if (j - i < 2) { /* one record: one holder */
			i = j;
			continue;
		}
		for (size_t x = i; x < j; x++) {
			const struct proc *p = m->recproc[k[x].idx];

			if (m->recholders[k[x].idx] && counts_at_end(p, &m->recs[k[x].idx]) &&
			    (!keep || p->key.tgid < keep->key.tgid))
				keep = p;
		}
		for (size_t x = i; x < j; x++) {
			const struct proc *p = m->recproc[k[x].idx];

			if (!m->recholders[k[x].idx] || p == keep || !counts_at_end(p, &m->recs[k[x].idx]))
				continue;
			for (size_t n = 0; n < m->nprocs; n++)
				if (m->procs[n] == p) {
					dup[n]++;
					break;
				}
		}
		i = j;
	}
}

static double m_peak(const struct run_row *r) { return (double)r->peak_open; }
static double m_leak(const struct run_row *r) { return (double)(r->leaked + r->open_at_end); }
static double m_opened(const struct run_row *r) { return (double)r->opened; }
static double m_churn(const struct run_row *r) { return r->max_churn; }
static double m_cw(const struct run_row *r) { return (double)r->close_wait_max; }

static int cmp_rows(const void *a, const void *b)
{
	const struct run_row *x = a, *y = b;
	long lx = x->leaked + x->open_at_end, ly = y->leaked + y->open_at_end;

	if (lx != ly)
		return lx > ly ? -1 : 1;
	if (x->opened != y->opened)
		return x->opened > y->opened ? -1 : 1;
	return x->p->key.tgid < y->p->key.tgid ? -1 : 1;
}

int summary_build(struct run_summary *s, const struct model *m, const struct rcl_opts *o,
		  double now, double start_boot_s)
{
	double (*metrics[RULE__N])(const struct run_row *) = {
		m_peak, m_leak, m_opened, m_churn, m_cw,
	};
	double thresholds[RULE__N] = {
		(double)o->max_open, (double)o->max_leaked, (double)o->max_connects, o->max_churn,
		o->fail_on_close_wait ? 0 : -1,
	};

	long *dup = calloc(m->nprocs ? m->nprocs : 1, sizeof(*dup));

	s->rows = calloc(m->nprocs ? m->nprocs : 1, sizeof(*s->rows));
	if (!s->rows || !dup) {
		free(dup);
		return -ENOMEM;
	}
	shared_once(m, dup);
	s->ports = o->ports;
	s->nports = o->nports;
	s->close_wait_s = o->zombie_s;
	s->nrows = 0;
	for (size_t i = 0; i < m->nprocs; i++) {
		const struct proc *p = m->procs[i];

		/* released: a process that closed connections another one
		 * opened (a fork's child), whose closes the totals would lose;
		 * own_open_max: one that held its parent's (a multiprocessing
		 * worker), which --max-open judges */
		if (!p->open && !p->opened && !p->closed && !p->missed_closed && !p->exit_closed &&
		    !p->released && !p->nlisten && !p->own_open_max)
			continue;
		fill_row(&s->rows[s->nrows++], p, o, now, start_boot_s, dup[i]);
	}
	free(dup);
	if (s->nrows)
		qsort(s->rows, s->nrows, sizeof(*s->rows), cmp_rows);

	s->opened = s->closed = s->leaked = s->open_at_end = 0;
	for (size_t i = 0; i < s->nrows; i++) {
		const struct run_row *r = &s->rows[i];

		s->opened += r->opened;
		s->closed += r->closed;
		s->leaked += r->leaked;
		s->open_at_end += r->open_at_end;
	}

	s->failed = false;
	for (int k = 0; k < RULE__N; k++) {
		struct run_rule *rule = &s->rules[k];
		double v = 0;

		memset(rule, 0, sizeof(*rule));
		rule->name = rule_names[k];
		rule->set = thresholds[k] >= 0;
		rule->threshold = thresholds[k];
		for (size_t i = 0; i < s->nrows; i++) {
			double x = metrics[k](&s->rows[i]);

			if (k == RULE_MAX_LEAKED || k == RULE_MAX_CONNECTS)
				v += x; /* totals over the tree */
			else if (x > v)
				v = x; /* worst process */
		}
		rule->value = v;
		rule->passed = !rule->set || v <= rule->threshold;
		if (k == RULE_CLOSE_WAIT && rule->set)
			rule->passed = v == 0;
		if (!rule->passed) {
			s->failed = true;
			blame(rule, s, metrics[k], k == RULE_MAX_LEAKED || k == RULE_MAX_CONNECTS);
		}
	}
	s->exit_code = summary_exit_code(s);
	return 0;
}

void summary_free(struct run_summary *s)
{
	free(s->rows);
	s->rows = NULL;
	s->nrows = 0;
}

int summary_exit_code(const struct run_summary *s)
{
	if (s->cmd_signal)
		return 128 + s->cmd_signal;
	if (s->cmd_exit > 0)
		return s->cmd_exit;
	return s->failed ? RCL_EXIT_THRESHOLD : RCL_EXIT_OK;
}

/* ------------------------------------------------------------------------
 * renderings
 */

static void fmt_threshold(char *buf, size_t len, const struct run_rule *r, const struct run_summary *s)
{
	char num[32];

	if (!r->set)
		snprintf(buf, len, "not set");
	else if (!strcmp(r->name, "close-wait"))
		snprintf(buf, len, "none held %s s", fmt_threshold_num(num, s->close_wait_s));
	else
		snprintf(buf, len, "<= %s", fmt_threshold_num(num, r->threshold));
}

void summary_text(FILE *f, const struct run_summary *s)
{
	const char *sep;

	fprintf(f, "\nrcleak run: '%s' ", s->argv[0]);
	if (s->cmd_signal)
		fprintf(f, "killed by signal %d", s->cmd_signal);
	else
		fprintf(f, "exited %d", s->cmd_exit);
	fprintf(f, " after %.1fs; %zu process%s used watched ports\n", s->duration_s, s->nrows,
		s->nrows == 1 ? "" : "es");
	if (!s->nrows) {
		/* a CI gate on the wrong port passes: say which were watched */
		char ports[96];

		opts_ports_str(s->ports, s->nports, ports, sizeof(ports));
		fprintf(f, "  no process of the run connected to or listened on port%s %s: nothing was "
			"judged; if CMD's Redis is on another port, give it with -p\n",
			s->nports == 1 ? "" : "s", ports);
	}
	if (s->nrows) {
		fprintf(f, "  %-7s %-15s %-6s %5s %6s %6s %7s %7s %9s %7s %7s  %s\n", "PID", "COMM",
			"ROLE", "PEAK", "LEAKED", "@END", "OPENED", "CLOSED", "MEDLIFE", "CONN/s",
			"CLWAIT", "VERDICT");
		for (size_t i = 0; i < s->nrows; i++) {
			const struct run_row *r = &s->rows[i];
			char life[16], name[4 * RCL_COMM_LEN];

			/* what CMD's processes named themselves, on a terminal or
			 * in a CI log: as the live views show it */
			shown_str(name, sizeof(name), r->p->comm);
			if (r->median_lifetime_ms < 0)
				snprintf(life, sizeof(life), "-");
			else
				snprintf(life, sizeof(life), "%.1fms", r->median_lifetime_ms);
			fprintf(f, "  %-7u %-15s %-6s %5ld %6ld %6ld %7ld %7ld %9s %7.1f %7ld  %s%s\n",
				r->p->key.tgid, name, r->server ? "server" : "client", r->peak_open,
				r->leaked, r->open_at_end, r->opened, r->closed, life, r->connects_per_s,
				r->close_wait_max, r->verdict, r->p->exited ? "" : " (still running)");
		}
	}
	fprintf(f, "  totals: opened %ld, closed %ld, leaked at exit %ld, open at end %ld\n",
		s->opened, s->closed, s->leaked, s->open_at_end);
	/* a PASS on counts that miss connections is no PASS to trust: say so
	 * (a tree of tens of thousands of processes fills the process map) */
	if (s->lost_events)
		fprintf(f, "  lost events: %llu (a BPF map was full, or the kernel skipped rcleak's hook): "
			"the counts above may be short\n", s->lost_events);
	for (int k = 0; k < RULE__N; k++) {
		const struct run_rule *r = &s->rules[k];
		char th[48], num[32], detail[sizeof(r->detail)];

		fmt_threshold(th, sizeof(th), r, s);
		/* names in it as the table shows them; --json and --junit
		 * escape the bytes themselves */
		shown_str(detail, sizeof(detail), r->detail);
		fprintf(f, "  rule %-12s %-4s value %s (%s)%s%s\n", r->name,
			!r->set ? "-" : r->passed ? "PASS" : "FAIL", fmt_num(num, r->value), th,
			detail[0] ? ": " : "", detail);
	}
	/* "PASS (exit 1)" read as a contradiction: say whose code it is */
	sep = ";";
	fprintf(f, "rcleak run: %s (exit %d", s->failed ? "FAIL: a threshold was broken" : "PASS",
		s->exit_code);
	if (s->wait_signal)
		fprintf(f, ": signal %d cut the wait for the descendants of '%s'", s->wait_signal, s->argv[0]);
	else if (s->cmd_signal)
		fprintf(f, ": '%s' was killed by signal %d", s->argv[0], s->cmd_signal);
	else if (s->cmd_exit > 0)
		fprintf(f, ": '%s' exited %d", s->argv[0], s->cmd_exit);
	else
		sep = ":";
	if (s->unwritten)
		fprintf(f, "%s cannot write %s", sep, s->unwritten);
	fputs(")\n", f);
}

static void json_num(FILE *f, double v)
{
	if (v < 0)
		fputs("null", f);
	else if (v == (long)v)
		fprintf(f, "%ld", (long)v);
	else
		fprintf(f, "%.2f", v);
}

void summary_json(FILE *f, const struct run_summary *s)
{
	fputs("{\"cmd\":[", f);
	for (int i = 0; s->argv[i]; i++) {
		if (i)
			fputc(',', f);
		json_str(f, s->argv[i]);
	}
	fprintf(f, "],\"exit_code\":%d,\"cmd_exit\":", s->exit_code);
	if (s->cmd_signal)
		fprintf(f, "null,\"cmd_signal\":%d", s->cmd_signal);
	else
		fprintf(f, "%d,\"cmd_signal\":null", s->cmd_exit);
	fprintf(f, ",\"duration_s\":%.3f,\"lost_events\":%llu,\"result\":\"%s\",\"totals\":{"
		"\"opened\":%ld,\"closed\":%ld,\"leaked\":%ld,\"open_at_end\":%ld},\"processes\":[",
		s->duration_s, s->lost_events, s->failed ? "fail" : "pass", s->opened, s->closed, s->leaked,
		s->open_at_end);
	for (size_t i = 0; i < s->nrows; i++) {
		const struct run_row *r = &s->rows[i];

		fprintf(f, "%s{\"pid\":%u,\"comm\":", i ? "," : "", r->p->key.tgid);
		json_str(f, r->p->comm);
		fputs(",\"cmdline\":", f);
		if (r->p->have_cmdline && r->p->cmdline[0])
			json_str(f, r->p->cmdline);
		else /* gone before rcleak could read it */
			fputs("null", f);
		fprintf(f, ",\"role\":\"%s\",\"peak_open\":%ld,\"leaked\":%ld,\"open_at_end\":%ld,"
			"\"opened\":%ld,\"closed\":%ld,\"accepted\":%ld,\"median_lifetime_ms\":",
			r->server ? "server" : "client", r->peak_open, r->leaked, r->open_at_end,
			r->opened, r->closed, r->accepted);
		json_num(f, r->median_lifetime_ms);
		fprintf(f, ",\"connects_per_s\":%.2f,\"max_churn_per_s\":%.2f,\"close_wait_max\":%ld,"
			"\"verdict\":\"%s\",\"exited\":%s}", r->connects_per_s, r->max_churn,
			r->close_wait_max, r->verdict, r->p->exited ? "true" : "false");
	}
	fputs("],\"rules\":[", f);
	for (int k = 0; k < RULE__N; k++) {
		const struct run_rule *r = &s->rules[k];
		char num[32];

		fprintf(f, "%s{\"name\":\"%s\",\"threshold\":", k ? "," : "", r->name);
		if (r->set)
			fputs(fmt_threshold_num(num, r->threshold), f);
		else
			fputs("null", f);
		fputs(",\"value\":", f);
		json_num(f, r->value);
		fprintf(f, ",\"passed\":%s,\"detail\":", r->passed ? "true" : "false");
		json_str(f, r->detail);
		fputc('}', f);
	}
	fputs("]}\n", f);
}

/* U+FFFE and U+FFFF (EF BF BE, EF BF BF): well-formed UTF-8, but no
 * character XML 1.0 allows, anywhere in a document. */
static bool xml_nonchar(const unsigned char *c, int n)
{
	return n == 3 && c[0] == 0xef && c[1] == 0xbf && (c[2] == 0xbe || c[2] == 0xbf);
}

/* Names are bytes (a comm cut at 15 bytes inside a character, say), and one
 * byte that is not UTF-8 made the whole report unreadable to a JUnit
 * parser: well-formed UTF-8 goes as it is, any other byte >= 0x80 as the
 * character U+00XX, as json_str writes it; so do the bytes of U+FFFE and
 * U+FFFF, which a parser refuses as they are (a process named with one
 * made the file unreadable again). */
static void xml_str(FILE *f, const char *s)
{
	for (; *s; s++) {
		int n;

		if ((unsigned char)*s >= 0x80) {
			if ((n = utf8_len((const unsigned char *)s)) &&
			    !xml_nonchar((const unsigned char *)s, n)) {
				fwrite(s, 1, (size_t)n, f);
				s += n - 1;
			} else {
				fprintf(f, "&#x%02x;", (unsigned char)*s);
			}
			continue;
		}
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		default:
			if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
				fputc(' ', f);
			else
				fputc(*s, f);
		}
	}
}

void summary_junit(FILE *f, const struct run_summary *s)
{
	int failures = 0, skipped = 0;

	for (int k = 0; k < RULE__N; k++) {
		failures += !s->rules[k].passed;
		skipped += !s->rules[k].set;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<testsuites>\n  <testsuite name=\"rcleak\" tests=\"%d\" failures=\"%d\" "
		"errors=\"0\" skipped=\"%d\" time=\"%.3f\">\n", RULE__N, failures, skipped,
		s->duration_s);
	for (int k = 0; k < RULE__N; k++) {
		const struct run_rule *r = &s->rules[k];
		char th[48];

		fmt_threshold(th, sizeof(th), r, s);
		fprintf(f, "    <testcase classname=\"rcleak\" name=\"%s\" time=\"0\">", r->name);
		if (!r->set) {
			fputs("<skipped message=\"threshold not set\"/>", f);
		} else if (!r->passed) {
			char num[32];

			fprintf(f, "<failure message=\"%s: value %s, threshold ", r->name, fmt_num(num, r->value));
			xml_str(f, th);
			fputs(": ", f);
			xml_str(f, r->detail);
			fputs("\"/>", f);
		}
		fputs("</testcase>\n", f);
	}
	fputs("  </testsuite>\n</testsuites>\n", f);
}
