/* Fuzz target: the config loader (signer_config_load), on YAML an operator wrote. A refusal says
 * where and why (FILE:LINE: message) and leaves nothing allocated; the same file loaded twice
 * gives the same config; an accepted one holds what the loader promises (config.h): paths
 * resolved to absolute ones, names and fingerprints in their alphabets, numbers within their
 * ranges, counts within their arrays, quorums reachable. A PIN file given for one command
 * (signer_config_load_pin) changes where the PIN comes from and nothing else. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_file.h"
#include "signer/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Everything the config holds, written out, so that two loads compare as text. */
struct text {
	char *buf;
	size_t len, cap;
};

static void put(struct text *t, const char *what, const char *v)
{
	size_t need = strlen(what) + (v != NULL ? strlen(v) : 6) + 3;

	if (t->len + need > t->cap) {
		t->cap = (t->len + need) * 2;
		t->buf = realloc(t->buf, t->cap);
		if (t->buf == NULL)
			abort();
	}
	t->len += (size_t)snprintf(t->buf + t->len, t->cap - t->len, "%s=%s\n", what,
				   v != NULL ? v : "(null)");
}

static void put_u(struct text *t, const char *what, uint64_t v)
{
	char n[24];

	snprintf(n, sizeof(n), "%llu", (unsigned long long)v);
	put(t, what, n);
}

/* A path the loader resolved: absolute (relative ones are made so against the config's
 * directory). */
static void put_path(struct text *t, const char *what, const char *v)
{
	if (v != NULL && v[0] != '/')
		abort();
	put(t, what, v);
}

static bool name_ok(const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;

	return n >= 1 && n <= max && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

static void in_range(uint64_t v, uint64_t min, uint64_t max)
{
	if (v < min || v > max)
		abort();
}

/* Set, then not empty: the loader refuses an empty value rather than keep one. */
static void nonempty(const char *s)
{
	if (s == NULL || s[0] == '\0')
		abort();
}

static void describe_ceremonies(const struct signer_config *c, struct text *t)
{
	static const char *const actions[] = {"key-create",        "key-rotate",  "key-activate",
					      "key-suspend",       "key-resume",  "key-deactivate",
					      "key-compromise",    "key-destroy", "key-sign",
					      "backup-key-create", "restore"};

	put_u(t, "ceremonies.present", c->ceremonies.present);
	if (!c->ceremonies.present) {
		/* no section, nothing of one */
		if (c->ceremonies.gnupg_home != NULL || c->ceremonies.n_custodians != 0 ||
		    c->ceremonies.n_quorum != 0 || c->ceremonies.quorum_default != 0)
			abort();
		return;
	}
	put_path(t, "ceremonies.gnupg_home", c->ceremonies.gnupg_home);
	nonempty(c->ceremonies.gnupg_home);
	in_range(c->ceremonies.n_custodians, 1, SIGNER_CUSTODIANS_MAX);
	in_range(c->ceremonies.n_quorum, 0, SIGNER_QUORUMS_MAX);
	for (size_t i = 0; i < c->ceremonies.n_custodians; i++) {
		const struct signer_config_custodian *k = &c->ceremonies.custodians[i];

		if (!name_ok(k->name, 63) || strlen(k->fingerprint) != 40 ||
		    strspn(k->fingerprint, "0123456789ABCDEF") != 40)
			abort();
		/* each custodian counts once: by name and by key */
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->ceremonies.custodians[j].name, k->name) == 0 ||
			    strcmp(c->ceremonies.custodians[j].fingerprint, k->fingerprint) == 0)
				abort();
		put(t, k->name, k->fingerprint);
	}
	/* a quorum is of custodians the config names: never one nobody can reach */
	put_u(t, "ceremonies.quorum_default", c->ceremonies.quorum_default);
	in_range(c->ceremonies.quorum_default, 1, c->ceremonies.n_custodians);
	for (size_t i = 0; i < c->ceremonies.n_quorum; i++) {
		if (c->ceremonies.quorum[i].action == NULL ||
		    !signer_ceremony_action_known(c->ceremonies.quorum[i].action))
			abort();
		in_range(c->ceremonies.quorum[i].quorum, 1, c->ceremonies.n_custodians);
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->ceremonies.quorum[j].action,
				   c->ceremonies.quorum[i].action) == 0)
				abort();
		put_u(t, c->ceremonies.quorum[i].action, c->ceremonies.quorum[i].quorum);
	}
	/* whatever an action's quorum, its own or the default, the custodians can reach it */
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
		if (signer_ceremony_action_known(actions[i]))
			in_range(signer_config_quorum(c, actions[i]), 1,
				 c->ceremonies.n_custodians);
}

static void describe_backup(const struct signer_config *c, struct text *t)
{
	put_u(t, "backup.present", c->backup.present);
	if (!c->backup.present) {
		if (c->backup.n_targets != 0 || c->backup.min_targets != 0 ||
		    c->backup.share_threshold != 0)
			abort();
		return;
	}
	in_range(c->backup.n_targets, 1, SIGNER_BACKUP_TARGETS_MAX);
	/* durable in at least one target, and never in more than there are */
	in_range(c->backup.min_targets, 1, c->backup.n_targets);
	/* a threshold of one would make every share the key */
	in_range(c->backup.share_threshold, 2, 16);
	put_u(t, "backup.min_targets", c->backup.min_targets);
	put_u(t, "backup.share_threshold", c->backup.share_threshold);
	for (size_t i = 0; i < c->backup.n_targets; i++) {
		const struct signer_config_target *g = &c->backup.targets[i];
		size_t n;

		/* a directory or a bucket, never both, never neither */
		if (!name_ok(g->name, 63) || (g->dir == NULL) == (g->s3.endpoint == NULL))
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->backup.targets[j].name, g->name) == 0)
				abort();
		put(t, "target", g->name);
		put_path(t, "target.dir", g->dir);
		put(t, "target.s3.endpoint", g->s3.endpoint);
		put(t, "target.s3.region", g->s3.region);
		put(t, "target.s3.bucket", g->s3.bucket);
		put(t, "target.s3.prefix", g->s3.prefix);
		put_path(t, "target.s3.credentials_file", g->s3.credentials_file);
		put(t, "target.s3.profile", g->s3.profile);
		put_path(t, "target.s3.ca_file", g->s3.ca_file);
		if (g->s3.endpoint == NULL) {
			if (g->s3.region != NULL || g->s3.bucket != NULL || g->s3.prefix != NULL ||
			    g->s3.credentials_file != NULL || g->s3.profile != NULL ||
			    g->s3.ca_file != NULL)
				abort();
			continue;
		}
		if (strncmp(g->s3.endpoint, "https://", 8) != 0 &&
		    strncmp(g->s3.endpoint, "http://", 7) != 0)
			abort();
		nonempty(g->s3.region);
		nonempty(g->s3.bucket);
		nonempty(g->s3.credentials_file);
		if (g->s3.profile != NULL)
			nonempty(g->s3.profile);
		/* a prefix is a "directory" of the bucket: "a/b/", never "/a" */
		n = g->s3.prefix != NULL ? strlen(g->s3.prefix) : 0;
		if (g->s3.prefix != NULL &&
		    (n == 0 || g->s3.prefix[n - 1] != '/' || g->s3.prefix[0] == '/'))
			abort();
	}
}

static void describe_listen(struct text *t, const char *what, const struct signer_config_listen *l)
{
	char port[16];

	nonempty(l->host);
	in_range(l->port, 1, 65535);
	snprintf(port, sizeof(port), "%u", l->port);
	put(t, what, l->host);
	put(t, what, port);
}

/* pin_file: what the config's token.pin_file is taken to be (a load with a PIN file of its own
 * compares equal to one without, but for that). */
static void describe(const struct signer_config *c, struct text *t, const char *pin_file)
{
	put_path(t, "path", c->path);
	put_path(t, "token.module", c->token.module);
	nonempty(c->token.label);
	in_range(strlen(c->token.label), 1, 32); /* CK_TOKEN_INFO's label is 32 bytes */
	put(t, "token.label", c->token.label);
	nonempty(c->token.pin_file);
	put_path(t, "token.pin_file", pin_file);
	put_path(t, "token.so_pin_file", c->token.so_pin_file);
	in_range(c->token.n_env, 0, SIGNER_CONFIG_ENV_MAX);
	for (size_t i = 0; i < c->token.n_env; i++) {
		if (c->token.env[i].name == NULL || c->token.env[i].name[0] == '\0' ||
		    strchr(c->token.env[i].name, '=') != NULL || c->token.env[i].value == NULL)
			abort();
		for (size_t j = 0; j < i; j++)
			if (strcmp(c->token.env[j].name, c->token.env[i].name) == 0)
				abort();
		put(t, c->token.env[i].name, c->token.env[i].value);
	}
	in_range(c->workers, 1, 256);
	put_u(t, "workers", c->workers);
	describe_listen(t, "api", &c->api);
	describe_listen(t, "ops", &c->ops);
	put_path(t, "audit.path", c->audit.path);
	in_range(c->audit.segment_max_bytes, 4096, 1ULL << 40);
	in_range(c->audit.keep_segments, 0, 1000000);
	put_u(t, "audit.segment_max_bytes", c->audit.segment_max_bytes);
	put_u(t, "audit.keep_segments", c->audit.keep_segments);
	put_path(t, "policy.path", c->policy.path);
	/* the API's TLS files come together, the CRL only with them */
	if ((c->tls.cert == NULL) != (c->tls.key == NULL) ||
	    (c->tls.cert == NULL) != (c->tls.client_ca == NULL) ||
	    (c->tls.cert == NULL && c->tls.crl != NULL))
		abort();
	put_path(t, "tls.cert", c->tls.cert);
	put_path(t, "tls.key", c->tls.key);
	put_path(t, "tls.client_ca", c->tls.client_ca);
	put_path(t, "tls.crl", c->tls.crl);
	if (c->user != NULL)
		nonempty(c->user);
	put(t, "user", c->user);
	describe_ceremonies(c, t);
	describe_backup(c, t);
	in_range(c->limits.max_connections, 1, 65536);
	in_range(c->limits.max_connections_per_ip, 1, 65536);
	in_range(c->limits.timeout_seconds, 1, 3600);
	in_range(c->limits.handshake_timeout_seconds, 1, 60);
	in_range(c->limits.max_handshakes, 1, 65536);
	put_u(t, "limits.max_connections", c->limits.max_connections);
	put_u(t, "limits.max_connections_per_ip", c->limits.max_connections_per_ip);
	put_u(t, "limits.timeout_seconds", c->limits.timeout_seconds);
	put_u(t, "limits.handshake_timeout_seconds", c->limits.handshake_timeout_seconds);
	put_u(t, "limits.max_handshakes", c->limits.max_handshakes);
}

/* "FILE:LINE: message", the line counted from 1. */
static bool says_where(const char *msg, const char *path)
{
	size_t n = strlen(path);
	char *end;

	if (strncmp(msg, path, n) != 0 || msg[n] != ':' || !isdigit((unsigned char)msg[n + 1]))
		return false;
	return strtoul(msg + n + 1, &end, 10) >= 1 && end[0] == ':' && end[1] == ' ' &&
	       end[2] != '\0';
}

/* A refused config holds nothing: no pointer to free twice, no count to walk. */
static void check_empty(const struct signer_config *c)
{
	static const struct signer_config zero;

	if (memcmp(c, &zero, sizeof(zero)) != 0)
		abort();
}

static bool same_text(const struct text *x, const struct text *y)
{
	return x->len == y->len && memcmp(x->buf, y->buf, x->len) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* where systemd's LoadCredential= would put the PIN, and a PIN file given for one
	 * command; neither is read by the loader */
	static const char creds[] = "/run/credentials/signerd.service", own_pin[] = "/run/op/pin";
	struct signer_config a, b, c;
	struct text ta = {0}, tb = {0}, tc = {0};
	char msg_a[512];
	const char *path;
	int r1, r2, r3;

	/* the loader refuses a file others may write: make sure this one is not */
	umask(077);
	path = fuzz_file("signerd.yaml", data, size);
	setenv("CREDENTIALS_DIRECTORY", creds, 1);
	/* each failure must say its own words, not a previous one's */
	sg_errclear();
	r1 = signer_config_load(path, &a);
	snprintf(msg_a, sizeof(msg_a), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	sg_errclear();
	r2 = signer_config_load(path, &b);
	if (r1 != r2 || (r1 != SG_OK && strcmp(msg_a, sg_errmsg(r2)) != 0))
		abort();
	/* with a PIN file of its own, a credential needs no $CREDENTIALS_DIRECTORY; the rest of
	 * the file is read and checked as before */
	unsetenv("CREDENTIALS_DIRECTORY");
	sg_errclear();
	r3 = signer_config_load_pin(path, own_pin, &c);
	if (r3 != r1 || (r1 != SG_OK && strcmp(msg_a, sg_errmsg(r3)) != 0))
		abort();
	if (r1 != SG_OK) {
		/* the operator's to mend, said where (LeakSanitizer checks nothing stayed) */
		if (r1 != SG_ERR_CONFIG || !says_where(msg_a, path))
			abort();
		check_empty(&a);
		check_empty(&b);
		check_empty(&c);
		return 0;
	}
	if (strcmp(c.token.pin_file, own_pin) != 0)
		abort();
	describe(&a, &ta, a.token.pin_file);
	describe(&b, &tb, b.token.pin_file);
	describe(&c, &tc, a.token.pin_file);
	if (!same_text(&ta, &tb) || !same_text(&ta, &tc))
		abort();
	free(ta.buf);
	free(tb.buf);
	free(tc.buf);
	signer_config_free(&a);
	signer_config_free(&b);
	signer_config_free(&c);
	check_empty(&a);
	return 0;
}
