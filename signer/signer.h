/* The one door: signer_sign(request) -> response. Parse, decide, sign, verify. Everything that
 * signs (signerctl now, signerd next) goes through it, and nothing else reaches the keys.
 *
 * Sign only what was inspected: the payload is decoded strictly, the bytes that were decoded are
 * the bytes hashed and signed, and every signature is verified against the key before it is
 * returned. */
#ifndef SIGNER_SIGNER_SIGNER_H
#define SIGNER_SIGNER_SIGNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/jsonw.h"

#include "common/err.h"
#include "signer/config.h"

struct keystore;
struct ks_key;

enum signer_payload {
	SIGNER_PAYLOAD_SOLANA_MESSAGE = 1, /* the serialised message, legacy or v0 */
	SIGNER_PAYLOAD_EVM_TRANSACTION,    /* the unsigned transaction */
	SIGNER_PAYLOAD_EVM_MESSAGE,        /* bytes, signed as EIP-191 personal_sign */
	SIGNER_PAYLOAD_EVM_TYPED_DATA,     /* EIP-712 typed data as JSON text */
};

/* What a TLS peer's certificate names: its first SAN URI (or NULL) and its CN (or NULL, and
 * NULL whenever there is a SAN URI), each with its length, and the SHA-256 of its key. */
struct signer_peer {
	const char *san_uri;
	size_t san_uri_len;
	const char *cn;
	size_t cn_len;
	const uint8_t *spki_sha256;
};

struct signer_request {
	const char *client; /* the policy's client name; "local" for signerctl; NULL unknown */
	/* a TLS peer (signerd): the door finds its client under the very policy the request is
	 * decided by, and client is ignored */
	const struct signer_peer *identity;
	const char *peer; /* the TLS identity (SAN URI or CN), for the audit; NULL local */
	const char *key;
	const char *operation;
	uint32_t key_version;   /* pinned (API.md: "key_version"); 0: the active version */
	const char *request_id; /* optional: NULL */
	enum signer_payload kind;
	const uint8_t *payload;
	size_t payload_len;
	bool want_view; /* also return the decoded view (signer_result.view) */
	/* a key-sign ceremony's approval of this exact request (plan id, sha256, approvers):
	 * the pinned version may then be in any state but destroyed or compromised, and the
	 * audit record names the ceremony. NULL for every other request. */
	const json_t *ceremony;
};

/* The API's errors. signer/errors.c holds the one table that gives each its HTTP status and
 * its code; nothing else writes a status or a code. */
enum signer_errkind {
	SIGNER_E_INVALID_REQUEST = 1, /* 400 invalid_request: the request is not one */
	SIGNER_E_INVALID_PAYLOAD,     /* 400 invalid_payload: the payload does not decode */
	SIGNER_E_NOT_A_SIGNER,        /* 400 not_a_signer: the key does not sign this message */
	SIGNER_E_WRONG_CHAIN,         /* 400 wrong_chain: the key is of the other chain */
	SIGNER_E_FORBIDDEN,           /* 403 forbidden: no grant */
	SIGNER_E_POLICY_DENIED,       /* 403 policy_denied: a content or spend rule */
	SIGNER_E_NOT_FOUND,           /* 404 not_found: no such path */
	SIGNER_E_KEY_NOT_FOUND,       /* 404 key_not_found */
	SIGNER_E_METHOD_NOT_ALLOWED,  /* 405 method_not_allowed */
	SIGNER_E_KEY_NOT_ACTIVE,      /* 409 key_not_active */
	SIGNER_E_PAYLOAD_TOO_LARGE,   /* 413 payload_too_large */
	SIGNER_E_UNSUPPORTED_MEDIA,   /* 415 unsupported_media_type */
	SIGNER_E_RATE_LIMITED,        /* 429 rate_limited */
	SIGNER_E_INTERNAL,            /* 500 internal: logged with its cause, never told */
	SIGNER_E_UNAVAILABLE,         /* 503 unavailable: the token or the audit log; retry */
	SIGNER_E_COUNT_
};

/* A refusal or failure as the API reports it. */
struct signer_error {
	enum signer_errkind kind;
	int status;           /* HTTP status, from the table */
	const char *code;     /* API error code, from the table: "invalid_payload", ... */
	char message[320];    /* a sentence for a person; for "internal", nothing that leaks */
	char audit_id[33];    /* the refusal's audit record, "" when it could not be written */
	char reason[64];      /* policy_denied: the stable reason code ("evm.value_exceeded") */
	char rule[96];        /* policy_denied: the rule that decided */
	unsigned retry_after; /* 429: seconds until a token is back */
};

/* Fills err (cleared first) as kind says, with a printf-style message (NULL: the kind's own
 * sentence; "internal" always says only "internal error"), and returns cause, the SG_ERR_ code
 * that led here. A 5xx is logged with cause's detail (the PKCS#11 function and its CKR_, say),
 * which the client never sees. */
int signer_error_set(struct signer_error *err, int cause, enum signer_errkind kind, const char *fmt,
		     ...) __attribute__((format(printf, 4, 5)));

struct signer_result {
	/* the sign response of the API: its members, written as they are made (common/jsonw.h;
	 * signer_result_response gives it as a jansson object) */
	struct jsonw response;
	bool has_response;
	json_t *view;          /* what was decoded, as JSON, when the request asked for it */
	uint8_t signature[65]; /* the raw signature: Ed25519 64 bytes, or r || s || recid */
	size_t signature_len;
	char audit_id[33];
};

struct signer;

/* Opens the token, the policy and the audit log (which must reach the token's anchor), and
 * rebuilds the limits from the log. signer_open is the console's (signerctl sign): the log is
 * anchored when it closes. */
SG_MUST_CHECK int signer_open(const struct signer_config *cfg, struct signer **out);
/* signerd: refusals from one peer are summarised in the log (docs/signing.md), signer_tick
 * anchors the log and checkpoints the limits */
#define SIGNER_OPEN_DAEMON 1u
/* explain: nothing is appended or anchored */
#define SIGNER_OPEN_READONLY 2u
SG_MUST_CHECK int signer_open_with(const struct signer_config *cfg, unsigned flags,
				   struct signer **out);
/* Anchors and checkpoints (a clean stop), then closes. */
void signer_close(struct signer *s);

/* signerd calls this a few times a second: refusal summaries whose second is over are written,
 * what other processes appended to the log is read (their spends count), the log's head is
 * anchored in the token at least once a second while records are written, and the limits are
 * checkpointed every minute. */
void signer_tick(struct signer *s);

/* The audit log as the metrics and readiness see it. */
struct signer_audit_state {
	uint64_t head_seq;          /* the last record written */
	uint64_t anchor_seq;        /* the last record anchored in the token */
	uint64_t anchor_failures;   /* anchor writes that failed */
	bool anchor_failing;        /* the last one failed */
	uint64_t recovered_records; /* records replayed at start */
	double recovery_seconds;
	bool recovered_from_checkpoint;
	size_t spend_ledgers, rate_ledgers; /* the limits' ledgers built from the log */
	size_t ledgers_max;                 /* of each kind, for pairs no limit watches */
};
void signer_audit_state(struct signer *s, struct signer_audit_state *out);

/* SG_OK with *result filled (free with signer_result_free), or a code with *err filled. Every
 * request, whatever its outcome, gets an audit record; a signature is returned only once its
 * record is on disk (if the record cannot be written: 503 unavailable, and no signature). */
SG_MUST_CHECK int signer_sign(struct signer *s, const struct signer_request *req,
			      struct signer_result *result, struct signer_error *err);
void signer_result_free(struct signer_result *result);
/* The sign response as a JSON object (new reference; NULL when there is none or out of
 * memory), for who wants a tree rather than the text (signerctl). */
json_t *signer_result_response(const struct signer_result *result);
/* {"error": {"code", "message", "request_id"?, "audit_id"?, "reason"?, "rule"?}} */
json_t *signer_error_json(const struct signer_error *err, const char *request_id);

/* How a request went, for the metrics. */
struct signer_trace {
	char client[64];       /* the client the request was decided as; "" none */
	char chain[8];         /* "solana", "evm", or "" when no key was found */
	const char *status;    /* "signed", "denied", "invalid", "error" */
	double policy_seconds; /* evaluating the policy */
	double hsm_seconds;    /* the token's signing call alone; 0 when it was not reached */
	bool policy_denied;
	char denial_reason[64]; /* "forbidden", or a content rule's reason code */
};

/* signer_sign, also telling how it went. */
SG_MUST_CHECK int signer_sign_traced(struct signer *s, const struct signer_request *req,
				     struct signer_result *result, struct signer_error *err,
				     struct signer_trace *trace);

/* Bumped by every policy reload: connections identified under an older one are identified
 * again. */
uint64_t signer_policy_generation(struct signer *s);
/* Metric label values for what a client sent: the key if a grant lets client use it, the
 * operation if the policy names it anywhere; "other" otherwise. */
void signer_metric_labels(struct signer *s, const char *client, const char *key,
			  const char *operation, const char **key_label,
			  const char **operation_label);

/* The client a TLS peer is, by the policy in force; false when it is none. The SAN URI and the
 * CN are compared as their lengths say. */
bool signer_identify(struct signer *s, const char *san_uri, size_t san_uri_len, const char *cn,
		     size_t cn_len, const uint8_t spki_sha256[32], char *client,
		     size_t client_size);

/* The token: sessions busy and idle, logged in; and its errors by function and CKR_ name. */
void signer_token_state(struct signer *s, unsigned *busy, unsigned *idle, bool *logged_in);
void signer_token_errors(struct signer *s,
			 void (*cb)(const char *function, const char *rv, uint64_t count,
				    void *ctx),
			 void *ctx);
/* SG_OK when the token answers and is logged in (tries to recover it otherwise). */
SG_MUST_CHECK int signer_token_check(struct signer *s);

/* Loads the policy at path and swaps it in; on any error the policy in force stays. */
SG_MUST_CHECK int signer_policy_reload(struct signer *s, const char *path);

/* For readiness and metrics. */
bool signer_audit_writable(struct signer *s);
uint64_t signer_audit_failures(struct signer *s);

/* {"keys": [KEY, ...]}: the current version of every key (client NULL), or of the keys some
 * grant lets client use. */
SG_MUST_CHECK int signer_keys_json(struct signer *s, const char *client, json_t **out);
/* One KEY (for client, when not NULL: only a key a grant lets it use); SG_ERR_NOT_FOUND when
 * there is none. */
SG_MUST_CHECK int signer_key_json_get(struct signer *s, const char *client, const char *name,
				      json_t **out);

/* Audits a sign request refused before it reached signer_sign (malformed JSON, wrong content
 * type, too large, ...): err's status and code decide the record; err->audit_id is filled. */
void signer_record_refusal(struct signer *s, const struct signer_request *req,
			   struct signer_error *err);

/* What the policy would decide for a request, check by check (access, rate limit, key, decode,
 * content, spend limits), without signing or auditing: {"decision": "allow"|"deny",
 * "checks": [{"check", "outcome": "pass"|"deny"|"none", "rule"?, "reason"?, "detail"?}]}. The
 * rate and spend state is this process's, rebuilt from the audit log when it opened. */
SG_MUST_CHECK int signer_explain(struct signer *s, const struct signer_request *req, json_t **out);

/* ---- the key lifecycle (API.md section 4) ---------------------------------------------- */

#define SIGNER_KEY_VERSION_MAX 9999 /* KS_VERSION_MAX */
#define SIGNER_REASON_MAX      256  /* a lifecycle change's reason, in its audit record */

enum signer_key_action {
	SIGNER_KEY_CREATE = 1, /* version 1 of a new key, active */
	SIGNER_KEY_ROTATE,     /* version N+1, pre-activation: a new address */
	SIGNER_KEY_ACTIVATE,   /* a pre-activation version; the active one is deactivated */
	SIGNER_KEY_SUSPEND,
	SIGNER_KEY_RESUME,
	SIGNER_KEY_DEACTIVATE,
	SIGNER_KEY_COMPROMISE,
	SIGNER_KEY_DESTROY, /* the private key leaves the token; the record stays */
};

struct signer_key_change {
	enum signer_key_action action;
	const char *name;
	const char *chain;      /* create: "solana" or "evm" */
	uint32_t version;       /* activate to destroy */
	const char *reason;     /* optional (compromise): 1 to SIGNER_REASON_MAX, no controls */
	const char *by;         /* who, for the record: "local" (signerctl) when NULL */
	const json_t *ceremony; /* a ceremony's plan id, sha256 and approvers; NULL: none */
	/* With backups (docs/backup.md), set by signerctl: create and rotate make the new
	 * version with make (in pre-activation, backed up before it returns; create then
	 * activates it), and activate asks backup_check first (SG_OK: the version's backup is
	 * durable where backup.min_targets says). NULL: none. */
	int (*make)(void *ctx, struct keystore *ks, const struct signer_key_change *c,
		    struct ks_key *key);
	int (*backup_check)(void *ctx, struct keystore *ks, const char *name, uint32_t version);
	void *backup_ctx;
};

/* Makes the change in the token's catalogue, then appends its audit record ("event":
 * "key_lifecycle"). *key: the KEY of the version it changed (create, rotate: the new one), with
 * the record's "audit_id". A change found made already (a rerun after a crash) is finished and
 * recorded. A destroy is proved: the token is asked whether the private key is still there. */
SG_MUST_CHECK int signer_key_change(struct signer *s, const struct signer_key_change *c,
				    json_t **key);
const char *signer_key_action_name(enum signer_key_action action);
/* Whether a change's reason can be recorded: 1 to SIGNER_REASON_MAX, no control characters. */
bool signer_reason_valid(const char *reason);
/* {"versions": [KEY, ...]} of one key, oldest first; SG_ERR_NOT_FOUND when there is none. */
SG_MUST_CHECK int signer_key_versions_json(struct signer *s, const char *name, json_t **out);
/* One version's KEY (version 0: the active one, else the newest). */
SG_MUST_CHECK int signer_key_version_json(struct signer *s, const char *name, uint32_t version,
					  json_t **out);

/* Appends an audit record {"event": event, ...fields} (fields taken): what a backup or restore
 * ceremony did. audit_id may be NULL. */
SG_MUST_CHECK int signer_record_event(struct signer *s, const char *event, json_t *fields,
				      char *audit_id);

/* What the last backups left in the token (docs/backup.md, "Metrics"): for each target, when
 * it last took a backup whole (0: never) and how many key versions that are not destroyed it
 * lacks (with their wrapped private key). */
void signer_backup_status(struct signer *s, const char *const *targets, size_t n,
			  void (*cb)(const char *target, int64_t last_success, size_t missing,
				     void *ctx),
			  void *ctx);

/* The token the signer opened (one per process): for signerctl's backups and restores. */
struct keystore *signer_keystore(struct signer *s);

/* Holds the lifecycle lock (a file beside the audit log, flock'd): key changes and ceremony runs
 * of every process on this log go one at a time, so that two runs of one plan cannot both pass
 * its replay check, and two rotations cannot both make version N+1. Nests; signer_key_change
 * takes it itself. */
SG_MUST_CHECK int signer_lifecycle_lock(struct signer *s);
void signer_lifecycle_unlock(struct signer *s);

/* Ceremonies: whether a plan id was carried out already (its mark in the token), and the mark
 * a ceremony leaves once it is (a plan never runs twice: the mark travels with the token). */
SG_MUST_CHECK int signer_ceremony_done(struct signer *s, const char *id, bool *done);
SG_MUST_CHECK int signer_ceremony_mark(struct signer *s, const char *id, const char *plan_sha256);

/* Whether text is a valid key name ([a-z0-9][a-z0-9-]{0,62}). */
bool signer_key_name_valid(const char *text);

/* Payload kinds by their API field name ("solana_message", ...); 0 when unknown. */
enum signer_payload signer_payload_parse(const char *field);
const char *signer_payload_name(enum signer_payload kind);

#endif
