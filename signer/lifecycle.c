/* Key lifecycle through the signer: each change made in the token's catalogue (the keystore
 * makes every step crash-safe), then written to the audit log as a "key_lifecycle" record. A
 * change found made already (the command run again after a crash) is finished and recorded. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/fault.h"
#include "signer/keyinfo.h"
#include "signer_internal.h"

static const char *const action_names[] = {
	[SIGNER_KEY_CREATE] = "create",         [SIGNER_KEY_ROTATE] = "rotate",
	[SIGNER_KEY_ACTIVATE] = "activate",     [SIGNER_KEY_SUSPEND] = "suspend",
	[SIGNER_KEY_RESUME] = "resume",         [SIGNER_KEY_DEACTIVATE] = "deactivate",
	[SIGNER_KEY_COMPROMISE] = "compromise", [SIGNER_KEY_DESTROY] = "destroy",
};

const char *signer_key_action_name(enum signer_key_action action)
{
	return action >= SIGNER_KEY_CREATE && action <= SIGNER_KEY_DESTROY ? action_names[action]
									   : "unknown";
}

/* The state a set-state action moves to. */
static bool action_state(enum signer_key_action action, enum ks_state *state)
{
	switch (action) {
	case SIGNER_KEY_SUSPEND:
		*state = KS_STATE_SUSPENDED;
		return true;
	case SIGNER_KEY_RESUME:
		*state = KS_STATE_ACTIVE;
		return true;
	case SIGNER_KEY_DEACTIVATE:
		*state = KS_STATE_DEACTIVATED;
		return true;
	case SIGNER_KEY_COMPROMISE:
		*state = KS_STATE_COMPROMISED;
		return true;
	case SIGNER_KEY_DESTROY:
		*state = KS_STATE_DESTROYED;
		return true;
	default:
		return false;
	}
}

static int key_change_locked(struct signer *s, const struct signer_key_change *c,
			     json_t **key_json);

/* The change in the token; key: the version it leaves changed. */
static int key_change_token(struct signer *s, const struct signer_key_change *c, struct ks_key *key,
			    uint32_t *was, bool *private_present)
{
	enum ks_chain chain;
	enum ks_state state;
	int r;

	*was = 0;
	*private_present = true;
	switch (c->action) {
	case SIGNER_KEY_CREATE:
		if (c->chain == NULL || (r = ks_chain_parse(c->chain, &chain)) != SG_OK)
			return c->chain == NULL ? sg_fail(SG_ERR_INVALID_ARGUMENT, "no chain") : r;
		if (c->make == NULL)
			return ks_key_generate(s->ks, c->name, chain, key);
		/* backed up first, then active: version 1 signs only once its backup is
		 * durable */
		if ((r = c->make(c->backup_ctx, s->ks, c, key)) != SG_OK ||
		    (r = ks_key_activate(s->ks, c->name, key->version, was)) != SG_OK)
			return r;
		return ks_key_get(s->ks, c->name, key->version, key);
	case SIGNER_KEY_ROTATE:
		if (c->make != NULL)
			return c->make(c->backup_ctx, s->ks, c, key);
		return ks_key_rotate(s->ks, c->name, key);
	case SIGNER_KEY_ACTIVATE:
		if (c->backup_check != NULL &&
		    (r = c->backup_check(c->backup_ctx, s->ks, c->name, c->version)) != SG_OK)
			return r;
		if ((r = ks_key_activate(s->ks, c->name, c->version, was)) != SG_OK)
			return r;
		return ks_key_get(s->ks, c->name, c->version, key);
	default:
		if (!action_state(c->action, &state))
			return sg_fail(SG_ERR_INVALID_ARGUMENT, "unknown key action %d",
				       (int)c->action);
		if ((r = ks_key_set_state(s->ks, c->name, c->version, state)) != SG_OK ||
		    (r = ks_key_get(s->ks, c->name, c->version, key)) != SG_OK)
			return r;
		/* destroyed: proved by asking the token, not by trusting the call */
		if (state == KS_STATE_DESTROYED &&
		    (r = ks_key_private_present(s->ks, c->name, c->version, private_present)) ==
			    SG_OK &&
		    *private_present)
			r = sg_fail(SG_ERR_INTERNAL,
				    "key '%s' version %u: the token still holds its private key",
				    c->name, c->version);
		return r;
	}
}

bool signer_reason_valid(const char *reason)
{
	size_t n = strlen(reason);

	if (n == 0 || n > SIGNER_REASON_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)reason[i] < 0x20 || reason[i] == 0x7f)
			return false;
	return true;
}

int signer_record_event(struct signer *s, const char *event, json_t *fields, char *audit_id)
{
	char id[AUDIT_ID_LEN + 1];
	int r;

	if (fields == NULL)
		return sg_fail(SG_ERR_NOMEM, "the %s record", event);
	if (s->flags & SIGNER_OPEN_READONLY) {
		json_decref(fields);
		return sg_fail(SG_ERR_STATE, "the signer was opened read-only");
	}
	json_object_set_new(fields, "event", json_string(event));
	r = audit_append(s->audit, fields, id);
	json_decref(fields);
	if (r == SG_OK && audit_id != NULL)
		memcpy(audit_id, id, sizeof(id));
	return r;
}

struct keystore *signer_keystore(struct signer *s)
{
	return s->ks;
}

int signer_lifecycle_lock(struct signer *s)
{
	char path[4096];

	if (s->lifecycle_depth > 0) {
		s->lifecycle_depth++;
		return SG_OK;
	}
	if (snprintf(path, sizeof(path), "%s.lifecycle.lock", s->audit_path) >= (int)sizeof(path))
		return sg_fail(SG_ERR_OVERFLOW, "the audit path is too long");
	s->lifecycle_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (s->lifecycle_fd < 0)
		return sg_fail(SG_ERR_IO, "the lifecycle lock %s: %s", path, strerror(errno));
	while (flock(s->lifecycle_fd, LOCK_EX) != 0) {
		if (errno != EINTR) {
			int r = sg_fail(SG_ERR_IO, "the lifecycle lock %s: %s", path,
					strerror(errno));

			close(s->lifecycle_fd);
			s->lifecycle_fd = -1;
			return r;
		}
	}
	s->lifecycle_depth = 1;
	return SG_OK;
}

void signer_lifecycle_unlock(struct signer *s)
{
	if (s->lifecycle_depth == 0 || --s->lifecycle_depth > 0)
		return;
	close(s->lifecycle_fd); /* and with it the flock */
	s->lifecycle_fd = -1;
}

int signer_key_change(struct signer *s, const struct signer_key_change *c, json_t **key_json)
{
	int r = signer_lifecycle_lock(s);

	*key_json = NULL;
	if (r != SG_OK)
		return r;
	r = key_change_locked(s, c, key_json);
	signer_lifecycle_unlock(s);
	return r;
}

static int key_change_locked(struct signer *s, const struct signer_key_change *c, json_t **key_json)
{
	struct ks_key key;
	char audit_id[AUDIT_ID_LEN + 1];
	uint32_t was = 0;
	bool private_present = true;
	json_t *rec;
	int r;

	*key_json = NULL;
	if (s->flags & SIGNER_OPEN_READONLY)
		return sg_fail(SG_ERR_STATE, "the signer was opened read-only");
	/* checked before the token changes: a reason the audit record cannot hold would leave the
	 * change made and unrecorded */
	if (c->reason != NULL && !signer_reason_valid(c->reason))
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "a reason is 1 to %d characters, none of them a control character",
			       SIGNER_REASON_MAX);
	if ((r = key_change_token(s, c, &key, &was, &private_present)) != SG_OK)
		return r;
	SG_FAULT("lifecycle.before_audit");
	/* the record of the change: who, what, from which version to which state */
	rec = json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s}", "event", "key_lifecycle", "action",
			signer_key_action_name(c->action), "client",
			c->by != NULL ? c->by : "local", "key", key.name, "key_version",
			(json_int_t)key.version, "state", ks_state_name(key.state), "chain",
			ks_chain_name(key.chain));
	if (rec == NULL)
		return sg_fail(SG_ERR_NOMEM, "the lifecycle record");
	if (was != 0)
		json_object_set_new(rec, "deactivated_version", json_integer((json_int_t)was));
	if (c->reason != NULL)
		json_object_set_new(rec, "reason", json_string(c->reason));
	if (c->action == SIGNER_KEY_DESTROY)
		json_object_set_new(rec, "private_key_present", json_boolean(private_present));
	if (c->ceremony != NULL)
		json_object_set_new(rec, "ceremony", json_deep_copy(c->ceremony));
	r = audit_append(s->audit, rec, audit_id);
	json_decref(rec);
	if (r != SG_OK)
		return sg_context(r,
				  "key '%s' version %u is %s in the token, but its audit record "
				  "could not be written; run the command again to record it",
				  key.name, key.version, ks_state_name(key.state));
	*key_json = signer_key_json(&key);
	if (*key_json == NULL)
		return sg_fail(SG_ERR_NOMEM, "the KEY of '%s'", key.name);
	json_object_set_new(*key_json, "audit_id", json_string(audit_id));
	return SG_OK;
}

int signer_key_versions_json(struct signer *s, const char *name, json_t **out)
{
	struct ks_key *keys = NULL;
	size_t n = 0;
	json_t *list = json_array();
	int r = ks_key_list(s->ks, &keys, &n);

	*out = NULL;
	if (r != SG_OK || list == NULL) {
		json_decref(list);
		return r != SG_OK ? r : sg_fail(SG_ERR_NOMEM, "versions");
	}
	for (size_t i = 0; i < n; i++) {
		json_t *k;

		if (strcmp(keys[i].name, name) != 0)
			continue;
		k = signer_key_json(&keys[i]);
		if (k == NULL || json_array_append_new(list, k) != 0) {
			r = sg_fail(SG_ERR_NOMEM, "versions of '%s'", name);
			break;
		}
	}
	free(keys);
	if (r == SG_OK && json_array_size(list) == 0)
		r = sg_fail(SG_ERR_NOT_FOUND, "no key named '%s'", name);
	if (r != SG_OK) {
		json_decref(list);
		return r;
	}
	*out = json_pack("{s:o}", "versions", list);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "versions") : SG_OK;
}

int signer_key_version_json(struct signer *s, const char *name, uint32_t version, json_t **out)
{
	struct ks_key key;
	int r = ks_key_get(s->ks, name, version, &key);

	*out = NULL;
	if (r != SG_OK)
		return r;
	*out = signer_key_json(&key);
	return *out == NULL ? sg_fail(SG_ERR_NOMEM, "the KEY of '%s'", name) : SG_OK;
}

_Static_assert(SIGNER_KEY_VERSION_MAX == KS_VERSION_MAX, "the API's bound is the keystore's");

/* The token's name of a plan's mark: "ceremony-" and its id. */
static int ceremony_mark_name(const char *id, char out[KS_STATE_NAME_MAX + 1])
{
	if (id == NULL || strlen(id) != 32 || strspn(id, "0123456789abcdef") != 32)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a plan id is 32 hex digits");
	snprintf(out, KS_STATE_NAME_MAX + 1, "ceremony-%s", id);
	return SG_OK;
}

int signer_ceremony_done(struct signer *s, const char *id, bool *done)
{
	char name[KS_STATE_NAME_MAX + 1];
	struct ks_blob *values = NULL;
	size_t n = 0;
	int r;

	*done = false;
	if ((r = ceremony_mark_name(id, name)) != SG_OK ||
	    (r = ks_state_get(s->ks, name, &values, &n)) != SG_OK)
		return r;
	*done = n > 0;
	ks_blobs_free(values, n);
	return SG_OK;
}

int signer_ceremony_mark(struct signer *s, const char *id, const char *plan_sha256)
{
	char name[KS_STATE_NAME_MAX + 1];
	int r = ceremony_mark_name(id, name);

	if (r != SG_OK)
		return r;
	return ks_state_put(s->ks, name, (const uint8_t *)plan_sha256, strlen(plan_sha256));
}
