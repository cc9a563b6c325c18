/* The audit log's files: segments by name, lines, and the tail of a segment. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_internal.h"
#include "common/encoding.h"

void audit_hash_hex(const uint8_t h[AUDIT_HASH_LEN], char out[AUDIT_HASH_HEX + 1])
{
	if (hex_encode(h, AUDIT_HASH_LEN, out, AUDIT_HASH_HEX + 1) != SG_OK)
		out[0] = '\0'; /* cannot happen: the buffer is sized for it */
}

void audit_zero_prev(char out[AUDIT_HASH_HEX + 1])
{
	memset(out, '0', AUDIT_HASH_HEX);
	out[AUDIT_HASH_HEX] = '\0';
}

double audit_time_parse(const char *text)
{
	struct tm tm;
	const char *rest;
	double frac = 0;

	memset(&tm, 0, sizeof(tm));
	rest = text != NULL ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
	if (rest == NULL)
		return 0;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	return (double)timegm(&tm) + frac;
}

int audit_line_parse(const char *line, size_t len, json_t **rec, uint64_t *seq,
		     uint8_t hash[AUDIT_HASH_LEN])
{
	json_error_t jerr;
	json_t *j = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr), *s;

	*rec = NULL;
	if (j == NULL)
		return sg_fail(SG_ERR_MALFORMED, "not a JSON record: %s", jerr.text);
	s = json_object_get(j, "seq");
	if (!json_is_integer(s) || json_integer_value(s) < 1 ||
	    !json_is_string(json_object_get(j, "prev"))) {
		json_decref(j);
		return sg_fail(SG_ERR_MALFORMED, "not a record (no seq or prev)");
	}
	*seq = (uint64_t)json_integer_value(s);
	crypto_hash_sha256(hash, (const uint8_t *)line, len);
	*rec = j;
	return SG_OK;
}

/* Record ids: 16 bytes of a ChaCha20 stream under a key drawn once per process (and again in a
 * forked child, so that parent and child never share a stream), the block chosen by a counter:
 * unique and unpredictable like randombytes_buf's, without a getrandom call per record. */
static uint8_t audit_id_key[crypto_stream_chacha20_KEYBYTES];
static atomic_uint_fast64_t audit_id_counter;
static atomic_bool audit_id_keyed;
static pthread_mutex_t audit_id_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t audit_id_once = PTHREAD_ONCE_INIT;

static void audit_id_forked(void)
{
	atomic_store(&audit_id_keyed, false);
}

static void audit_id_at_fork(void)
{
	(void)pthread_atfork(NULL, NULL, audit_id_forked);
}

void audit_new_id(char audit_id[AUDIT_ID_LEN + 1])
{
	uint8_t idb[AUDIT_ID_LEN / 2], nonce[crypto_stream_chacha20_NONCEBYTES];
	uint64_t n;

	pthread_once(&audit_id_once, audit_id_at_fork);
	if (!atomic_load(&audit_id_keyed)) {
		pthread_mutex_lock(&audit_id_mu);
		if (!atomic_load(&audit_id_keyed)) {
			randombytes_buf(audit_id_key, sizeof(audit_id_key));
			atomic_store(&audit_id_counter, 0);
			atomic_store(&audit_id_keyed, true);
		}
		pthread_mutex_unlock(&audit_id_mu);
	}
	n = atomic_fetch_add(&audit_id_counter, 1);
	for (size_t i = 0; i < sizeof(nonce); i++)
		nonce[i] = (uint8_t)(n >> (8 * i));
	if (crypto_stream_chacha20(idb, sizeof(idb), nonce, audit_id_key) != 0 ||
	    hex_encode(idb, sizeof(idb), audit_id, AUDIT_ID_LEN + 1) != SG_OK)
		audit_id[0] = '\0';
}

/* ---- segments --------------------------------------------------------------------------- */

void audit_segments_free(struct audit_segment *segs, size_t n)
{
	for (size_t i = 0; segs != NULL && i < n; i++)
		free(segs[i].file);
	free(segs);
}

static int audit_segment_cmp(const void *a, const void *b)
{
	const struct audit_segment *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* The rotated segments of the log at path, oldest first. */
int audit_segments_list(const char *path, struct audit_segment **out, size_t *n)
{
	char *copy_dir = strdup(path), *copy_base = strdup(path), *dir, *base;
	struct audit_segment *segs = NULL;
	size_t cap = 0, base_len;
	DIR *d = NULL;
	struct dirent *e;
	int r = SG_OK;

	*out = NULL;
	*n = 0;
	if (copy_dir == NULL || copy_base == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "listing audit segments");
		goto out;
	}
	dir = dirname(copy_dir);
	base = basename(copy_base);
	base_len = strlen(base);
	d = opendir(dir);
	if (d == NULL) {
		r = sg_fail(SG_ERR_IO, "audit log directory %s: %s", dir, strerror(errno));
		goto out;
	}
	while ((e = readdir(d)) != NULL) {
		const char *tail = e->d_name + base_len;
		char *endp;
		uint64_t first;

		if (strncmp(e->d_name, base, base_len) != 0 || tail[0] != '.' ||
		    strlen(tail + 1) != AUDIT_SEGMENT_DIGITS)
			continue;
		errno = 0;
		first = strtoull(tail + 1, &endp, 10);
		if (errno != 0 || *endp != '\0' || first == 0)
			continue;
		if (*n == cap) {
			struct audit_segment *grown;

			cap = cap == 0 ? 16 : cap * 2;
			grown = realloc(segs, cap * sizeof(*segs));
			if (grown == NULL) {
				r = sg_fail(SG_ERR_NOMEM, "listing audit segments");
				goto out;
			}
			segs = grown;
		}
		segs[*n].first = first;
		if (asprintf(&segs[*n].file, "%s/%s", dir, e->d_name) < 0) {
			r = sg_fail(SG_ERR_NOMEM, "listing audit segments");
			goto out;
		}
		(*n)++;
	}
	if (*n > 1)
		qsort(segs, *n, sizeof(*segs), audit_segment_cmp);
	*out = segs;
	segs = NULL;
out:
	if (d != NULL)
		closedir(d);
	if (segs != NULL)
		audit_segments_free(segs, *n);
	if (r != SG_OK)
		*n = 0;
	free(copy_dir);
	free(copy_base);
	return r;
}

char *audit_segment_name(const char *path, uint64_t first)
{
	char *name;

	if (asprintf(&name, "%s.%0*llu", path, AUDIT_SEGMENT_DIGITS, (unsigned long long)first) < 0)
		return NULL;
	return name;
}

int audit_fsync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, r = SG_OK;

	if (copy == NULL)
		return sg_fail(SG_ERR_NOMEM, "audit log");
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) != 0)
		r = sg_fail(SG_ERR_IO, "syncing the audit log's directory: %s", strerror(errno));
	if (fd >= 0)
		close(fd);
	free(copy);
	return r;
}

/* ---- reading ----------------------------------------------------------------------------- */

/* Reads [from, to) of fd (malloc'd, NUL-terminated). */
int audit_read_range(int fd, off_t from, off_t to, char **out, size_t *len)
{
	size_t n = (size_t)(to - from), got = 0;
	char *buf = malloc(n + 1);

	if (buf == NULL)
		return sg_fail(SG_ERR_NOMEM, "reading the audit log");
	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, from + (off_t)got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			free(buf);
			return sg_fail(SG_ERR_IO, "reading the audit log: %s",
				       r < 0 ? strerror(errno) : "the file shrank");
		}
		got += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return SG_OK;
}

/* The last complete line of fd (of size bytes): its head; *torn_at is where a last line without
 * its newline starts (else -1). A file without a whole line gives seq 0. */
int audit_tail(int fd, const char *file, off_t size, struct audit_head *head, off_t *torn_at)
{
	off_t start = size > 2 * AUDIT_LINE_MAX ? size - 2 * AUDIT_LINE_MAX : 0;
	char *buf = NULL, *last_nl, *line;
	size_t len = 0;
	json_t *rec;
	int r;

	memset(head, 0, sizeof(*head));
	*torn_at = -1;
	if (size == 0)
		return SG_OK;
	if ((r = audit_read_range(fd, start, size, &buf, &len)) != SG_OK)
		return r;
	last_nl = len > 0 && buf[len - 1] == '\n' ? buf + len - 1 : strrchr(buf, '\n');
	if (last_nl == NULL) {
		free(buf);
		if (start != 0)
			return sg_fail(SG_ERR_MALFORMED, "audit log %s: its last line is too long",
				       file);
		*torn_at = 0; /* a torn first line */
		return SG_OK;
	}
	if ((size_t)(last_nl - buf) != len - 1)
		*torn_at = start + (off_t)(last_nl - buf) + 1;
	*last_nl = '\0';
	line = strrchr(buf, '\n');
	line = line == NULL ? buf : line + 1;
	if (line == buf && start != 0) {
		free(buf);
		return sg_fail(SG_ERR_MALFORMED, "audit log %s: its last line is too long", file);
	}
	r = audit_line_parse(line, strlen(line), &rec, &head->seq, head->hash);
	if (r != SG_OK) {
		free(buf);
		return sg_fail(
			SG_ERR_MALFORMED,
			"audit log %s: the last complete line is not a record; run signerctl "
			"audit verify",
			file);
	}
	head->time = audit_time_parse(json_string_value(json_object_get(rec, "time")));
	head->pos.offset = (uint64_t)(start + (line - buf));
	json_decref(rec);
	free(buf);
	return SG_OK;
}

/* The seq of the first record of a segment file; 0 when it has none. */
int audit_first_seq(int fd, uint64_t *seq)
{
	char buf[AUDIT_LINE_MAX];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
	char *nl;
	json_t *rec;
	uint8_t hash[AUDIT_HASH_LEN];
	int r;

	*seq = 0;
	if (n < 0)
		return sg_fail(SG_ERR_IO, "reading the audit log: %s", strerror(errno));
	buf[n] = '\0';
	nl = memchr(buf, '\n', (size_t)n);
	if (nl == NULL)
		return SG_OK;
	r = audit_line_parse(buf, (size_t)(nl - buf), &rec, seq, hash);
	json_decref(rec);
	return r;
}

/* The time of the last record of a segment file (0 when it has none). */
double audit_segment_last_time(const char *file)
{
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	struct stat st;
	struct audit_head h;
	off_t torn;

	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || audit_tail(fd, file, st.st_size, &h, &torn) != SG_OK)
		h.time = 0;
	close(fd);
	return h.time;
}

double audit_wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
