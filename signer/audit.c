#include "signer/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "audit_internal.h"
#include "common/log.h"
#include "common/encoding.h"
#include "common/jsonw.h"

#define AUDIT_SEGMENT_MIN (4ULL * 1024)

struct audit_log {
	char *path;
	char *lock_path;
	int lock_fd; /* path.lock: appends take turns on it (flock), the side lock is byte 0 */
	int fd;      /* the active segment, O_APPEND */
	ino_t ino;   /* the active segment this process has open */
	struct audit_options opt;
	/* file_mu: held by the one thread that holds the file lock (a flock belongs to the open
	 * file, which every thread shares: two threads must never believe they both hold it), from
	 * taking it to giving it back; it also guards fd, ino, end and segment. mu: the chain's
	 * head and the group commit. Order: file_mu, then mu. */
	pthread_mutex_t file_mu;
	pthread_mutex_t mu;
	pthread_cond_t synced_cv;
	pthread_mutex_t side_mu;
	/* the chain as this process last saw the active segment's end */
	off_t end;
	off_t seen_size; /* the active segment's size at the last catch-up (a torn line past end) */
	uint64_t segment; /* the seq of the active segment's first record (or of the next one) */
	struct audit_head head;
	char prev[AUDIT_HASH_HEX + 1]; /* head.hash in hex */
	struct audit_head durable;     /* the head known to be on disk */
	/* group commit: appends up to written_gen are in the file; up to synced_gen on disk */
	uint64_t written_gen;
	uint64_t synced_gen;
	uint64_t syncs; /* the group commit's fdatasync calls that succeeded */
	bool syncing;
	/* gathering: records announced (audit_announce) and not yet written or cancelled, and
	 * how many arrived so far; the thread that would sync waits a little for those announced
	 * when it came (see audit_gather) */
	atomic_uint announced;
	uint64_t arrived;
	bool gathering;
	pthread_cond_t gather_cv;
	int sync_error;   /* errno of the first failed sync, 0 while none failed */
	char broken[320]; /* not "": the log was changed behind signerd's back; nothing more */
	bool writable;
	uint64_t failures;
	audit_record_fn observer;
	void *observer_ctx;
};

/* ---- the tamper check of records others appended ------------------------------------------ */

/* The log was changed behind this process's back: said once, and every append refused from
 * now on. Returns SG_ERR_MALFORMED with the sentence as this thread's detail. */
static int audit_break(struct audit_log *log, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int audit_break(struct audit_log *log, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(log->broken, sizeof(log->broken), fmt, ap);
	va_end(ap);
	if (log->broken[0] == '\0')
		snprintf(log->broken, sizeof(log->broken), "the audit log was changed");
	sg_log("audit: %s; nothing more is written to it", log->broken);
	return sg_fail(SG_ERR_MALFORMED, "%s", log->broken);
}

/* Takes the complete lines of buf (read from the active segment at offset at) as records that
 * follow the chain; returns how many bytes they took (a torn tail is left). */
static int audit_take_lines(struct audit_log *log, const char *buf, size_t len, off_t at,
			    size_t *taken)
{
	size_t off = 0;

	*taken = 0;
	while (off < len) {
		const char *nl = memchr(buf + off, '\n', len - off);
		json_t *rec;
		uint64_t seq;
		uint8_t hash[AUDIT_HASH_LEN];
		const char *prev;
		double t;

		if (nl == NULL)
			break;
		if (audit_line_parse(buf + off, (size_t)(nl - (buf + off)), &rec, &seq, hash) !=
		    SG_OK) {
			return audit_break(
				log,
				"audit log %s: a line another process appended at byte %lld is "
				"not a record",
				log->path, (long long)(at + (off_t)off));
		}
		prev = json_string_value(json_object_get(rec, "prev"));
		if (seq != log->head.seq + 1 || prev == NULL || strcmp(prev, log->prev) != 0) {
			json_decref(rec);
			return audit_break(
				log,
				"audit log %s: record %llu (byte %lld) does not follow record "
				"%llu of the chain",
				log->path, (unsigned long long)seq, (long long)(at + (off_t)off),
				(unsigned long long)log->head.seq);
		}
		t = audit_time_parse(json_string_value(json_object_get(rec, "time")));
		log->head.seq = seq;
		memcpy(log->head.hash, hash, AUDIT_HASH_LEN);
		log->head.time = t;
		log->head.pos = (struct audit_pos){.segment = log->segment,
						   .offset = (uint64_t)(at + (off_t)off)};
		audit_hash_hex(hash, log->prev);
		if (log->observer != NULL)
			log->observer(log->observer_ctx, rec, t);
		json_decref(rec);
		off = (size_t)(nl - buf) + 1;
		*taken = off;
	}
	return SG_OK;
}

/* Reads what others wrote to fd since this process last looked (from log->end). */
static int audit_read_new(struct audit_log *log, int fd, off_t size)
{
	char *buf = NULL;
	size_t len = 0, taken = 0;
	int r;

	if (size <= log->end)
		return SG_OK;
	if ((r = audit_read_range(fd, log->end, size, &buf, &len)) != SG_OK)
		return r;
	r = audit_take_lines(log, buf, len, log->end, &taken);
	log->end += (off_t)taken;
	free(buf);
	return r;
}

/* Opens the active segment afresh (another process rotated it) and sets what follows from it. */
static int audit_sync_now(struct audit_log *log);

/* With file_mu and mu held: fd becomes the active segment. What was written to the old one is
 * synced first, and no group commit is left syncing it when it closes. */
static int audit_fd_replace(struct audit_log *log, int fd, ino_t ino)
{
	int r = SG_OK;

	if (log->written_gen > log->synced_gen && log->fd >= 0)
		r = audit_sync_now(log);
	while (log->syncing)
		pthread_cond_wait(&log->synced_cv, &log->mu);
	if (log->fd >= 0)
		close(log->fd);
	log->fd = fd;
	log->ino = ino;
	log->end = 0;
	return r;
}

static int audit_open_active(struct audit_log *log)
{
	struct stat st;
	uint64_t first;
	int fd = open(log->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600), r;

	if (fd < 0)
		return sg_fail(SG_ERR_IO, "audit log %s: %s", log->path, strerror(errno));
	if (fstat(fd, &st) != 0 || (r = audit_first_seq(fd, &first)) != SG_OK) {
		r = sg_fail(SG_ERR_IO, "audit log %s: %s", log->path, strerror(errno));
		close(fd);
		return r;
	}
	r = audit_fd_replace(log, fd, st.st_ino);
	log->segment = first != 0 ? first : log->head.seq + 1;
	return r;
}

/* With log->mu and the file lock held: reads everything other processes appended, following
 * rotations, and hands it to the observer. A log that shrank, lost its active segment, or whose
 * new records do not follow the chain is broken. */
static int audit_catch_up_locked(struct audit_log *log)
{
	for (int rounds = 0; rounds < 1000; rounds++) {
		struct stat st_fd, st_path;
		int r;

		if (log->broken[0] != '\0')
			return sg_fail(SG_ERR_MALFORMED, "%s", log->broken);
		/* what was appended to the segment this process has open */
		if (fstat(log->fd, &st_fd) != 0)
			return sg_fail(SG_ERR_IO, "audit log %s: %s", log->path, strerror(errno));
		if (st_fd.st_size < log->end)
			return audit_break(
				log,
				"audit log %s shrank from %lld to %lld bytes: records were "
				"cut off",
				log->path, (long long)log->end, (long long)st_fd.st_size);
		if ((r = audit_read_new(log, log->fd, st_fd.st_size)) != SG_OK)
			return r;
		if (stat(log->path, &st_path) != 0)
			return audit_break(log, "audit log %s is gone: %s", log->path,
					   strerror(errno));
		if (st_path.st_ino == log->ino) {
			log->seen_size = st_fd.st_size;
			return SG_OK;
		}
		/* rotated by another process: that segment is whole now; the segments rotated after
		 * it (named by their first record), then the new active one */
		for (;;) {
			char *next = audit_segment_name(log->path, log->head.seq + 1);
			struct stat st;
			int fd;

			if (next == NULL)
				return sg_fail(SG_ERR_NOMEM, "audit log");
			fd = open(next, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			free(next);
			if (fd < 0)
				break;
			log->segment = log->head.seq + 1;
			log->end = 0;
			r = fstat(fd, &st) == 0
				    ? audit_read_new(log, fd, st.st_size)
				    : sg_fail(SG_ERR_IO, "audit log: %s", strerror(errno));
			close(fd);
			if (r != SG_OK)
				return r;
			if (log->end == 0)
				return audit_break(log, "audit segment of record %llu is empty",
						   (unsigned long long)log->segment);
		}
		if ((r = audit_open_active(log)) != SG_OK)
			return r;
		if (log->segment != log->head.seq + 1)
			return audit_break(
				log,
				"audit log %s: the active segment starts at record %llu, "
				"not %llu: segments are missing",
				log->path, (unsigned long long)log->segment,
				(unsigned long long)(log->head.seq + 1));
		/* and round again: the new active segment from its start */
	}
	return sg_fail(SG_ERR_INTERNAL, "audit log %s: rotating without end", log->path);
}

/* ---- open and close ----------------------------------------------------------------------- */

int audit_open(const char *path, struct audit_log **out, bool *repaired)
{
	return audit_open_with(path, NULL, out, repaired);
}

int audit_open_with(const char *path, const struct audit_options *opt, struct audit_log **out,
		    bool *repaired)
{
	struct audit_log *log;
	struct stat st;
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
	log->lock_fd = -1;
	if (opt != NULL)
		log->opt = *opt;
	if (log->opt.segment_bytes == 0)
		log->opt.segment_bytes = AUDIT_SEGMENT_BYTES_DEFAULT;
	if (log->opt.segment_bytes < AUDIT_SEGMENT_MIN)
		log->opt.segment_bytes = AUDIT_SEGMENT_MIN;
	if (log->opt.gather_max_us == 0)
		log->opt.gather_max_us = AUDIT_GATHER_MAX_US;
	pthread_mutex_init(&log->file_mu, NULL);
	pthread_mutex_init(&log->mu, NULL);
	pthread_mutex_init(&log->side_mu, NULL);
	pthread_cond_init(&log->synced_cv, NULL);
	{
		pthread_condattr_t attr;

		pthread_condattr_init(&attr);
		pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
		pthread_cond_init(&log->gather_cv, &attr);
		pthread_condattr_destroy(&attr);
	}
	log->path = strdup(path);
	if (log->path == NULL || asprintf(&log->lock_path, "%s.lock", path) < 0) {
		log->lock_path = NULL;
		r = sg_fail(SG_ERR_NOMEM, "opening the audit log");
		goto out;
	}
	log->lock_fd = open(log->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->lock_fd < 0) {
		r = sg_fail(SG_ERR_IO, "audit log lock %s: %s", log->lock_path, strerror(errno));
		goto out;
	}
	if (flock(log->lock_fd, LOCK_EX) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: flock: %s", path, strerror(errno));
		goto out;
	}
	log->fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (log->fd < 0 || fstat(log->fd, &st) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: %s", path, strerror(errno));
		goto unlock;
	}
	if (!S_ISREG(st.st_mode)) {
		r = sg_fail(SG_ERR_IO, "audit log %s is not a regular file", path);
		goto unlock;
	}
	log->ino = st.st_ino;
	if ((r = audit_tail(log->fd, path, st.st_size, &log->head, &torn_at)) != SG_OK)
		goto unlock;
	if (torn_at >= 0) {
		/* kill -9 mid-write: the torn line was never acknowledged, so no signature left
		 * with it; cut it off and go on from the last whole line */
		if (ftruncate(log->fd, torn_at) != 0 || fsync(log->fd) != 0) {
			r = sg_fail(SG_ERR_IO, "audit log %s: repairing a torn last line: %s", path,
				    strerror(errno));
			goto unlock;
		}
		*repaired = true;
	}
	log->end = torn_at >= 0 ? torn_at : st.st_size;
	if (log->head.seq != 0) {
		if ((r = audit_first_seq(log->fd, &log->segment)) != SG_OK)
			goto unlock;
	} else {
		/* an empty active segment: the chain goes on from the newest rotated one */
		struct audit_segment *segs;
		size_t n;

		if ((r = audit_segments_list(path, &segs, &n)) != SG_OK)
			goto unlock;
		if (n > 0) {
			int fd = open(segs[n - 1].file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
			struct stat sst;
			off_t torn;

			r = fd < 0 || fstat(fd, &sst) != 0
				    ? sg_fail(SG_ERR_IO, "audit segment %s: %s", segs[n - 1].file,
					      strerror(errno))
				    : audit_tail(fd, segs[n - 1].file, sst.st_size, &log->head,
						 &torn);
			if (r == SG_OK && torn >= 0)
				r = sg_fail(SG_ERR_MALFORMED,
					    "audit segment %s ends in a torn line",
					    segs[n - 1].file);
			log->head.pos.segment = segs[n - 1].first;
			if (fd >= 0)
				close(fd);
		}
		audit_segments_free(segs, n);
		if (r != SG_OK)
			goto unlock;
		log->segment = log->head.seq + 1;
	}
	if (log->head.seq != 0 && log->head.pos.segment == 0)
		log->head.pos.segment = log->segment;
	if (log->head.seq == 0)
		audit_zero_prev(log->prev);
	else
		audit_hash_hex(log->head.hash, log->prev);
	/* what is in the file now may not be on disk yet (a writer killed between its write and
	 * its sync): sync it, so that the head this process anchors is durable */
	if (fdatasync(log->fd) != 0 || audit_fsync_dir(path) != SG_OK) {
		r = sg_fail(SG_ERR_IO, "audit log %s: syncing: %s", path, strerror(errno));
		goto unlock;
	}
	log->durable = log->head;
	r = SG_OK;
unlock:
	(void)flock(log->lock_fd, LOCK_UN);
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
	if (log->lock_fd >= 0)
		close(log->lock_fd);
	pthread_mutex_destroy(&log->file_mu);
	pthread_mutex_destroy(&log->mu);
	pthread_mutex_destroy(&log->side_mu);
	pthread_cond_destroy(&log->synced_cv);
	pthread_cond_destroy(&log->gather_cv);
	free(log->path);
	free(log->lock_path);
	free(log);
}

void audit_set_observer(struct audit_log *log, audit_record_fn fn, void *ctx)
{
	pthread_mutex_lock(&log->mu);
	log->observer = fn;
	log->observer_ctx = ctx;
	pthread_mutex_unlock(&log->mu);
}

/* ---- appending --------------------------------------------------------------------------- */

static void audit_now(char out[32], double *seconds)
{
	struct timespec ts;
	struct tm tm;
	char base[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	*seconds = (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
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

			/* leave nothing of it behind: the chain continues from the last whole line
			 */
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

/* Waits (log->mu held) until no sync is running, then syncs what was written so far, as one of
 * the group commit's syncs; *target_out is the write generation covered. */
static int audit_sync_now(struct audit_log *log)
{
	uint64_t target;
	struct audit_head target_head;
	int fd, e;

	while (log->syncing)
		pthread_cond_wait(&log->synced_cv, &log->mu);
	if (log->sync_error != 0)
		return sg_fail(SG_ERR_IO, "syncing the audit log %s: %s", log->path,
			       strerror(log->sync_error));
	target = log->written_gen;
	target_head = log->head;
	fd = log->fd;
	log->syncing = true;
	pthread_mutex_unlock(&log->mu);
	e = fdatasync(fd) == 0 ? 0 : errno;
	pthread_mutex_lock(&log->mu);
	log->syncing = false;
	if (e != 0 && log->sync_error == 0)
		log->sync_error = e;
	if (e == 0 && log->sync_error == 0) {
		if (target > log->synced_gen)
			log->synced_gen = target;
		log->syncs++;
		if (target_head.seq > log->durable.seq)
			log->durable = target_head;
	}
	pthread_cond_broadcast(&log->synced_cv);
	return e == 0 ? SG_OK
		      : sg_fail(SG_ERR_IO, "syncing the audit log %s: %s", log->path, strerror(e));
}

/* Keeps at most keep_segments rotated segments (the oldest go), but none whose records the
 * limits may still read (younger than keep_seconds). */
static void audit_retain(struct audit_log *log)
{
	struct audit_segment *segs;
	size_t n;

	if (log->opt.keep_segments == 0 || audit_segments_list(log->path, &segs, &n) != SG_OK)
		return;
	for (size_t i = 0; i + log->opt.keep_segments < n; i++)
		if (audit_segment_last_time(segs[i].file) >=
		    audit_wall_now() - log->opt.keep_seconds)
			break; /* the limits still read it (and those after it) */
		else if (unlink(segs[i].file) != 0)
			sg_log("audit: cannot remove old segment %s: %s", segs[i].file,
			       strerror(errno));
	audit_segments_free(segs, n);
}

/* With log->mu and the exclusive file lock held: the active segment becomes
 * path.<its first seq>, and a new one starts. */
static int audit_rotate_locked(struct audit_log *log)
{
	char *rotated;
	int r, fd;
	struct stat st;

	if ((r = audit_sync_now(log)) != SG_OK)
		return r;
	rotated = audit_segment_name(log->path, log->segment);
	if (rotated == NULL)
		return sg_fail(SG_ERR_NOMEM, "audit log");
	if (access(rotated, F_OK) == 0) {
		r = sg_fail(SG_ERR_EXISTS, "audit segment %s exists already", rotated);
		goto out;
	}
	if (rename(log->path, rotated) != 0) {
		r = sg_fail(SG_ERR_IO, "rotating the audit log to %s: %s", rotated,
			    strerror(errno));
		goto out;
	}
	fd = open(log->path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 || fstat(fd, &st) != 0) {
		r = sg_fail(SG_ERR_IO, "starting a new audit segment %s: %s", log->path,
			    strerror(errno));
		if (fd >= 0)
			close(fd);
		goto out;
	}
	if ((r = audit_fsync_dir(log->path)) != SG_OK) {
		close(fd);
		goto out;
	}
	r = audit_fd_replace(log, fd, st.st_ino);
	log->segment = log->head.seq + 1;
	audit_retain(log);
out:
	free(rotated);
	return r;
}

int audit_append(struct audit_log *log, json_t *rec, char audit_id[AUDIT_ID_LEN + 1])
{
	return audit_append_gated(log, rec, NULL, NULL, NULL, audit_id);
}

int audit_append_gated(struct audit_log *log, json_t *rec, const char *given_id, audit_gate_fn gate,
		       void *gate_ctx, char audit_id[AUDIT_ID_LEN + 1])
{
	static const char *const chain_keys[] = {"seq", "time", "audit_id", "prev"};
	char *text;
	size_t len;
	int r;

	/* the chain's own fields come last, from the log: a record that brings one would write
	 * the key twice */
	for (size_t i = 0; i < sizeof(chain_keys) / sizeof(chain_keys[0]); i++)
		if (json_object_get(rec, chain_keys[i]) != NULL)
			return sg_fail(SG_ERR_INVALID_ARGUMENT,
				       "an audit record may not set '%s': the log writes it",
				       chain_keys[i]);
	text = json_dumps(rec, JSON_COMPACT | JSON_ENSURE_ASCII);
	len = text != NULL ? strlen(text) : 0;
	if (text == NULL || len < 2 || text[0] != '{' || text[len - 1] != '}') {
		free(text);
		return sg_fail(SG_ERR_NOMEM, "building the audit record");
	}
	/* its members, between the braces */
	r = audit_append_members(log, text + 1, len - 2, given_id, gate, gate_ctx, audit_id);
	free(text);
	return r;
}

static int audit_append_text(struct audit_log *log, const char *members, size_t members_len,
			     const char *given_id, audit_gate_fn gate, void *gate_ctx,
			     bool announced, char audit_id[AUDIT_ID_LEN + 1]);

void audit_announce(struct audit_log *log)
{
	atomic_fetch_add(&log->announced, 1);
}

/* With log->mu held: an announced record was written, or will not be. */
static void audit_arrived_locked(struct audit_log *log)
{
	atomic_fetch_sub(&log->announced, 1);
	log->arrived++;
	if (log->gathering)
		pthread_cond_broadcast(&log->gather_cv);
}

void audit_announce_cancel(struct audit_log *log)
{
	pthread_mutex_lock(&log->mu);
	audit_arrived_locked(log);
	pthread_mutex_unlock(&log->mu);
}

/* With log->mu held, by the thread about to sync: when records were announced (their
 * signatures are being made), it waits until as many have arrived, or gather_max_us passed, so that
 * one fdatasync covers them too. A sync costs about as much CPU as the rest of a record's path;
 * waiting for those already coming trades a fraction of one signature's time of latency for fewer
 * syncs, and never waits for requests that come later. Meanwhile syncing is set: the others wait
 * for this sync. */
static void audit_gather(struct audit_log *log)
{
	unsigned coming = atomic_load(&log->announced);
	uint64_t target;
	struct timespec deadline;

	if (log->opt.gather_max_records > 0 && coming > log->opt.gather_max_records)
		coming = log->opt.gather_max_records;
	target = log->arrived + coming;
	if (coming == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += (time_t)(log->opt.gather_max_us / 1000000);
	deadline.tv_nsec += (long)(log->opt.gather_max_us % 1000000) * 1000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	log->syncing = true;
	log->gathering = true;
	while (log->arrived < target && log->sync_error == 0)
		if (pthread_cond_timedwait(&log->gather_cv, &log->mu, &deadline) != 0)
			break; /* (ETIMEDOUT) */
	log->gathering = false;
	log->syncing = false;
}

int audit_append_members(struct audit_log *log, const char *members, size_t members_len,
			 const char *given_id, audit_gate_fn gate, void *gate_ctx,
			 char audit_id[AUDIT_ID_LEN + 1])
{
	return audit_append_text(log, members, members_len, given_id, gate, gate_ctx, false,
				 audit_id);
}

int audit_append_announced(struct audit_log *log, const char *members, size_t members_len,
			   audit_gate_fn gate, void *gate_ctx, char audit_id[AUDIT_ID_LEN + 1])
{
	return audit_append_text(log, members, members_len, NULL, gate, gate_ctx, true, audit_id);
}

static int audit_append_text(struct audit_log *log, const char *members, size_t members_len,
			     const char *given_id, audit_gate_fn gate, void *gate_ctx,
			     bool announced, char audit_id[AUDIT_ID_LEN + 1])
{
	char now[32], seq[24];
	struct jsonw line;
	uint64_t my_gen = 0;
	double now_s;
	size_t len;
	int r = SG_OK, seq_len;
	bool gated_out = false, file_locked = true;

	jsonw_init(&line);
	if (given_id != NULL)
		snprintf(audit_id, AUDIT_ID_LEN + 1, "%s", given_id);
	else
		audit_new_id(audit_id);
	if (strlen(audit_id) != AUDIT_ID_LEN) {
		if (announced)
			audit_announce_cancel(log);
		return sg_fail(SG_ERR_INTERNAL, "audit id");
	}

	pthread_mutex_lock(&log->file_mu);
	pthread_mutex_lock(&log->mu);
	/* after a failed sync, what the file holds is not known (Linux drops the failed pages and
	 * a later sync would succeed without them): nothing more is written until a restart
	 * reopens the log and reads its tail again */
	if (log->sync_error != 0) {
		r = sg_fail(
			SG_ERR_IO,
			"the audit log %s failed to sync (%s); check the disk and restart signerd",
			log->path, strerror(log->sync_error));
		goto unlock;
	}
	if (log->broken[0] != '\0') {
		r = sg_fail(SG_ERR_MALFORMED, "%s", log->broken);
		goto unlock;
	}
	if (flock(log->lock_fd, LOCK_EX) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: flock: %s", log->path, strerror(errno));
		goto unlock;
	}
	/* another process (signerctl, another signerd) may have appended since */
	if ((r = audit_catch_up_locked(log)) != SG_OK)
		goto unflock;
	if (log->seen_size > log->end && ftruncate(log->fd, log->end) != 0) {
		/* a torn line of a writer that crashed: never acknowledged */
		r = sg_fail(SG_ERR_IO, "audit log %s: a torn line: %s", log->path, strerror(errno));
		goto unflock;
	}
	if ((uint64_t)log->end >= log->opt.segment_bytes && (r = audit_rotate_locked(log)) != SG_OK)
		goto unflock;
	if (gate != NULL && (r = gate(gate_ctx)) != SG_OK) {
		gated_out = true;
		goto unflock;
	}
	audit_now(now, &now_s);
	/* the members, then the chain's own: as json_dumps would write the object with them set
	 * last (JSON_COMPACT | JSON_ENSURE_ASCII) */
	jsonw_append(&line, "{", 1);
	jsonw_append(&line, members, members_len);
	if (members_len > 0)
		jsonw_append(&line, ",", 1);
	seq_len =
		snprintf(seq, sizeof(seq), "\"seq\":%llu", (unsigned long long)(log->head.seq + 1));
	jsonw_append(&line, seq, (size_t)seq_len);
	jsonw_append(&line, ",\"time\":\"", 9);
	jsonw_append(&line, now, strlen(now));
	jsonw_append(&line, "\",\"audit_id\":", 13);
	jsonw_string(&line, audit_id, AUDIT_ID_LEN);
	jsonw_append(&line, ",\"prev\":\"", 9);
	jsonw_append(&line, log->prev, AUDIT_HASH_HEX);
	jsonw_append(&line, "\"}\n", 3);
	if (line.failed) {
		r = sg_fail(SG_ERR_NOMEM, "building the audit record");
		goto unflock;
	}
	len = line.len - 1; /* the record, without its newline */
	if (len + 1 > AUDIT_LINE_MAX) {
		r = sg_fail(SG_ERR_OVERFLOW, "audit record of %zu bytes", len);
		goto unflock;
	}
	if ((r = audit_write_line(log, line.buf, len + 1)) != SG_OK)
		goto unflock;
	log->head.seq++;
	crypto_hash_sha256(log->head.hash, (const uint8_t *)line.buf, len);
	log->head.time = now_s;
	log->head.pos = (struct audit_pos){.segment = log->segment, .offset = (uint64_t)log->end};
	audit_hash_hex(log->head.hash, log->prev);
	log->end += (off_t)(len + 1);
	my_gen = ++log->written_gen;
unflock:
	(void)flock(log->lock_fd, LOCK_UN);
	pthread_mutex_unlock(&log->file_mu);
	file_locked = false;
	if (announced) { /* written (or not): the gathering sync need not wait for it */
		audit_arrived_locked(log);
		announced = false;
	}
	if (r != SG_OK)
		goto unlock;

	/* group commit: one thread syncs for everyone written so far (after gathering those
	 * announced); the others wait for it */
	while (log->synced_gen < my_gen && r == SG_OK) {
		if (!log->syncing) {
			audit_gather(log);
			(void)audit_sync_now(log);
		} else
			pthread_cond_wait(&log->synced_cv, &log->mu);
		/* one failed sync fails every record not yet known to be on disk */
		if (log->synced_gen < my_gen && log->sync_error != 0)
			r = sg_fail(SG_ERR_IO, "syncing the audit log %s: %s", log->path,
				    strerror(log->sync_error));
	}
unlock:
	if (announced)
		audit_arrived_locked(log);
	if (!gated_out) {
		log->writable = r == SG_OK;
		if (r != SG_OK)
			log->failures++;
	}
	pthread_mutex_unlock(&log->mu);
	if (file_locked)
		pthread_mutex_unlock(&log->file_mu);
	jsonw_free(&line);
	return r;
}

int audit_catch_up(struct audit_log *log)
{
	struct stat st;
	int r = SG_OK;

	pthread_mutex_lock(&log->file_mu);
	pthread_mutex_lock(&log->mu);
	if (log->broken[0] != '\0') {
		r = sg_fail(SG_ERR_MALFORMED, "%s", log->broken);
		goto out;
	}
	/* nothing new, and no rotation: no lock needed */
	if (fstat(log->fd, &st) == 0 && st.st_size == log->end) {
		struct stat sp;

		if (stat(log->path, &sp) == 0 && sp.st_ino == log->ino)
			goto out;
	}
	if (flock(log->lock_fd, LOCK_SH) != 0) {
		r = sg_fail(SG_ERR_IO, "audit log %s: flock: %s", log->path, strerror(errno));
		goto out;
	}
	r = audit_catch_up_locked(log);
	(void)flock(log->lock_fd, LOCK_UN);
out:
	if (r != SG_OK && log->broken[0] != '\0')
		log->writable = false;
	pthread_mutex_unlock(&log->mu);
	pthread_mutex_unlock(&log->file_mu);
	return r;
}

void audit_head_now(struct audit_log *log, struct audit_head *out)
{
	pthread_mutex_lock(&log->mu);
	*out = log->head;
	pthread_mutex_unlock(&log->mu);
}

int audit_head_durable(struct audit_log *log, struct audit_head *out)
{
	int r = SG_OK;

	pthread_mutex_lock(&log->mu);
	if (log->durable.seq != log->head.seq)
		r = audit_sync_now(log);
	*out = log->durable;
	pthread_mutex_unlock(&log->mu);
	return r;
}

bool audit_writable(struct audit_log *log)
{
	bool w;

	pthread_mutex_lock(&log->mu);
	w = log->writable && log->broken[0] == '\0';
	pthread_mutex_unlock(&log->mu);
	return w;
}

bool audit_broken(struct audit_log *log)
{
	bool b;

	pthread_mutex_lock(&log->mu);
	b = log->broken[0] != '\0' || log->sync_error != 0;
	pthread_mutex_unlock(&log->mu);
	return b;
}

void audit_sync_stats(struct audit_log *log, uint64_t *syncs, uint64_t *records)
{
	pthread_mutex_lock(&log->mu);
	*syncs = log->syncs;
	*records = log->synced_gen;
	pthread_mutex_unlock(&log->mu);
}

uint64_t audit_failures(struct audit_log *log)
{
	uint64_t n;

	pthread_mutex_lock(&log->mu);
	n = log->failures;
	pthread_mutex_unlock(&log->mu);
	return n;
}

int audit_side_lock(struct audit_log *log)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};

	pthread_mutex_lock(&log->side_mu);
	/* an open-file-description lock on byte 0 of the lock file: independent of the flock
	 * appends take, exclusive between processes and between handles */
	while (fcntl(log->lock_fd, F_OFD_SETLKW, &fl) != 0) {
		if (errno == EINTR)
			continue;
		pthread_mutex_unlock(&log->side_mu);
		return sg_fail(SG_ERR_IO, "audit log %s: locking: %s", log->lock_path,
			       strerror(errno));
	}
	return SG_OK;
}

void audit_side_unlock(struct audit_log *log)
{
	struct flock fl = {.l_type = F_UNLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};

	(void)fcntl(log->lock_fd, F_OFD_SETLK, &fl);
	pthread_mutex_unlock(&log->side_mu);
}
