/* Fuzz target: the config loader (signer_config_load), on YAML an operator wrote. A refusal says
 * where and why and leaves nothing allocated; the same file loaded twice gives the same config;
 * an accepted one holds what the loader promises (config.h): paths resolved to absolute ones,
 * names and fingerprints in their alphabets, counts within their arrays, quorums reachable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void describe(const struct signer_config *c, struct text *t)
{
	put(t, "token.module", c->token.module);
	put(t, "token.label", c->token.label);
	put_path(t, "token.pin_file", c->token.pin_file);
	put_path(t, "token.so_pin_file", c->token.so_pin_file);
	if (c->token.n_env > SIGNER_CONFIG_ENV_MAX || c->workers == 0)
		abort();
	for (size_t i = 0; i < c->token.n_env; i++) {
		if (c->token.env[i].name == NULL || c->token.env[i].name[0] == '\0' ||
		    strchr(c->token.env[i].name, '=') != NULL || c->token.env[i].value == NULL)
			abort();
		put(t, c->token.env[i].name, c->token.env[i].value);
	}
	put_u(t, "workers", c->workers);
	put(t, "api.host", c->api.host);
	put_u(t, "api.port", c->api.port);
	put(t, "ops.host", c->ops.host);
	put_u(t, "ops.port", c->ops.port);
	if (c->api.port > 65535 || c->ops.port > 65535)
		abort();
	put_path(t, "audit.path", c->audit.path);
	put_u(t, "audit.segment_max_bytes", c->audit.segment_max_bytes);
	put_u(t, "audit.keep_segments", c->audit.keep_segments);
	put_path(t, "policy.path", c->policy.path);
	put_path(t, "tls.cert", c->tls.cert);
	put_path(t, "tls.key", c->tls.key);
	put_path(t, "tls.client_ca", c->tls.client_ca);
	put_path(t, "tls.crl", c->tls.crl);
	put(t, "user", c->user);
	put_u(t, "ceremonies.present", c->ceremonies.present);
	put_path(t, "ceremonies.gnupg_home", c->ceremonies.gnupg_home);
	if (c->ceremonies.n_custodians > SIGNER_CUSTODIANS_MAX ||
	    c->ceremonies.n_quorum > SIGNER_QUORUMS_MAX)
		abort();
	for (size_t i = 0; i < c->ceremonies.n_custodians; i++) {
		const struct signer_config_custodian *k = &c->ceremonies.custodians[i];

		if (k->name == NULL || k->name[0] == '\0' || strlen(k->fingerprint) != 40 ||
		    strspn(k->fingerprint, "0123456789ABCDEF") != 40)
			abort();
		put(t, k->name, k->fingerprint);
	}
	put_u(t, "ceremonies.quorum_default", c->ceremonies.quorum_default);
	for (size_t i = 0; i < c->ceremonies.n_quorum; i++) {
		/* a quorum is of custodians the config names: never one nobody can reach */
		if (!signer_ceremony_action_known(c->ceremonies.quorum[i].action) ||
		    c->ceremonies.quorum[i].quorum == 0 ||
		    c->ceremonies.quorum[i].quorum > c->ceremonies.n_custodians)
			abort();
		put_u(t, c->ceremonies.quorum[i].action, c->ceremonies.quorum[i].quorum);
	}
	if (c->ceremonies.present && (c->ceremonies.quorum_default == 0 ||
				      c->ceremonies.quorum_default > c->ceremonies.n_custodians))
		abort();
	put_u(t, "backup.present", c->backup.present);
	if (c->backup.n_targets > SIGNER_BACKUP_TARGETS_MAX)
		abort();
	for (size_t i = 0; i < c->backup.n_targets; i++) {
		const struct signer_config_target *g = &c->backup.targets[i];

		/* a directory or a bucket, never both, never neither */
		if (!name_ok(g->name, 63) || (g->dir == NULL) == (g->s3.endpoint == NULL))
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
	}
	if (c->backup.present &&
	    (c->backup.min_targets == 0 || c->backup.min_targets > c->backup.n_targets))
		abort();
	put_u(t, "backup.min_targets", c->backup.min_targets);
	put_u(t, "backup.share_threshold", c->backup.share_threshold);
	put_u(t, "limits.max_connections", c->limits.max_connections);
	put_u(t, "limits.max_connections_per_ip", c->limits.max_connections_per_ip);
	put_u(t, "limits.timeout_seconds", c->limits.timeout_seconds);
	put_u(t, "limits.handshake_timeout_seconds", c->limits.handshake_timeout_seconds);
	put_u(t, "limits.max_handshakes", c->limits.max_handshakes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct signer_config a, b;
	struct text ta = {0}, tb = {0};
	char msg_a[512];
	const char *path;
	int r1, r2;

	unsetenv("CREDENTIALS_DIRECTORY");
	path = fuzz_file("signerd.yaml", data, size);
	r1 = signer_config_load(path, &a);
	snprintf(msg_a, sizeof(msg_a), "%s", r1 != SG_OK ? sg_errmsg(r1) : "");
	r2 = signer_config_load(path, &b);
	if (r1 != r2 || (r1 != SG_OK && strcmp(msg_a, sg_errmsg(r2)) != 0))
		abort();
	if (r1 != SG_OK) {
		/* the operator's to mend, said in a sentence (LeakSanitizer checks nothing stayed)
		 */
		if (msg_a[0] == '\0')
			abort();
		return 0;
	}
	describe(&a, &ta);
	describe(&b, &tb);
	if (ta.len != tb.len || memcmp(ta.buf, tb.buf, ta.len) != 0)
		abort();
	free(ta.buf);
	free(tb.buf);
	signer_config_free(&a);
	signer_config_free(&b);
	return 0;
}
