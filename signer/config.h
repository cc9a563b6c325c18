/* signerd.yaml, the one configuration file of signerd and signerctl.
 *
 *   token:
 *     module: /usr/lib/softhsm/libsofthsm2.so   # the PKCS#11 module (this is the default)
 *     label: signerd-dev                        # the token, found by label
 *     pin_file: pin                             # owner-only file; relative to this file
 *     pin_credential: token-pin                 # or: a systemd credential of that name
 *     so_pin_file: so-pin                       # the SO PIN: only the backup ceremonies
 *     environment:                              # set before the module loads (not secrets;
 *       SOFTHSM2_CONF: /var/lib/signerd/softhsm2.conf   # values are taken as written)
 *   workers: 2                                  # worker threads, and token sessions
 *   api:
 *     listen: 127.0.0.1:8443                    # the mTLS signing API (host:port, [v6]:port)
 *   ops:
 *     listen: 127.0.0.1:9810                    # health, readiness and metrics (plain HTTP)
 *   audit:
 *     path: audit.log                           # the hash-chained audit log (required to sign)
 *     segment_max_bytes: 67108864               # rotate into audit.log.<first seq> at this size
 *     keep_segments: 100                        # optional: rotated segments kept (default all)
 *   policy:
 *     path: policy.yaml                         # clients and grants (required to sign)
 *   tls:                                        # the API listener (signerd)
 *     cert: pki/server.pem                      # server certificate chain
 *     key: pki/server.key                       # its private key (owner-only)
 *     client_ca: pki/client-ca.pem              # client certificates must chain to these
 *     crl: pki/client-ca.crl                    # optional: revoked client certificates
 *   user: signerd                               # started as root: run as this user
 *   backup:                                     # docs/backup.md
 *     targets:                                  # one per region; each gets every backup
 *       - {name: eu-west, s3: {endpoint: "https://...", region: eu-west-1, bucket: b,
 *          prefix: prod/, credentials_file: s3-eu.ini, profile: default, ca_file: ca.pem}}
 *       - {name: offline, dir: /mnt/signerd-backup}
 *     min_targets: 2                            # durable in this many before activation
 *     share_threshold: 2                        # shares that rebuild the backup key
 *   limits:
 *     max_connections: 256
 *     max_connections_per_ip: 64
 *     timeout_seconds: 15                       # a connection idle this long is closed
 *     handshake_timeout_seconds: 5              # from accept to the first request's headers
 *     max_handshakes: 128                       # at once; past that the oldest is shut down
 *
 * Relative paths are relative to the directory of the config file. Unknown fields are errors,
 * reported as FILE:LINE: message. */
#ifndef SIGNER_SIGNER_CONFIG_H
#define SIGNER_SIGNER_CONFIG_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define SIGNER_CONFIG_DEFAULT_PATH "/etc/signerd/signerd.yaml"
#define SIGNER_CONFIG_ENV_MAX      16

struct signer_config_env {
	char *name;
	char *value;
};

#define SIGNER_CUSTODIANS_MAX     16
#define SIGNER_BACKUP_TARGETS_MAX 8
#define SIGNER_QUORUMS_MAX        16

/* A custodian of the ceremonies: a name and the OpenPGP primary-key fingerprint pinned to it. */
struct signer_config_custodian {
	char *name;
	char fingerprint[41]; /* 40 hex digits, upper case */
};

/* A backup target (backup.targets[]): a directory, or an S3 bucket (s3.endpoint set). */
struct signer_config_target {
	char *name; /* [a-z0-9-], 1 to 63 */
	char *dir;  /* absolute */
	struct {
		char *endpoint, *region, *bucket, *prefix, *credentials_file, *profile, *ca_file;
	} s3;
};

struct signer_config_listen {
	char *host; /* "127.0.0.1", "::1" (without brackets) */
	unsigned port;
};

struct signer_config {
	char *path;
	struct {
		char *module;
		char *label;
		char *pin_file; /* resolved: pin_file, or $CREDENTIALS_DIRECTORY/pin_credential */
		char *so_pin_file; /* the SO PIN (owner-only): the backup ceremonies need it */
		struct signer_config_env env[SIGNER_CONFIG_ENV_MAX];
		size_t n_env;
	} token;
	unsigned workers;
	struct signer_config_listen api;
	struct signer_config_listen ops;
	struct {
		char *path;
		uint64_t segment_max_bytes;
		unsigned keep_segments; /* 0: all */
	} audit;
	struct {
		char *path;
	} policy;
	struct {
		char *cert;
		char *key;
		char *client_ca;
		char *crl; /* NULL: none */
	} tls;
	char *user; /* NULL: stay as started */
	struct {
		bool present;     /* ceremonies: configured: lifecycle changes need one */
		char *gnupg_home; /* the custodians' public keys */
		struct signer_config_custodian custodians[SIGNER_CUSTODIANS_MAX];
		size_t n_custodians;
		unsigned quorum_default;
		struct {
			char *action; /* "key-compromise", ... */
			unsigned quorum;
		} quorum[SIGNER_QUORUMS_MAX];
		size_t n_quorum;
	} ceremonies;
	struct {
		bool present; /* backup: configured: new versions are backed up before activation */
		struct signer_config_target targets[SIGNER_BACKUP_TARGETS_MAX];
		size_t n_targets;
		unsigned min_targets;     /* a backup must be durable in this many */
		unsigned share_threshold; /* shares that rebuild the backup key */
	} backup;
	struct {
		unsigned max_connections;
		unsigned max_connections_per_ip;
		unsigned timeout_seconds;
		unsigned handshake_timeout_seconds;
		unsigned max_handshakes; /* in the handshake at once (default max_connections/4) */
	} limits;
};

/* The path to use: the --config argument, else $SIGNER_CONFIG, else the default. */
const char *signer_config_path(const char *arg);
SG_MUST_CHECK int signer_config_load(const char *path, struct signer_config *cfg);
/* As signer_config_load, but the token's PIN is read from pin_file (a path as given, not relative
 * to the config) instead of the config's pin_file or pin_credential, which are still checked; a
 * pin_credential then needs no $CREDENTIALS_DIRECTORY. For one command of an operator
 * (signerctl --pin-file); NULL: as the config says. */
SG_MUST_CHECK int signer_config_load_pin(const char *path, const char *pin_file,
					 struct signer_config *cfg);
void signer_config_free(struct signer_config *cfg);
/* The quorum an action needs (ceremonies.quorum: its own, else the default). */
unsigned signer_config_quorum(const struct signer_config *cfg, const char *action);
/* Whether action is a ceremony's action ("key-rotate", ...). */
bool signer_ceremony_action_known(const char *action);
/* Exports token.environment into this process's environment (before the module loads). */
SG_MUST_CHECK int signer_config_apply_env(const struct signer_config *cfg);

#endif
