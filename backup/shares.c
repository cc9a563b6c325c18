/* The backup key's shares: Shamir's scheme over GF(2^8) with libgfshare's field (x^8 + x^4 +
 * x^3 + x^2 + 1) and layout (share i holds P_j(i) for each key byte j, P_j(0) the key byte),
 * computed in locked memory in constant time; their text lines, the key's record, and a share's
 * way to its custodian (a file read, an OpenPGP message). */
#include "backup/shares.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <gpgme.h>
#include <sodium.h>

#include "common/encoding.h"
#include "common/files.h"
#include "common/timefmt.h"

#define SHARE_PREFIX    "signerd-share-1"
#define SHARE_HEX_LEN   (2 * BACKUP_KEY_LEN)
#define SHARE_LINE_CAP  128 /* the longest line: 15 + 1 + 16 + 1 + 2 + 1 + 3 + 1 + 64 = 104 */
#define SHARE_FILE_MAX  256
#define RECORD_FORMAT   "signerd-backup-key-1"
#define SHARE_LINE_FORM SHARE_PREFIX " <kid> <threshold> <index> <share, 64 hex>"

static const char kid_context[] = "signerd backup key id v1";

/* ---- GF(2^8), libgfshare's field (its tables are built with 0x11d), without tables or branches
 * on the values so that no access pattern depends on a secret */

static uint8_t gf_mul(uint8_t a, uint8_t b)
{
	unsigned x = a, y = b, p = 0;

	for (int i = 0; i < 8; i++) {
		p ^= x & (0U - (y & 1U));
		y >>= 1;
		/* x * X, reduced: when bit 7 was set, bit 8 is cleared by 0x11d's leading term */
		x = (x << 1) ^ (0x11dU & (0U - (x >> 7)));
	}
	return (uint8_t)p;
}

/* a^254 = a^-1 for a != 0 (the multiplicative group has order 255). */
static uint8_t gf_inv(uint8_t a)
{
	uint8_t sq = gf_mul(a, a), r = sq;

	for (int i = 0; i < 6; i++) {
		sq = gf_mul(sq, sq);
		r = gf_mul(r, sq);
	}
	return r;
}

/* ---- the kid */

int backup_kid(const struct backup_secret *key, char kid[BACKUP_KID_LEN + 1])
{
	uint8_t mac[crypto_auth_hmacsha256_BYTES];
	int r;

	kid[0] = '\0';
	if (key == NULL || key->bytes == NULL || key->len != BACKUP_KEY_LEN)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "a backup key is %d bytes", BACKUP_KEY_LEN);
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	crypto_auth_hmacsha256(mac, (const uint8_t *)kid_context, sizeof(kid_context) - 1,
			       key->bytes);
	r = hex_encode(mac, BACKUP_KID_LEN / 2, kid, BACKUP_KID_LEN + 1);
	sodium_memzero(mac, sizeof(mac));
	return r;
}

/* The SHA-256 of a share's 32 bytes, hex. */
static int share_hash(const uint8_t y[BACKUP_KEY_LEN], char hex[65])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, y, BACKUP_KEY_LEN);
	return hex_encode(h, sizeof(h), hex, 65);
}

/* ---- split */

int backup_shares_split(const struct backup_secret *key, unsigned threshold, unsigned n,
			struct backup_secret lines[], struct backup_key_record *rec)
{
	struct backup_secret coef = {0}, y = {0};
	int r;

	memset(rec, 0, sizeof(*rec));
	if (n <= BACKUP_SHARES_MAX)
		for (unsigned s = 0; s < n; s++)
			lines[s] = (struct backup_secret){.bytes = NULL, .len = 0};
	if (n > BACKUP_SHARES_MAX || threshold < 2 || threshold > n)
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "a backup key is split into at most %d shares, of which 2 or more "
			       "rebuild it: %u of %u is not possible",
			       BACKUP_SHARES_MAX, threshold, n);
	if ((r = backup_kid(key, rec->kid)) != SG_OK)
		return r;
	/* byte j's polynomial: P_j(x) = key[j] + c_1[j] x + ... + c_{t-1}[j] x^(t-1), its
	 * coefficients from the CSPRNG, c_k[j] at coef[(k - 1) * 32 + j] */
	if ((r = backup_secret_random((size_t)(threshold - 1) * BACKUP_KEY_LEN, &coef)) != SG_OK ||
	    (r = backup_secret_new(BACKUP_KEY_LEN, &y)) != SG_OK)
		goto out;
	for (unsigned s = 0; s < n && r == SG_OK; s++) {
		uint8_t x = (uint8_t)(s + 1); /* the share's index, libgfshare's sharenr */
		int prefix;

		for (size_t j = 0; j < BACKUP_KEY_LEN; j++) {
			uint8_t acc = 0;

			/* Horner, from the highest coefficient, as libgfshare evaluates */
			for (unsigned k = threshold - 1; k >= 1; k--)
				acc = gf_mul(acc, x) ^ coef.bytes[(k - 1) * BACKUP_KEY_LEN + j];
			y.bytes[j] = gf_mul(acc, x) ^ key->bytes[j];
		}
		if ((r = share_hash(y.bytes, rec->shares[s].sha256)) != SG_OK ||
		    (r = backup_secret_new(SHARE_LINE_CAP, &lines[s])) != SG_OK)
			break;
		/* the public part, then the share's hex written straight into locked memory by a
		 * constant-time encoder */
		prefix = snprintf((char *)lines[s].bytes, SHARE_LINE_CAP, SHARE_PREFIX " %s %u %u ",
				  rec->kid, threshold, (unsigned)x);
		if (prefix < 0 || (size_t)prefix + SHARE_HEX_LEN + 1 > SHARE_LINE_CAP) {
			r = sg_fail(SG_ERR_INTERNAL, "a share line does not fit its buffer");
			break;
		}
		sodium_bin2hex((char *)lines[s].bytes + prefix, SHARE_LINE_CAP - (size_t)prefix,
			       y.bytes, BACKUP_KEY_LEN);
		lines[s].len = (size_t)prefix + SHARE_HEX_LEN;
		rec->shares[s].index = x;
		rec->shares[s].custodian[0] = '\0';
	}
	rec->threshold = threshold;
	rec->n_shares = n;
	rec->created_at = (int64_t)time(NULL);
out:
	backup_secret_free(&coef);
	backup_secret_free(&y);
	if (r != SG_OK) {
		for (unsigned s = 0; s < n; s++)
			backup_secret_free(&lines[s]);
		memset(rec, 0, sizeof(*rec));
	}
	return r;
}

/* ---- a share line */

/* The public part of a share line. */
struct share_head {
	char kid[BACKUP_KID_LEN + 1];
	unsigned threshold;
	unsigned index;
};

/* A lower-case hex digit's value, and bad set when c is none, without a branch on c. */
static uint8_t hex_nibble_ct(uint8_t c, unsigned *bad)
{
	unsigned num = (unsigned)c ^ 0x30U;             /* '0'..'9' -> 0..9 */
	unsigned alpha = ((unsigned)c - 0x61U) & 0xffU; /* 'a'..'f' -> 0..5 */
	unsigned is_num = ((num - 10U) >> 8) & 1U;
	unsigned is_alpha = ((alpha - 6U) >> 8) & 1U;

	*bad |= 1U ^ (is_num | is_alpha);
	return (uint8_t)((num & (0U - is_num)) | ((alpha + 10U) & (0U - is_alpha)));
}

/* n lower-case hex digits (the public kid: branches are fine). */
static bool is_lower_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* A decimal number of 1 to digits digits without a leading zero, from 1 to max, at p[*pos]. */
static bool parse_number(const uint8_t *p, size_t len, size_t *pos, unsigned digits, unsigned max,
			 unsigned *out)
{
	size_t start = *pos;
	unsigned v = 0;

	while (*pos < len && *pos - start < digits && p[*pos] >= '0' && p[*pos] <= '9')
		v = v * 10 + (unsigned)(p[(*pos)++] - '0');
	if (*pos == start || p[start] == '0' || v > max)
		return false;
	*out = v;
	return true;
}

/* Reads the line of share number pos (from 1, for the messages) into head and y (32 bytes of
 * locked memory). Only the public parts are looked at with branches; no message holds any of
 * the line. */
static int share_line_parse(const struct backup_secret *line, size_t pos, struct share_head *head,
			    uint8_t y[BACKUP_KEY_LEN])
{
	const size_t plen = sizeof(SHARE_PREFIX) - 1;
	const uint8_t *p = line->bytes;
	size_t len = line->len, at;
	unsigned bad = 0;
	const char *what;

	if (p == NULL || len == 0)
		return sg_fail(SG_ERR_PERMISSION, "share %zu is empty", pos);
	/* "a trailing newline is allowed": one, written on any system */
	if (p[len - 1] == '\n')
		len--;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	what = "it does not start with " SHARE_PREFIX;
	if (len < plen + 1 || memcmp(p, SHARE_PREFIX, plen) != 0 || p[plen] != ' ')
		goto refuse;
	at = plen + 1;
	what = "its kid is not 16 lower-case hex digits";
	if (len - at < BACKUP_KID_LEN + 1 || !is_lower_hex(p + at, BACKUP_KID_LEN) ||
	    p[at + BACKUP_KID_LEN] != ' ')
		goto refuse;
	memcpy(head->kid, p + at, BACKUP_KID_LEN);
	head->kid[BACKUP_KID_LEN] = '\0';
	at += BACKUP_KID_LEN + 1;
	what = "its threshold is not a number from 2 to 16";
	if (!parse_number(p, len, &at, 2, BACKUP_SHARES_MAX, &head->threshold) ||
	    head->threshold < 2 || at >= len || p[at] != ' ')
		goto refuse;
	at++;
	what = "its index is not a number from 1 to 255";
	if (!parse_number(p, len, &at, 3, 255, &head->index) || at >= len || p[at] != ' ')
		goto refuse;
	at++;
	what = "its share is not 64 lower-case hex digits at the end of the line";
	if (len - at != SHARE_HEX_LEN)
		goto refuse;
	for (size_t j = 0; j < BACKUP_KEY_LEN; j++) {
		uint8_t hi = hex_nibble_ct(p[at + 2 * j], &bad);
		uint8_t lo = hex_nibble_ct(p[at + 2 * j + 1], &bad);

		y[j] = (uint8_t)(hi << 4 | lo);
	}
	if (bad != 0) {
		sodium_memzero(y, BACKUP_KEY_LEN);
		goto refuse;
	}
	return SG_OK;
refuse:
	return sg_fail(SG_ERR_PERMISSION, "share %zu is not a share line (" SHARE_LINE_FORM "): %s",
		       pos, what);
}

/* ---- combine */

int backup_shares_combine(const struct backup_key_record *rec, const struct backup_secret lines[],
			  size_t n_lines, struct backup_secret *key)
{
	/* the accepted shares' x, their y (in work), and their positions among those given */
	uint8_t xs[BACKUP_SHARES_MAX];
	size_t given[BACKUP_SHARES_MAX], k = 0;
	struct backup_secret work = {0};
	char kid[BACKUP_KID_LEN + 1];
	uint8_t *cur;
	int r;

	key->bytes = NULL;
	key->len = 0;
	if (rec == NULL || rec->threshold < 2 || rec->n_shares > BACKUP_SHARES_MAX ||
	    rec->threshold > rec->n_shares)
		return sg_fail(SG_ERR_INVALID_ARGUMENT,
			       "the backup key's record names no usable threshold and shares");
	if ((r = backup_secret_new((BACKUP_SHARES_MAX + 1) * BACKUP_KEY_LEN, &work)) != SG_OK)
		return r;
	cur = work.bytes + BACKUP_SHARES_MAX * BACKUP_KEY_LEN; /* the share being read */
	for (size_t i = 0; i < n_lines; i++) {
		struct share_head head;
		char hash[65];
		size_t m, pos = i + 1;

		if ((r = share_line_parse(&lines[i], pos, &head, cur)) != SG_OK)
			goto out;
		if (strcmp(head.kid, rec->kid) != 0) {
			r = sg_fail(
				SG_ERR_PERMISSION,
				"share %zu is not a share of backup key %s: it belongs to backup "
				"key %s",
				pos, rec->kid, head.kid);
			goto out;
		}
		if (head.threshold != rec->threshold) {
			r = sg_fail(
				SG_ERR_PERMISSION,
				"share %zu says %u shares rebuild backup key %s, but its record "
				"says %u",
				pos, head.threshold, rec->kid, rec->threshold);
			goto out;
		}
		/* Shamir over a wrong share yields a wrong key without an error: only shares whose
		 * hash the record holds go in */
		if ((r = share_hash(cur, hash)) != SG_OK)
			goto out;
		for (m = 0; m < rec->n_shares; m++)
			if (strcmp(rec->shares[m].sha256, hash) == 0)
				break;
		if (m == rec->n_shares) {
			r = sg_fail(SG_ERR_PERMISSION,
				    "share %zu was not made with this backup key (its hash is not "
				    "among the recorded ones)",
				    pos);
			goto out;
		}
		if (rec->shares[m].index != head.index) {
			r = sg_fail(
				SG_ERR_PERMISSION,
				"share %zu is recorded as share %u of backup key %s, but its line "
				"says it is share %u",
				pos, rec->shares[m].index, rec->kid, head.index);
			goto out;
		}
		for (size_t q = 0; q < k; q++)
			if (xs[q] == head.index) {
				r = sg_fail(SG_ERR_PERMISSION,
					    "share %zu and share %zu are the same share", pos,
					    given[q]);
				goto out;
			}
		/* distinct recorded shares: never more than the record's n_shares */
		if (k == BACKUP_SHARES_MAX) {
			r = sg_fail(SG_ERR_INTERNAL, "more distinct shares than a record holds");
			goto out;
		}
		memcpy(work.bytes + k * BACKUP_KEY_LEN, cur, BACKUP_KEY_LEN);
		xs[k] = (uint8_t)head.index;
		given[k] = pos;
		k++;
	}
	if (k < rec->threshold) {
		r = sg_fail(SG_ERR_PERMISSION, "%u shares are needed, %zu given", rec->threshold,
			    n_lines);
		goto out;
	}
	/* Lagrange at 0 over the first threshold shares: key = sum_a y_a * prod_{b != a} x_b /
	 * (x_a + x_b) (in GF(2^8), minus is plus) */
	if ((r = backup_secret_new(BACKUP_KEY_LEN, key)) != SG_OK)
		goto out;
	for (size_t a = 0; a < rec->threshold; a++) {
		uint8_t num = 1, den = 1, l;

		for (size_t b = 0; b < rec->threshold; b++)
			if (b != a) {
				num = gf_mul(num, xs[b]);
				den = gf_mul(den, xs[a] ^ xs[b]);
			}
		l = gf_mul(num, gf_inv(den));
		for (size_t j = 0; j < BACKUP_KEY_LEN; j++)
			key->bytes[j] ^= gf_mul(l, work.bytes[a * BACKUP_KEY_LEN + j]);
	}
	if ((r = backup_kid(key, kid)) != SG_OK)
		goto out;
	if (strcmp(kid, rec->kid) != 0)
		r = sg_fail(SG_ERR_PERMISSION,
			    "the shares rebuild a key that is not backup key %s (it is %s): the "
			    "record's hashes are not of this key's shares",
			    rec->kid, kid);
out:
	backup_secret_free(&work);
	if (r != SG_OK)
		backup_secret_free(key);
	return r;
}

/* ---- the record */

json_t *backup_key_record_json(const struct backup_key_record *rec)
{
	char created[TIME_RFC3339_LEN];
	json_t *doc, *shares;
	int bad = 0;

	if (rec->n_shares > BACKUP_SHARES_MAX) {
		sg_fail(SG_ERR_INVALID_ARGUMENT, "a backup key record holds at most %d shares",
			BACKUP_SHARES_MAX);
		return NULL;
	}
	if (time_format_rfc3339(rec->created_at, created) != SG_OK)
		return NULL;
	doc = json_object();
	shares = json_array();
	if (doc == NULL || shares == NULL) {
		json_decref(doc);
		json_decref(shares);
		sg_fail(SG_ERR_NOMEM, "the backup key record");
		return NULL;
	}
	for (size_t i = 0; i < rec->n_shares; i++) {
		json_t *s = json_object();

		bad |= s == NULL;
		bad |= json_object_set_new(s, "index", json_integer(rec->shares[i].index));
		bad |= json_object_set_new(s, "sha256", json_string(rec->shares[i].sha256));
		bad |= json_object_set_new(s, "custodian", json_string(rec->shares[i].custodian));
		bad |= json_array_append_new(shares, s);
	}
	bad |= json_object_set_new(doc, "format", json_string(RECORD_FORMAT));
	bad |= json_object_set_new(doc, "kid", json_string(rec->kid));
	bad |= json_object_set_new(doc, "threshold", json_integer(rec->threshold));
	bad |= json_object_set_new(doc, "created_at", json_string(created));
	bad |= json_object_set_new(doc, "shares", shares);
	if (bad != 0) {
		json_decref(doc);
		sg_fail(SG_ERR_NOMEM, "the backup key record (or a custodian's name that is not "
				      "UTF-8)");
		return NULL;
	}
	return doc;
}

/* Exactly the given fields, each once (jansson's objects hold a key once). */
static bool json_has_exactly(const json_t *obj, const char *const fields[])
{
	size_t n = 0;

	for (size_t i = 0; fields[i] != NULL; i++) {
		if (json_object_get(obj, fields[i]) == NULL)
			return false;
		n++;
	}
	return json_object_size(obj) == n;
}

/* A string of exactly len lower-case hex digits. */
static bool json_is_hex(const json_t *v, size_t len)
{
	const char *s = json_string_value(v);

	return s != NULL && json_string_length(v) == len && strlen(s) == len &&
	       strspn(s, "0123456789abcdef") == len;
}

/* An integer from lo to hi. */
static bool json_int_in(const json_t *v, json_int_t lo, json_int_t hi, unsigned *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = (unsigned)json_integer_value(v);
	return true;
}

static int record_share_parse(const json_t *s, size_t pos, struct backup_share_info *info)
{
	static const char *const fields[] = {"index", "sha256", "custodian", NULL};
	const json_t *cust = json_object_get(s, "custodian");
	const char *name;

	if (!json_is_object(s) || !json_has_exactly(s, fields))
		return sg_fail(SG_ERR_MALFORMED,
			       "the backup key record's share %zu must have exactly the fields "
			       "index, sha256, custodian",
			       pos);
	if (!json_int_in(json_object_get(s, "index"), 1, 255, &info->index))
		return sg_fail(
			SG_ERR_MALFORMED,
			"the backup key record's share %zu has an index that is not a number "
			"from 1 to 255",
			pos);
	if (!json_is_hex(json_object_get(s, "sha256"), 64))
		return sg_fail(SG_ERR_MALFORMED,
			       "the backup key record's share %zu has a sha256 that is not 64 "
			       "lower-case hex digits",
			       pos);
	memcpy(info->sha256, json_string_value(json_object_get(s, "sha256")), 65);
	name = json_string_value(cust);
	if (name == NULL || json_string_length(cust) != strlen(name) ||
	    strlen(name) > BACKUP_CUSTODIAN_MAX)
		return sg_fail(SG_ERR_MALFORMED,
			       "the backup key record's share %zu has a custodian that is not a "
			       "name of at most %d bytes",
			       pos, BACKUP_CUSTODIAN_MAX);
	for (const char *c = name; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return sg_fail(SG_ERR_MALFORMED,
				       "the backup key record's share %zu has a custodian with a "
				       "control character",
				       pos);
	snprintf(info->custodian, sizeof(info->custodian), "%s", name);
	return SG_OK;
}

int backup_key_record_parse(const json_t *j, struct backup_key_record *rec)
{
	static const char *const fields[] = {"format",     "kid",    "threshold",
					     "created_at", "shares", NULL};
	const json_t *shares;
	const char *format, *created;
	char again[TIME_RFC3339_LEN];
	int r = SG_OK;

	memset(rec, 0, sizeof(*rec));
	if (!json_is_object(j))
		return sg_fail(SG_ERR_MALFORMED, "the backup key record is not a JSON object");
	if (!json_has_exactly(j, fields))
		return sg_fail(SG_ERR_MALFORMED,
			       "the backup key record must have exactly the fields "
			       "format, kid, threshold, created_at, shares");
	format = json_string_value(json_object_get(j, "format"));
	if (format == NULL || strcmp(format, RECORD_FORMAT) != 0)
		return sg_fail(SG_ERR_MALFORMED,
			       "the backup key record's format is not " RECORD_FORMAT);
	if (!json_is_hex(json_object_get(j, "kid"), BACKUP_KID_LEN))
		return sg_fail(SG_ERR_MALFORMED,
			       "the backup key record's kid is not %d lower-case hex digits",
			       BACKUP_KID_LEN);
	memcpy(rec->kid, json_string_value(json_object_get(j, "kid")), BACKUP_KID_LEN + 1);
	if (!json_int_in(json_object_get(j, "threshold"), 2, BACKUP_SHARES_MAX, &rec->threshold)) {
		r = sg_fail(SG_ERR_MALFORMED,
			    "the backup key record's threshold is not a number from 2 to %d",
			    BACKUP_SHARES_MAX);
		goto out;
	}
	/* exactly the form backup_key_record_json writes: a date that strptime takes but that
	 * does not exist (February 30) does not read back the same */
	created = json_string_value(json_object_get(j, "created_at"));
	if (created == NULL || time_parse_rfc3339(created, &rec->created_at) != SG_OK ||
	    time_format_rfc3339(rec->created_at, again) != SG_OK || strcmp(again, created) != 0) {
		r = sg_fail(SG_ERR_MALFORMED, "the backup key record's created_at is not a time "
					      "(YYYY-MM-DDTHH:MM:SSZ, UTC)");
		goto out;
	}
	shares = json_object_get(j, "shares");
	if (!json_is_array(shares) || json_array_size(shares) < rec->threshold ||
	    json_array_size(shares) > BACKUP_SHARES_MAX) {
		r = sg_fail(SG_ERR_MALFORMED,
			    "the backup key record's shares are not a list of %u (its threshold) "
			    "to %d shares",
			    rec->threshold, BACKUP_SHARES_MAX);
		goto out;
	}
	rec->n_shares = json_array_size(shares);
	for (size_t i = 0; i < rec->n_shares; i++) {
		if ((r = record_share_parse(json_array_get(shares, i), i + 1, &rec->shares[i])) !=
		    SG_OK)
			goto out;
		for (size_t q = 0; q < i; q++)
			if (rec->shares[q].index == rec->shares[i].index ||
			    strcmp(rec->shares[q].sha256, rec->shares[i].sha256) == 0) {
				r = sg_fail(
					SG_ERR_MALFORMED,
					"the backup key record's shares %zu and %zu have the same "
					"index or hash",
					q + 1, i + 1);
				goto out;
			}
	}
out:
	if (r != SG_OK)
		memset(rec, 0, sizeof(*rec));
	return r;
}

/* ---- a share's file */

int backup_share_read(const char *path, struct backup_secret *line)
{
	bool from_stdin = strcmp(path, "-") == 0;
	const char *name = from_stdin ? "standard input" : path;
	size_t len = 0;
	int fd, r;

	line->bytes = NULL;
	line->len = 0;
	if (from_stdin)
		fd = STDIN_FILENO;
	else {
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
		if (fd < 0)
			return sg_fail(errno == ENOENT  ? SG_ERR_NOT_FOUND
				       : errno == ELOOP ? SG_ERR_PERMISSION
							: SG_ERR_IO,
				       "share file %s: %s", path,
				       errno == ELOOP ? "it is a symbolic link" : strerror(errno));
		/* a share is a secret: a file of ours or root's that no one else can read */
		if ((r = file_check_trusted(fd, path, "share file", true)) != SG_OK)
			goto out;
	}
	/* one byte more than the most allowed (to see an over-long file), and the NUL */
	if ((r = backup_secret_new(SHARE_FILE_MAX + 2, line)) != SG_OK)
		goto out;
	while (len < SHARE_FILE_MAX + 1) {
		ssize_t got = read(fd, line->bytes + len, SHARE_FILE_MAX + 1 - len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = sg_fail(SG_ERR_IO, "share file %s: %s", name, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	if (len > SHARE_FILE_MAX) {
		r = sg_fail(SG_ERR_OVERFLOW,
			    "share file %s is longer than %d bytes: it holds no share", name,
			    SHARE_FILE_MAX);
		goto out;
	}
	if (len == 0) {
		r = sg_fail(SG_ERR_MALFORMED, "share file %s is empty", name);
		goto out;
	}
	line->bytes[len] = '\0';
	line->len = len;
out:
	if (!from_stdin)
		close(fd);
	if (r != SG_OK)
		backup_secret_free(line);
	return r;
}

/* ---- a share's OpenPGP message */

/* An encryption subkey that can be used now. */
static bool key_can_encrypt(gpgme_key_t key)
{
	for (gpgme_subkey_t s = key->subkeys; s != NULL; s = s->next)
		if (s->can_encrypt && !s->revoked && !s->expired && !s->disabled && !s->invalid)
			return true;
	return false;
}

int backup_share_encrypt(const char *gnupg_home, const char *fpr, const struct backup_secret *line,
			 char **armored)
{
	gpgme_data_t plain = NULL, cipher = NULL;
	gpgme_key_t key = NULL;
	gpgme_ctx_t ctx = NULL;
	gpgme_key_t recipients[2] = {NULL, NULL};
	gpgme_encrypt_result_t res;
	const char *home = gnupg_home != NULL ? gnupg_home : "the default GnuPG home";
	gpgme_error_t e;
	char *mem = NULL;
	size_t mem_len = 0;
	int r = SG_OK;

	*armored = NULL;
	if (fpr == NULL || strlen(fpr) != 40 || strspn(fpr, "0123456789abcdefABCDEF") != 40)
		return sg_fail(
			SG_ERR_INVALID_ARGUMENT,
			"a custodian's OpenPGP key is named by its primary key's fingerprint "
			"(40 hex digits)");
	if (line == NULL || line->bytes == NULL || line->len == 0)
		return sg_fail(SG_ERR_INVALID_ARGUMENT, "there is no share to encrypt");
	gpgme_check_version(NULL);
	if ((e = gpgme_new(&ctx)) != GPG_ERR_NO_ERROR ||
	    (e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP)) != GPG_ERR_NO_ERROR ||
	    (e = gpgme_ctx_set_engine_info(ctx, GPGME_PROTOCOL_OpenPGP, NULL, gnupg_home)) !=
		    GPG_ERR_NO_ERROR) {
		r = sg_fail(SG_ERR_INTERNAL, "GPGME with %s: %s", home, gpgme_strerror(e));
		goto out;
	}
	gpgme_set_armor(ctx, 1);
	/* nothing from the network: the key is what the keyring holds */
	gpgme_set_offline(ctx, 1);
	if ((e = gpgme_get_key(ctx, fpr, &key, 0)) != GPG_ERR_NO_ERROR || key == NULL) {
		r = sg_fail(gpg_err_code(e) == GPG_ERR_EOF ? SG_ERR_NOT_FOUND : SG_ERR_INTERNAL,
			    "OpenPGP key %s is not in %s%s%s", fpr, home,
			    gpg_err_code(e) == GPG_ERR_EOF ? "" : ": ",
			    gpg_err_code(e) == GPG_ERR_EOF ? "" : gpgme_strerror(e));
		goto out;
	}
	/* the pin is the primary key's full fingerprint: a subkey's, a short id or a user id that
	 * finds the key is not it */
	if (key->subkeys == NULL || key->subkeys->fpr == NULL ||
	    strcasecmp(key->subkeys->fpr, fpr) != 0) {
		r = sg_fail(
			SG_ERR_PERMISSION,
			"OpenPGP key %s in %s is not a primary key: the key found has the primary "
			"fingerprint %s",
			fpr, home,
			key->subkeys != NULL && key->subkeys->fpr != NULL ? key->subkeys->fpr
									  : "?");
		goto out;
	}
	if (key->revoked || key->expired || key->disabled || key->invalid) {
		r = sg_fail(SG_ERR_PERMISSION, "OpenPGP key %s is %s", fpr,
			    key->revoked    ? "revoked"
			    : key->expired  ? "expired"
			    : key->disabled ? "disabled"
					    : "invalid");
		goto out;
	}
	if (!key_can_encrypt(key)) {
		r = sg_fail(SG_ERR_INVALID_ARGUMENT,
			    "OpenPGP key %s has no encryption subkey that can be used: a share can "
			    "only be given to a key that can encrypt",
			    fpr);
		goto out;
	}
	recipients[0] = key;
	/* the share is read by gpg from the locked buffer itself (copy = 0); GPGME's own buffer
	 * of what it passes on is wiped when the data object is released ("sensitive") */
	if ((e = gpgme_data_new_from_mem(&plain, (const char *)line->bytes, line->len, 0)) !=
		    GPG_ERR_NO_ERROR ||
	    (e = gpgme_data_set_flag(plain, "sensitive", "1")) != GPG_ERR_NO_ERROR ||
	    (e = gpgme_data_new(&cipher)) != GPG_ERR_NO_ERROR) {
		r = sg_fail(SG_ERR_NOMEM, "GPGME data: %s", gpgme_strerror(e));
		goto out;
	}
	/* the key is pinned by its fingerprint: its validity in the keyring does not matter */
	if ((e = gpgme_op_encrypt(ctx, recipients, GPGME_ENCRYPT_ALWAYS_TRUST, plain, cipher)) !=
	    GPG_ERR_NO_ERROR) {
		r = sg_fail(SG_ERR_INTERNAL, "encrypting a share to OpenPGP key %s: %s", fpr,
			    gpgme_strerror(e));
		goto out;
	}
	res = gpgme_op_encrypt_result(ctx);
	if (res == NULL || res->invalid_recipients != NULL) {
		r = sg_fail(SG_ERR_PERMISSION, "OpenPGP key %s was refused as a recipient: %s", fpr,
			    res != NULL ? gpgme_strerror(res->invalid_recipients->reason)
					: "no result");
		goto out;
	}
	mem = gpgme_data_release_and_get_mem(cipher, &mem_len);
	cipher = NULL;
	if (mem == NULL || mem_len == 0) {
		r = sg_fail(SG_ERR_INTERNAL, "encrypting a share to OpenPGP key %s gave nothing",
			    fpr);
		goto out;
	}
	*armored = malloc(mem_len + 1);
	if (*armored == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "the encrypted share");
		goto out;
	}
	memcpy(*armored, mem, mem_len);
	(*armored)[mem_len] = '\0';
out:
	gpgme_free(mem);
	gpgme_data_release(plain);
	gpgme_data_release(cipher);
	gpgme_key_unref(key);
	gpgme_release(ctx);
	return r;
}
