#include "signer/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "common/encoding.h"

#define AUDIT_LINE_MAX (64 * 1024)
#define AUDIT_HASH_HEX 64

struct audit_log {
	char *path;
	int fd;
	pthread_mutex_t mu;
	pthread_cond_t synced_cv;
	/* the chain as this process last saw the file's end */
	off_t end;
	uint64_t seq;
	char prev[AUDIT_HASH_HEX + 1];
	/* group commit: appends up to written_gen are in the file; up to synced_gen on disk */
	uint64_t written_gen;
	uint64_t synced_gen;
	bool syncing;
	int sync_error; /* errno of the first failed sync, 0 while none failed */
	bool writable;
	uint64_t failures;
};

static void audit_sha256_hex(const uint8_t *p, size_t n, char out[AUDIT_HASH_HEX + 1])
{
	uint8_t h[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(h, p, n);
	if (hex_encode(h, sizeof(h), out, AUDIT_HASH_HEX + 1) != SG_OK)
		out[0] = '\0'; /* cannot happen: the buffer is sized for it */
}

/* Reads the file from offset from to its end (malloc'd, NUL-terminated). */
static int audit_read_from(int fd, off_t from, off_t to, char **out, size_t *len)
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
				       r < 0 ? strerror(errno) : "file shrank");
		}
		got += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return SG_OK;
}

/* The state after the last complete line: its seq and hash, and where it ends. A last line
 * without its newline is torn: *torn_at says where it starts (else -1). With the file lock
 * held. */
static int audit_scan_tail(struct audit_log *log, off_t *torn_at)
{
	struct stat st;
	off_t size, start;
	char *buf = NULL, *last_nl, *line;
	size_t len = 0;
	json_t *j;
	int r;

	*torn_at = -1;
	if (fstat(log->fd, &st) != 0)
		return sg_fail(SG_ERR_IO, "audit log %s: %s", log->path, strerror(errno));
	size = st.st_size;
	if (size == 0) {
		log->end = 0;
		log->seq = 0;
		memset(log->prev, '0', AUDIT_HASH_HEX);
		log->prev[AUDIT_HASH_HEX] = '\0';
		return SG_OK;
	}
	start = size > 2 * AUDIT_LINE_MAX ? size - 2 * AUDIT_LINE_MAX : 0;
	if ((r = audit_read_from(log->fd, start, size, &buf, &len)) != SG_OK)
		return r;
	last_nl = len > 0 && buf[len - 1] == '\n' ? buf + len - 1 : strrchr(buf, '\n');
	if (last_nl == NULL) {
		/* no complete line at all in the tail: a torn first line, or a line too long */
		if (start != 0) {
			free(buf);
			return sg_fail(SG_ERR_MALFORMED, "audit log %s: its last line is too long",
				       log->path);
		}
		*torn_at = 0;
		free(buf);
		log->end = 0;
		log->seq = 0;
		memset(log->prev, '0', AUDIT_HASH_HEX);
		log->prev[AUDIT_HASH_HEX] = '\0';
		return SG_OK;
	}
	if ((size_t)(last_nl - buf) != len - 1)
		*torn_at = start + (off_t)(last_nl - buf) + 1;
	*last_nl = '\0';
	line = strrchr(buf, '\n');
	line = line == NULL ? buf : line + 1;
	if (line == buf && start != 0) {
		free(buf);
		return sg_fail(SG_ERR_MALFORMED, "audit log %s: its last line is too long", log->path);
	}
	j = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
	if (j == NULL || !json_is_integer(json_object_get(j, "seq"))) {
		json_decref(j);
		free(buf);
		return sg_fail(SG_ERR_MALFORMED,
			       "audit log %s: the last complete line is not a record; run "
			       "signerctl audit verify",
			       log->path);
	}
	log->seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	json_decref(j);
	audit_sha256_hex((const uint8_t *)line, strlen(line), log->prev);
	log->end = start + (off_t)(last_nl - buf) + 1;
	free(buf);
	return SG_OK;
}

int audit_open(const char *path, struct audit_log **out, bool *repaired)
{
	struct audit_log *log;
	off_t torn_at;
	int r;

	*out = NULL;
	*repaired = false;
	if (sodium_init() < 0)
		return sg_fail(SG_ERR_INTERNAL, "libsodium failed to initialise");
	log = calloc(1, sizeof(*log));
	if (log == NULL)
		return sg_fail(SG_ERR_NOMEM, "opening the audit log");
	log->fd = -1;
	pthread_mutex_init(&log->mu, NULL);
	pthread_cond_init(&log->synced_cv, NULL);
	log->path = strdup(path);
	if (log->path == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "opening the audit log");
		goto out;
	}
	log->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->fd < 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: %s", path, strerror(errno));
		goto out;
	}
	if (flock(log->fd, LOCK_EX) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: flock: %s", path, strerror(errno));
		goto out;
	}
	r = audit_scan_tail(log, &torn_at);
	if (r == SG_OK && torn_at >= 0) {
		/* kill -9 mid-write: the torn line was never acknowledged, so no signature left
		 * with it; cut it off and go on from the last whole line */
		if (ftruncate(log->fd, torn_at) != 0 || fsync(log->fd) != 0)
			r = sg_fail(SG_ERR_IO, "audit log %s: repairing a torn last line: %s", path,
				    strerror(errno));
		else
			*repaired = true;
	}
	(void)flock(log->fd, LOCK_UN);
	if (r != SG_OK)
		goto out;
	log->writable = true;
	*out = log;
	log = NULL;
out:
	audit_close(log);
	return r;
}

void audit_close(struct audit_log *log)
{
	if (log == NULL)
		return;
	if (log->fd >= 0)
		close(log->fd);
	pthread_mutex_destroy(&log->mu);
	pthread_cond_destroy(&log->synced_cv);
	free(log->path);
	free(log);
}

static void audit_now(char out[32])
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (snprintf(out, 32, "%s.%03dZ", base, (int)(ts.tv_nsec / 1000000)) < 0)
		out[0] = '\0';
}

/* Writes the whole line at the end of the file, with the file lock held. */
static int audit_write_line(struct audit_log *log, const char *line, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = write(log->fd, line + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : ENOSPC;

			/* leave nothing of it behind: the chain continues from the last whole line */
			if (ftruncate(log->fd, log->end) != 0) {
				/* the torn line stays: audit_open repairs it */
			}
			return sg_fail(SG_ERR_IO, "writing the audit log %s: %s", log->path,
				       strerror(e));
		}
		done += (size_t)w;
	}
	return SG_OK;
}

int audit_append(struct audit_log *log, json_t *rec, char audit_id[AUDIT_ID_LEN + 1])
{
	uint8_t idb[AUDIT_ID_LEN / 2];
	char now[32], *text = NULL, *line = NULL;
	struct stat st;
	off_t torn_at;
	uint64_t my_gen = 0;
	size_t len;
	int r = SG_OK;

	randombytes_buf(idb, sizeof(idb));
	if (hex_encode(idb, sizeof(idb), audit_id, AUDIT_ID_LEN + 1) != SG_OK)
		return sg_fail(SG_ERR_INTERNAL, "audit id");
	audit_now(now);

	pthread_mutex_lock(&log->mu);
	/* after a failed sync, what the file holds is not known (Linux drops the failed pages and
	 * a later sync would succeed without them): nothing more is written until a restart
	 * reopens the log and reads its tail again */
	if (log->sync_error != 0) {
		r = sg_fail(SG_ERR_IO,
			    "the audit log %s failed to sync (%s); check the disk and restart signerd",
			    log->path, strerror(log->sync_error));
		goto unlock;
	}
	if (flock(log->fd, LOCK_EX) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: flock: %s", log->path, strerror(errno));
		goto unlock;
	}
	/* another process (signerctl, another signerd) may have appended since */
	if (fstat(log->fd, &st) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: %s", log->path, strerror(errno));
		goto unflock;
	}
	if (st.st_size != log->end) {
		if ((r = audit_scan_tail(log, &torn_at)) != SG_OK)
			goto unflock;
		if (torn_at >= 0 && ftruncate(log->fd, torn_at) != 0) {
			r = sg_fail(SG_ERR_IO, "audit log %s: a torn line: %s", log->path,
				    strerror(errno));
			goto unflock;
		}
	}
	if (json_object_set_new(rec, "seq", json_integer((json_int_t)(log->seq + 1))) != 0 ||
	    json_object_set_new(rec, "time", json_string(now)) != 0 ||
	    json_object_set_new(rec, "audit_id", json_string(audit_id)) != 0 ||
	    json_object_set_new(rec, "prev", json_string(log->prev)) != 0 ||
	    (text = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII)) == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "building the audit record");
		goto unflock;
	}
	len = strlen(text);
	if (len + 1 > AUDIT_LINE_MAX || (line = malloc(len + 2)) == NULL) {
		r = sg_fail(SG_ERR_OVERFLOW, "audit record of %zu bytes", len);
		goto unflock;
	}
	memcpy(line, text, len);
	line[len] = '\n';
	if ((r = audit_write_line(log, line, len + 1)) != SG_OK)
		goto unflock;
	log->seq++;
	audit_sha256_hex((const uint8_t *)text, len, log->prev);
	log->end += (off_t)(len + 1);
	my_gen = ++log->written_gen;
unflock:
	(void)flock(log->fd, LOCK_UN);
	if (r != SG_OK)
		goto unlock;

	/* group commit: one thread syncs for everyone written so far; the others wait for it */
	while (log->synced_gen < my_gen && r == SG_OK) {
		if (!log->syncing) {
			uint64_t target = log->written_gen;
			int e;

			log->syncing = true;
			pthread_mutex_unlock(&log->mu);
			e = fdatasync(log->fd) == 0 ? 0 : errno;
			pthread_mutex_lock(&log->mu);
			log->syncing = false;
			if (e != 0 && log->sync_error == 0)
				log->sync_error = e; /* sticky: see above */
			if (e == 0 && log->sync_error == 0 && target > log->synced_gen)
				log->synced_gen = target;
			pthread_cond_broadcast(&log->synced_cv);
		} else {
			pthread_cond_wait(&log->synced_cv, &log->mu);
		}
		/* one failed sync fails every record not yet known to be on disk */
		if (log->synced_gen < my_gen && log->sync_error != 0)
			r = sg_fail(SG_ERR_IO, "syncing the audit log %s: %s", log->path,
				    strerror(log->sync_error));
	}
unlock:
	log->writable = r == SG_OK;
	if (r != SG_OK)
		log->failures++;
	pthread_mutex_unlock(&log->mu);
	free(text);
	free(line);
	return r;
}

bool audit_writable(struct audit_log *log)
{
	bool w;

	pthread_mutex_lock(&log->mu);
	w = log->writable;
	pthread_mutex_unlock(&log->mu);
	return w;
}

uint64_t audit_failures(struct audit_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->mu);
	n = log->failures;
	pthread_mutex_unlock(&log->mu);
	return n;
}

int audit_verify_file(const char *path, unsigned long *bad_line, unsigned long *lines)
{
	FILE *f = fopen(path, "re");
	char *line = NULL, prev[AUDIT_HASH_HEX + 1];
	size_t cap = 0;
	ssize_t n;
	unsigned long no = 0;
	int r = SG_OK;

	*bad_line = 0;
	*lines = 0;
	if (f == NULL)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO, "%s: %s", path,
			       strerror(errno));
	memset(prev, '0', AUDIT_HASH_HEX);
	prev[AUDIT_HASH_HEX] = '\0';
	while ((n = getline(&line, &cap, f)) > 0) {
		json_t *j;
		json_error_t jerr;
		const char *p;

		no++;
		if (line[n - 1] != '\n') {
			r = sg_fail(SG_ERR_TRUNCATED, "%s:%lu: the last line is torn (no newline)", path,
				    no);
			break;
		}
		line[--n] = '\0';
		j = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
		if (j == NULL) {
			r = sg_fail(SG_ERR_MALFORMED, "%s:%lu: not a JSON record: %s", path, no,
				    jerr.text);
			break;
		}
		p = json_string_value(json_object_get(j, "prev"));
		if (!json_is_integer(json_object_get(j, "seq")) ||
		    json_integer_value(json_object_get(j, "seq")) != (json_int_t)no) {
			r = sg_fail(SG_ERR_MALFORMED, "%s:%lu: seq is not %lu", path, no, no);
		} else if (p == NULL || strcmp(p, prev) != 0) {
			r = sg_fail(SG_ERR_MALFORMED,
				    "%s:%lu: the chain is broken: prev does not match the hash of line "
				    "%lu",
				    path, no, no - 1);
		}
		json_decref(j);
		if (r != SG_OK)
			break;
		audit_sha256_hex((const uint8_t *)line, (size_t)n, prev);
	}
	if (r == SG_OK && ferror(f))
		r = sg_fail(SG_ERR_IO, "%s: %s", path, strerror(errno));
	if (r != SG_OK)
		*bad_line = no;
	*lines = no;
	free(line);
	fclose(f);
	return r;
}
