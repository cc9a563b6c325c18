/* signerd: the signing daemon. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "api/metrics.h"
#include "api/server.h"
#include "common/log.h"
#include "common/files.h"
#include "signer/config.h"
#include "signer/signer.h"

#ifndef SIGNER_VERSION
#define SIGNER_VERSION "unknown"
#endif

#define DRAIN_SECONDS 30

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sg_vlog(fmt, ap);
	va_end(ap);
}

/* No core dumps, not ptrace-able by the same user, memory locked (secrets never swapped).
 * will_drop: privileges go later, and with them root's exemption from RLIMIT_MEMLOCK. */
static void harden_process(bool will_drop)
{
	struct rlimit none = {0, 0}, memlock;
	bool unlimited;

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
		say("warning: PR_SET_DUMPABLE: %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &none) != 0)
		say("warning: no core dumps: %s", strerror(errno));
	if (geteuid() == 0) {
		struct rlimit lift = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};

		(void)setrlimit(RLIMIT_MEMLOCK, &lift); /* needs CAP_SYS_RESOURCE; fine if not */
	}
	unlimited = getrlimit(RLIMIT_MEMLOCK, &memlock) == 0 && memlock.rlim_cur == RLIM_INFINITY;
	/* MCL_FUTURE under a limited RLIMIT_MEMLOCK would make later allocations fail */
	/* MCL_ONFAULT: a page is locked when it is first touched, not all of every mapping at
	 * once, so what is never used (most of each shared library, most of each thread's stack)
	 * is not made resident; what is used (the PIN, keys in transit, requests) never reaches
	 * swap all the same. Kernels before 4.4 do not know it: then every page is locked. */
	if (unlimited || (geteuid() == 0 && !will_drop)) {
		if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0 &&
		    mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
			say("warning: mlockall: %s", strerror(errno));
	} else if (geteuid() == 0) {
		if (mlockall(MCL_CURRENT | MCL_ONFAULT) != 0 && mlockall(MCL_CURRENT) != 0)
			say("warning: mlockall: %s", strerror(errno));
		say("warning: RLIMIT_MEMLOCK is limited: memory allocated after start-up is not "
		    "locked (the PIN still is: it lives in locked pages of its own)");
	} else {
		say("warning: memory not locked: RLIMIT_MEMLOCK is limited (systemd: "
		    "LimitMEMLOCK=infinity); the PIN still lives in locked pages of its own");
	}
}

/* Becomes pw (looked up once, before the TLS files were read as root). */
static int drop_privileges(const char *user, const struct passwd *pw)
{
	if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 ||
	    setuid(pw->pw_uid) != 0) {
		say("cannot become user '%s': %s", user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		say("dropping to '%s' did not stick", user);
		return -1;
	}
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) /* setuid resets it */
		say("warning: PR_SET_DUMPABLE: %s", strerror(errno));
	say("running as %s (uid %u)", user, (unsigned)pw->pw_uid);
	return 0;
}

static void reload(const char *config_path, struct signer *signer, struct api_server *api)
{
	struct signer_config cfg;
	struct tls_material *tls;
	int r;

	sd_notify(0, "RELOADING=1\nSTATUS=reloading the policy and the TLS files");
	r = signer_config_load(config_path, &cfg);
	if (r != SG_OK) {
		say("reload: keeping the policy and TLS in force: %s", sg_errmsg(r));
		goto out;
	}
	r = signer_policy_reload(signer, cfg.policy.path);
	if (r != SG_OK)
		say("reload: keeping the policy in force: %s", sg_errmsg(r));
	else
		say("reload: policy %s loaded", cfg.policy.path);
	r = tls_material_load(&cfg, &tls);
	if (r != SG_OK) {
		say("reload: keeping the TLS files in force: %s", sg_errmsg(r));
	} else {
		api_set_tls(api, tls);
		say("reload: TLS certificate, key and client CAs loaded");
	}
	signer_config_free(&cfg);
out:
	sd_notify(0, "READY=1\nSTATUS=serving");
}

static const char usage_text[] =
	"usage: signerd [--config FILE]\n"
	"       signerd -h | --help | --version\n"
	"--config defaults to $SIGNER_CONFIG, then " SIGNER_CONFIG_DEFAULT_PATH ".\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{.name = "config", .has_arg = required_argument, .val = 'c'},
		{.name = "help", .has_arg = no_argument, .val = 'h'},
		{.name = "version", .has_arg = no_argument, .val = 'V'},
		{0},
	};
	const char *config_arg = NULL, *config_path;
	struct signer_config cfg;
	struct tls_material *tls = NULL;
	struct signer *signer = NULL;
	struct api_server *api = NULL;
	struct ops_server *ops = NULL;
	struct passwd run_as = {0}; /* user: of the config, when started as root */
	sigset_t signals;
	int c, r, rc = 1;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_arg = optarg;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		case 'V':
			printf("signerd %s\n", SIGNER_VERSION);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fputs(usage_text, stderr);
		return 2;
	}
	/* the signals are taken by the main thread only: block them before any thread starts */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN); /* a file-size limit makes writes fail, not the process die */

	config_path = signer_config_path(config_arg);
	r = signer_config_load(config_path, &cfg);
	if (r == SG_OK)
		r = signer_config_apply_env(&cfg);
	if (r != SG_OK) {
		say("%s", sg_errmsg(r));
		return 1;
	}
	harden_process(cfg.user != NULL);
	metrics_init();
	if (geteuid() == 0 && cfg.user != NULL) {
		/* the user signerd is about to become, looked up once: its files are its own */
		const struct passwd *found = getpwnam(cfg.user);

		if (found == NULL) {
			say("user '%s' (from the config's user:) does not exist", cfg.user);
			goto out;
		}
		run_as = (struct passwd){.pw_name = strdup(found->pw_name),
					 .pw_uid = found->pw_uid,
					 .pw_gid = found->pw_gid};
		if (run_as.pw_name == NULL) {
			say("out of memory");
			goto out;
		}
		file_trust_owner(run_as.pw_uid);
	}
	/* the TLS key is read before privileges go, so that it may stay root-only */
	r = tls_material_load(&cfg, &tls);
	if (r != SG_OK) {
		say("%s", sg_errmsg(r));
		goto out;
	}
	if (geteuid() == 0) {
		if (cfg.user != NULL) {
			if (drop_privileges(cfg.user, &run_as) != 0)
				goto out;
		} else {
			say("warning: running as root; set user: in %s to drop privileges",
			    config_path);
		}
	}
	r = signer_open_with(&cfg, SIGNER_OPEN_DAEMON, &signer);
	if (r != SG_OK) {
		say("%s", sg_errmsg(r));
		goto out;
	}
	r = api_start(&cfg, signer, tls, &api);
	if (r != SG_OK) {
		say("%s", sg_errmsg(r));
		goto out;
	}
	tls = NULL; /* the server owns it now */
	r = ops_start(&cfg, signer, api, &ops);
	if (r != SG_OK) {
		say("%s", sg_errmsg(r));
		goto out;
	}
	{
		struct signer_audit_state as;

		signer_audit_state(signer, &as);
		say("audit log: %llu records, anchored at %llu; %llu replayed in %.3f s (%s)",
		    (unsigned long long)as.head_seq, (unsigned long long)as.anchor_seq,
		    (unsigned long long)as.recovered_records, as.recovery_seconds,
		    as.recovered_from_checkpoint ? "from the checkpoint"
						 : "the last 7 days, no checkpoint");
	}
	say("serving the API on %s:%u (mTLS) and ops on %s:%u, %u workers", cfg.api.host,
	    cfg.api.port, cfg.ops.host, cfg.ops.port, cfg.workers);
	sd_notify(0, "READY=1\nSTATUS=serving");

	for (;;) {
		/* between signals, a few times a second: refusal summaries, the anchor, checkpoints
		 */
		struct timespec tick = {0, 250 * 1000 * 1000};
		int sig = sigtimedwait(&signals, NULL, &tick);

		if (sig < 0) {
			signer_tick(signer);
			continue;
		}
		if (sig == SIGHUP) {
			reload(config_path, signer, api);
			continue;
		}
		break;
	}
	/* SIGTERM: stop accepting, let what is in flight finish (and be audited), then go */
	sd_notify(0, "STOPPING=1\nSTATUS=draining");
	api_quiesce(api);
	for (int i = 0; i < DRAIN_SECONDS * 10 && api_inflight(api) > 0; i++) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (api_inflight(api) > 0)
		say("%u requests still in flight after %d s; stopping anyway", api_inflight(api),
		    DRAIN_SECONDS);
	say("stopped");
	rc = 0;
out:
	ops_stop(ops);
	api_stop(api);
	tls_material_free(tls);
	signer_close(signer);
	signer_config_free(&cfg);
	free(run_as.pw_name);
	return rc;
}
