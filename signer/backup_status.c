/* The backups' status for the metrics (signer_backup_status, docs/backup.md "Metrics"): each
 * backup signerctl writes leaves in the token, per target that took it whole, its time and the
 * key versions it holds with their wrapped keys (state "backup-status", written by
 * backup/bundle.c); the versions a target lacks are the catalogue's (not destroyed) minus
 * those. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "signer_internal.h"

void signer_backup_status(struct signer *s, const char *const *targets, size_t n,
			  void (*cb)(const char *target, int64_t last_success, size_t missing,
				     void *ctx),
			  void *ctx)
{
	struct ks_blob *v = NULL;
	struct ks_key *keys = NULL;
	size_t nv = 0, nk = 0;
	json_t *status = NULL;

	if (ks_key_list(s->ks, &keys, &nk) != SG_OK)
		nk = 0;
	if (ks_state_get(s->ks, "backup-status", &v, &nv) == SG_OK && nv > 0)
		status = json_loadb((const char *)v[0].data, v[0].len, 0, NULL);
	ks_blobs_free(v, nv);
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_object_get(json_object_get(status, "targets"), targets[i]);
		json_t *have = json_object_get(t, "versions");
		size_t missing = 0;

		for (size_t k = 0; k < nk; k++) {
			char id[96];
			bool held = false;
			size_t j;
			json_t *e;

			if (keys[k].state == KS_STATE_DESTROYED)
				continue;
			snprintf(id, sizeof(id), "%s/%u", keys[k].name, keys[k].version);
			json_array_foreach (have, j, e)
				if (json_is_string(e) && strcmp(json_string_value(e), id) == 0)
					held = true;
			missing += !held;
		}
		cb(targets[i], json_integer_value(json_object_get(t, "at")), missing, ctx);
	}
	json_decref(status);
	free(keys);
}
