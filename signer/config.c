#include "signer/config.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/names.h"
#include "common/yamldoc.h"
#include "config_internal.h"

#ifndef SIGNER_DEFAULT_PKCS11_MODULE
#define SIGNER_DEFAULT_PKCS11_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define SIGNER_WORKERS_MAX 256

const char *signer_config_path(const char *arg)
{
	const char *env = getenv("SIGNER_CONFIG");

	if (arg != NULL && arg[0] != '\0')
		return arg;
	if (env != NULL && env[0] != '\0')
		return env;
	return SIGNER_CONFIG_DEFAULT_PATH;
}

/* A path from the file, made absolute against the config file's directory. */
int config_path_resolve(const char *cfg_path, const char *value, char **out)
{
	char *copy, *dir;
	int n;

	if (value[0] == '/') {
		*out = strdup(value);
		return *out == NULL ? sg_fail(SG_ERR_NOMEM, "config") : SG_OK;
	}
	copy = strdup(cfg_path);
	if (copy == NULL)
		return sg_fail(SG_ERR_NOMEM, "config");
	dir = dirname(copy);
	n = asprintf(out, "%s/%s", dir, value);
	free(copy);
	if (n < 0) {
		*out = NULL;
		return sg_fail(SG_ERR_NOMEM, "config");
	}
	return SG_OK;
}

int config_string(struct ydoc *d, yaml_node_t *map, const char *key, const char *what,
		  bool required, char **out)
{
	yaml_node_t *node = ydoc_map_get(d, map, key);
	const char *text;
	int r;

	if (node == NULL) {
		if (required)
			return ydoc_fail(d, map, "%s is missing", what);
		return SG_OK;
	}
	if ((r = ydoc_scalar(d, node, what, &text)) != SG_OK)
		return r;
	if (text[0] == '\0')
		return ydoc_fail(d, node, "%s is empty", what);
	*out = strdup(text);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "config") : SG_OK;
}

static int config_token_env(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	yaml_node_pair_t *p;

	if (node->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, node, "token.environment must be a mapping of NAME: value");
	for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, p->value);
		const char *name, *value;
		struct signer_config_env *e;
		int r;

		if ((r = ydoc_scalar(d, k, "an environment name", &name)) != SG_OK ||
		    (r = ydoc_scalar(d, v, "an environment value", &value)) != SG_OK)
			return r;
		if (name[0] == '\0' || strchr(name, '=') != NULL)
			return ydoc_fail(d, k, "'%s' is not an environment variable name", name);
		for (size_t i = 0; i < cfg->token.n_env; i++)
			if (strcmp(cfg->token.env[i].name, name) == 0)
				return ydoc_fail(d, k, "'%s' appears twice in token.environment",
						 name);
		if (cfg->token.n_env == SIGNER_CONFIG_ENV_MAX)
			return ydoc_fail(d, k, "token.environment has more than %d entries",
					 SIGNER_CONFIG_ENV_MAX);
		e = &cfg->token.env[cfg->token.n_env++];
		e->name = strdup(name);
		if (e->name == NULL)
			return sg_fail(SG_ERR_NOMEM, "config");
		e->value = strdup(value); /* as written: give paths absolute */
		r = e->value == NULL ? sg_fail(SG_ERR_NOMEM, "config") : SG_OK;
		if (r != SG_OK)
			return r;
	}
	return SG_OK;
}

/* pin_override: a PIN file given for one command (signerctl --pin-file), used instead of the
 * config's pin_file or pin_credential; those are still checked, but a credential then needs no
 * $CREDENTIALS_DIRECTORY. */
static int config_token(struct ydoc *d, yaml_node_t *node, const char *pin_override,
			struct signer_config *cfg)
{
	static const char *const fields[] = {
		"module",      "label",       "pin_file", "pin_credential",
		"environment", "so_pin_file", NULL};
	char *module = NULL, *pin_file = NULL, *pin_credential = NULL, *so_pin_file = NULL;
	yaml_node_t *env;
	const char *creds;
	int r;

	if ((r = ydoc_expect_map(d, node, "token", fields)) != SG_OK)
		return r;
	if ((r = config_string(d, node, "module", "token.module", false, &module)) != SG_OK ||
	    (r = config_string(d, node, "label", "token.label", true, &cfg->token.label)) !=
		    SG_OK ||
	    (r = config_string(d, node, "pin_file", "token.pin_file", false, &pin_file)) != SG_OK ||
	    (r = config_string(d, node, "pin_credential", "token.pin_credential", false,
			       &pin_credential)) != SG_OK ||
	    (r = config_string(d, node, "so_pin_file", "token.so_pin_file", false, &so_pin_file)) !=
		    SG_OK)
		goto out;
	if (so_pin_file != NULL &&
	    (r = config_path_resolve(cfg->path, so_pin_file, &cfg->token.so_pin_file)) != SG_OK)
		goto out;
	if (strlen(cfg->token.label) > 32) {
		r = ydoc_fail(d, ydoc_map_get(d, node, "label"),
			      "token.label is longer than 32 bytes");
		goto out;
	}
	r = config_path_resolve(cfg->path, module != NULL ? module : SIGNER_DEFAULT_PKCS11_MODULE,
				&cfg->token.module);
	if (r != SG_OK)
		goto out;
	if ((pin_file == NULL) == (pin_credential == NULL)) {
		r = ydoc_fail(d, node, "token needs exactly one of pin_file and pin_credential");
		goto out;
	}
	if (pin_credential != NULL && strchr(pin_credential, '/') != NULL) {
		r = ydoc_fail(d, ydoc_map_get(d, node, "pin_credential"),
			      "token.pin_credential is a credential name, not a path");
		goto out;
	}
	if (pin_override != NULL) {
		cfg->token.pin_file = strdup(pin_override);
		if (cfg->token.pin_file == NULL)
			r = sg_fail(SG_ERR_NOMEM, "config");
	} else if (pin_file != NULL) {
		r = config_path_resolve(cfg->path, pin_file, &cfg->token.pin_file);
	} else {
		/* systemd's LoadCredential= puts the file in $CREDENTIALS_DIRECTORY */
		creds = getenv("CREDENTIALS_DIRECTORY");
		if (creds == NULL || creds[0] != '/') {
			r = ydoc_fail(
				d, ydoc_map_get(d, node, "pin_credential"),
				"token.pin_credential needs $CREDENTIALS_DIRECTORY (run under "
				"systemd with LoadCredential=)");
			goto out;
		}
		if (asprintf(&cfg->token.pin_file, "%s/%s", creds, pin_credential) < 0) {
			cfg->token.pin_file = NULL;
			r = sg_fail(SG_ERR_NOMEM, "config");
		}
	}
	if (r != SG_OK)
		goto out;
	env = ydoc_map_get(d, node, "environment");
	if (env != NULL)
		r = config_token_env(d, env, cfg);
out:
	free(module);
	free(pin_file);
	free(pin_credential);
	free(so_pin_file);
	return r;
}

/* "host:port" or "[v6-host]:port". */
static int config_listen(struct ydoc *d, yaml_node_t *root, const char *section,
			 const char *default_addr, struct signer_config_listen *out)
{
	static const char *const fields[] = {"listen", NULL};
	yaml_node_t *node = ydoc_map_get(d, root, section), *value = NULL;
	const char *text = default_addr, *colon, *host;
	size_t host_len;
	char *end;
	unsigned long port;
	int r;

	if (node != NULL) {
		if ((r = ydoc_expect_map(d, node, section, fields)) != SG_OK)
			return r;
		value = ydoc_map_get(d, node, "listen");
		if (value != NULL && (r = ydoc_scalar(d, value, "listen", &text)) != SG_OK)
			return r;
	}
	colon = strrchr(text, ':');
	host = text;
	host_len = colon == NULL ? 0 : (size_t)(colon - text);
	if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
		host++;
		host_len -= 2;
	} else if (colon != NULL && memchr(text, ':', host_len) != NULL) {
		host_len = 0; /* a bare IPv6 address needs brackets */
	}
	if (colon == NULL || host_len == 0 || colon[1] == '\0')
		return ydoc_fail(d, value != NULL ? value : root,
				 "%s.listen must be host:port or [ipv6]:port, not '%s'", section,
				 text);
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || port == 0 || port > 65535 || colon[1] < '0' ||
	    colon[1] > '9')
		return ydoc_fail(d, value != NULL ? value : root,
				 "%s.listen has port '%s'; a port is 1 to 65535", section,
				 colon + 1);
	out->host = strndup(host, host_len);
	out->port = (unsigned)port;
	return out->host == NULL ? sg_fail(SG_ERR_NOMEM, "config") : SG_OK;
}

/* A section of one field, path: {section: {path: FILE}}, resolved against the config's dir. */
static int config_section_path(struct ydoc *d, yaml_node_t *root, const char *section, char **out,
			       const char *cfg_path)
{
	static const char *const fields[] = {"path", NULL};
	yaml_node_t *node = ydoc_map_get(d, root, section);
	char what[32], *value = NULL;
	int r;

	if (node == NULL)
		return SG_OK;
	snprintf(what, sizeof(what), "%s.path", section);
	if ((r = ydoc_expect_map(d, node, section, fields)) != SG_OK ||
	    (r = config_string(d, node, "path", what, true, &value)) != SG_OK)
		return r;
	r = config_path_resolve(cfg_path, value, out);
	free(value);
	return r;
}

/* audit: {path, segment_max_bytes, keep_segments} */
static int config_audit(struct ydoc *d, yaml_node_t *root, struct signer_config *cfg)
{
	static const char *const fields[] = {"path", "segment_max_bytes", "keep_segments", NULL};
	yaml_node_t *node = ydoc_map_get(d, root, "audit"), *v;
	char *value = NULL;
	uint64_t n;
	int r;

	cfg->audit.segment_max_bytes = 64ULL * 1024 * 1024;
	if (node == NULL)
		return SG_OK;
	if ((r = ydoc_expect_map(d, node, "audit", fields)) != SG_OK ||
	    (r = config_string(d, node, "path", "audit.path", true, &value)) != SG_OK)
		return r;
	r = config_path_resolve(cfg->path, value, &cfg->audit.path);
	free(value);
	if (r != SG_OK)
		return r;
	if ((v = ydoc_map_get(d, node, "segment_max_bytes")) != NULL) {
		if ((r = ydoc_uint(d, v, "audit.segment_max_bytes", 4096, 1ULL << 40, &n)) != SG_OK)
			return r;
		cfg->audit.segment_max_bytes = n;
	}
	if ((v = ydoc_map_get(d, node, "keep_segments")) != NULL) {
		if ((r = ydoc_uint(d, v, "audit.keep_segments", 1, 1000000, &n)) != SG_OK)
			return r;
		cfg->audit.keep_segments = (unsigned)n;
	}
	return SG_OK;
}

static int config_file_field(struct ydoc *d, yaml_node_t *map, const char *key, const char *what,
			     bool required, const char *cfg_path, char **out)
{
	char *value = NULL;
	int r = config_string(d, map, key, what, required, &value);

	if (r != SG_OK || value == NULL)
		return r;
	r = config_path_resolve(cfg_path, value, out);
	free(value);
	return r;
}

static int config_tls(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	static const char *const fields[] = {"cert", "key", "client_ca", "crl", NULL};
	int r;

	if (node == NULL)
		return SG_OK;
	if ((r = ydoc_expect_map(d, node, "tls", fields)) != SG_OK ||
	    (r = config_file_field(d, node, "cert", "tls.cert", true, cfg->path, &cfg->tls.cert)) !=
		    SG_OK ||
	    (r = config_file_field(d, node, "key", "tls.key", true, cfg->path, &cfg->tls.key)) !=
		    SG_OK ||
	    (r = config_file_field(d, node, "client_ca", "tls.client_ca", true, cfg->path,
				   &cfg->tls.client_ca)) != SG_OK ||
	    (r = config_file_field(d, node, "crl", "tls.crl", false, cfg->path, &cfg->tls.crl)) !=
		    SG_OK)
		return r;
	return SG_OK;
}

static int config_limits(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	static const char *const fields[] = {"max_connections", "max_connections_per_ip",
					     "timeout_seconds", "handshake_timeout_seconds",
					     "max_handshakes",  NULL};
	static const struct {
		const char *name;
		uint64_t min, max, def;
	} spec[] = {{.name = "max_connections", .min = 1, .max = 65536, .def = 256},
		    {.name = "max_connections_per_ip", .min = 1, .max = 65536, .def = 64},
		    {.name = "timeout_seconds", .min = 1, .max = 3600, .def = 15},
		    {.name = "handshake_timeout_seconds", .min = 1, .max = 60, .def = 5},
		    {.name = "max_handshakes", .min = 1, .max = 65536, .def = 0}};
	unsigned *slots[] = {&cfg->limits.max_connections, &cfg->limits.max_connections_per_ip,
			     &cfg->limits.timeout_seconds, &cfg->limits.handshake_timeout_seconds,
			     &cfg->limits.max_handshakes};
	int r;

	if (node != NULL && (r = ydoc_expect_map(d, node, "limits", fields)) != SG_OK)
		return r;
	for (size_t i = 0; i < sizeof(slots) / sizeof(slots[0]); i++) {
		yaml_node_t *v = node == NULL ? NULL : ydoc_map_get(d, node, spec[i].name);
		uint64_t value = spec[i].def;
		char what[48];

		snprintf(what, sizeof(what), "limits.%s", spec[i].name);
		if (v != NULL &&
		    (r = ydoc_uint(d, v, what, spec[i].min, spec[i].max, &value)) != SG_OK)
			return r;
		*slots[i] = (unsigned)value;
	}
	/* a quarter of the connections may be in the handshake at once, unless said otherwise */
	if (cfg->limits.max_handshakes == 0)
		cfg->limits.max_handshakes =
			cfg->limits.max_connections >= 4 ? cfg->limits.max_connections / 4 : 1;
	return SG_OK;
}

static const char *const ceremony_actions[] = {"key-create",        "key-rotate",  "key-activate",
					       "key-suspend",       "key-resume",  "key-deactivate",
					       "key-compromise",    "key-destroy", "key-sign",
					       "backup-key-create", "restore",     NULL};

bool signer_ceremony_action_known(const char *action)
{
	for (size_t i = 0; ceremony_actions[i] != NULL; i++)
		if (strcmp(ceremony_actions[i], action) == 0)
			return true;
	return false;
}

unsigned signer_config_quorum(const struct signer_config *cfg, const char *action)
{
	for (size_t i = 0; i < cfg->ceremonies.n_quorum; i++)
		if (strcmp(cfg->ceremonies.quorum[i].action, action) == 0)
			return cfg->ceremonies.quorum[i].quorum;
	return cfg->ceremonies.quorum_default;
}

/* custodians: {NAME: FINGERPRINT, ...} */
static int config_custodians(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	yaml_node_pair_t *p;

	if (node == NULL || node->type != YAML_MAPPING_NODE ||
	    node->data.mapping.pairs.start == node->data.mapping.pairs.top)
		return ydoc_fail(d, node,
				 "ceremonies.custodians must map each custodian's name to "
				 "an OpenPGP primary-key fingerprint");
	for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, p->value);
		struct signer_config_custodian *c;
		const char *name, *fpr;
		size_t n = 0;
		int r;

		if ((r = ydoc_scalar(d, k, "a custodian's name", &name)) != SG_OK ||
		    (r = ydoc_scalar(d, v, "a fingerprint", &fpr)) != SG_OK)
			return r;
		if (!name_valid(name))
			return ydoc_fail(d, k,
					 "custodian '%.64s' must be named with a-z, 0-9 and '-'",
					 name);
		if (cfg->ceremonies.n_custodians == SIGNER_CUSTODIANS_MAX)
			return ydoc_fail(d, k, "more than %d custodians", SIGNER_CUSTODIANS_MAX);
		c = &cfg->ceremonies.custodians[cfg->ceremonies.n_custodians];
		/* 40 hex digits; spaces as gpg prints them are allowed */
		for (const char *q = fpr; *q != '\0' && n <= 40; q++) {
			if (*q == ' ')
				continue;
			if (!isxdigit((unsigned char)*q) || n == 40) {
				n = 41; /* not one */
				break;
			}
			c->fingerprint[n++] = (char)toupper((unsigned char)*q);
		}
		if (n != 40)
			return ydoc_fail(d, v,
					 "custodian %s: '%.60s' is not a 40-hex-digit OpenPGP "
					 "fingerprint (a v4 primary key's)",
					 name, fpr);
		c->fingerprint[40] = '\0';
		for (size_t i = 0; i < cfg->ceremonies.n_custodians; i++)
			if (strcmp(cfg->ceremonies.custodians[i].name, name) == 0 ||
			    strcmp(cfg->ceremonies.custodians[i].fingerprint, c->fingerprint) == 0)
				return ydoc_fail(d, k,
						 "custodian %s: the name or the key is another "
						 "custodian's already (each custodian counts once)",
						 name);
		if ((c->name = strdup(name)) == NULL)
			return sg_fail(SG_ERR_NOMEM, "config");
		cfg->ceremonies.n_custodians++;
	}
	return SG_OK;
}

/* quorum: {default: N, ACTION: N, ...}, each 1 to the number of custodians */
static int config_quorum(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	yaml_node_pair_t *p;
	bool have_default = false;

	if (node == NULL || node->type != YAML_MAPPING_NODE)
		return ydoc_fail(d, node,
				 "ceremonies.quorum must be a mapping: {default: N, "
				 "key-compromise: N, ...}");
	for (p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&d->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&d->doc, p->value);
		const char *action;
		uint64_t n;
		int r;

		if ((r = ydoc_scalar(d, k, "an action", &action)) != SG_OK)
			return r;
		if (strcmp(action, "default") != 0 && !signer_ceremony_action_known(action))
			return ydoc_fail(d, k, "'%.64s' is not a ceremony action", action);
		for (size_t i = 0; i < cfg->ceremonies.n_quorum; i++)
			if (strcmp(cfg->ceremonies.quorum[i].action, action) == 0)
				return ydoc_fail(d, k, "the quorum of %s is given twice", action);
		if (strcmp(action, "default") == 0 && have_default)
			return ydoc_fail(d, k, "the default quorum is given twice");
		/* at most the number of custodians: "from 1 to N" says so, at FILE:LINE */
		if ((r = ydoc_uint(d, v, "a quorum", 1, cfg->ceremonies.n_custodians, &n)) != SG_OK)
			return r;
		if (strcmp(action, "default") == 0) {
			cfg->ceremonies.quorum_default = (unsigned)n;
			have_default = true;
			continue;
		}
		if (cfg->ceremonies.n_quorum == SIGNER_QUORUMS_MAX)
			return ydoc_fail(d, k, "more than %d quorums", SIGNER_QUORUMS_MAX);
		cfg->ceremonies.quorum[cfg->ceremonies.n_quorum].quorum = (unsigned)n;
		if ((cfg->ceremonies.quorum[cfg->ceremonies.n_quorum++].action = strdup(action)) ==
		    NULL)
			return sg_fail(SG_ERR_NOMEM, "config");
	}
	if (!have_default)
		return ydoc_fail(d, node, "ceremonies.quorum needs a default");
	return SG_OK;
}

/* ceremonies: {gnupg_home, custodians, quorum} */
static int config_ceremonies(struct ydoc *d, yaml_node_t *node, struct signer_config *cfg)
{
	static const char *const fields[] = {"gnupg_home", "custodians", "quorum", NULL};
	char *home = NULL;
	int r;

	if (node == NULL)
		return SG_OK;
	if ((r = ydoc_expect_map(d, node, "ceremonies", fields)) != SG_OK ||
	    (r = config_string(d, node, "gnupg_home", "ceremonies.gnupg_home", true, &home)) !=
		    SG_OK)
		return r;
	r = config_path_resolve(cfg->path, home, &cfg->ceremonies.gnupg_home);
	free(home);
	if (r != SG_OK ||
	    (r = config_custodians(d, ydoc_map_get(d, node, "custodians"), cfg)) != SG_OK ||
	    (r = config_quorum(d, ydoc_map_get(d, node, "quorum"), cfg)) != SG_OK)
		return r;
	cfg->ceremonies.present = true;
	return SG_OK;
}

int signer_config_load(const char *path, struct signer_config *cfg)
{
	return signer_config_load_pin(path, NULL, cfg);
}

int signer_config_load_pin(const char *path, const char *pin_file, struct signer_config *cfg)
{
	static const char *const fields[] = {"token", "workers",    "api",    "ops",
					     "audit", "policy",     "tls",    "limits",
					     "user",  "ceremonies", "backup", NULL};
	struct ydoc d;
	yaml_node_t *root, *node;
	uint64_t workers = 2;
	int r;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = strdup(path);
	if (cfg->path == NULL)
		return sg_fail(SG_ERR_NOMEM, "config");
	r = ydoc_load_file(path, "config file", &d);
	if (r != SG_OK) {
		free(cfg->path);
		cfg->path = NULL;
		return r == SG_ERR_NOT_FOUND ? sg_context(r, "config file") : r;
	}
	root = ydoc_root(&d);
	if ((r = ydoc_expect_map(&d, root, "the configuration", fields)) != SG_OK)
		goto out;
	node = ydoc_map_get(&d, root, "token");
	if (node == NULL) {
		r = ydoc_fail(&d, root, "the token section is missing");
		goto out;
	}
	if ((r = config_token(&d, node, pin_file, cfg)) != SG_OK)
		goto out;
	node = ydoc_map_get(&d, root, "workers");
	if (node != NULL &&
	    (r = ydoc_uint(&d, node, "workers", 1, SIGNER_WORKERS_MAX, &workers)) != SG_OK)
		goto out;
	cfg->workers = (unsigned)workers;
	if ((r = config_listen(&d, root, "api", "127.0.0.1:8443", &cfg->api)) != SG_OK ||
	    (r = config_listen(&d, root, "ops", "127.0.0.1:9810", &cfg->ops)) != SG_OK)
		goto out;
	if ((r = config_audit(&d, root, cfg)) != SG_OK ||
	    (r = config_section_path(&d, root, "policy", &cfg->policy.path, cfg->path)) != SG_OK ||
	    (r = config_tls(&d, ydoc_map_get(&d, root, "tls"), cfg)) != SG_OK ||
	    (r = config_limits(&d, ydoc_map_get(&d, root, "limits"), cfg)) != SG_OK ||
	    (r = config_string(&d, root, "user", "user", false, &cfg->user)) != SG_OK ||
	    (r = config_ceremonies(&d, ydoc_map_get(&d, root, "ceremonies"), cfg)) != SG_OK ||
	    (r = config_backup(&d, ydoc_map_get(&d, root, "backup"), cfg)) != SG_OK)
		goto out;
out:
	ydoc_free(&d);
	if (r != SG_OK)
		signer_config_free(cfg);
	return r;
}

void signer_config_free(struct signer_config *cfg)
{
	free(cfg->path);
	free(cfg->token.module);
	free(cfg->token.label);
	free(cfg->token.pin_file);
	free(cfg->api.host);
	free(cfg->audit.path);
	free(cfg->policy.path);
	free(cfg->tls.cert);
	free(cfg->tls.key);
	free(cfg->tls.client_ca);
	free(cfg->tls.crl);
	free(cfg->user);
	free(cfg->ops.host);
	free(cfg->token.so_pin_file);
	config_backup_free(cfg);
	free(cfg->ceremonies.gnupg_home);
	for (size_t i = 0; i < cfg->ceremonies.n_custodians; i++)
		free(cfg->ceremonies.custodians[i].name);
	for (size_t i = 0; i < cfg->ceremonies.n_quorum; i++)
		free(cfg->ceremonies.quorum[i].action);
	for (size_t i = 0; i < cfg->token.n_env; i++) {
		free(cfg->token.env[i].name);
		free(cfg->token.env[i].value);
	}
	memset(cfg, 0, sizeof(*cfg));
}

int signer_config_apply_env(const struct signer_config *cfg)
{
	for (size_t i = 0; i < cfg->token.n_env; i++) {
		if (setenv(cfg->token.env[i].name, cfg->token.env[i].value, 1) != 0)
			return sg_fail(SG_ERR_INTERNAL, "setenv %s: %s", cfg->token.env[i].name,
				       strerror(errno));
	}
	return SG_OK;
}
