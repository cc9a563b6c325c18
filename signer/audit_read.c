/* Reading a whole audit log: replay from a record or a horizon (start-up), and verification
 * of every segment (signerctl audit verify). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_internal.h"

/* ---- reading a whole log ----------------------------------------------------------------- */

/* One segment file read line by line. */
struct audit_reader {
	FILE *f;
	const char *file;
	char *line;
	size_t cap;
	unsigned long line_no;
	uint64_t offset; /* where the line just read starts */
	uint64_t next;   /* where the next starts */
};

/* Opens file, or reads fd (>= 0: a descriptor opened earlier, which follows the file through
 * a rotation's rename and a removal). */
static int audit_reader_open(struct audit_reader *rd, const char *file, int fd, uint64_t offset)
{
	memset(rd, 0, sizeof(*rd));
	rd->file = file;
	if (fd >= 0) {
		int own = dup(fd);

		rd->f = own >= 0 ? fdopen(own, "r") : NULL;
		if (rd->f == NULL && own >= 0)
			close(own);
		if (rd->f == NULL)
			return sg_fail(SG_ERR_IO, "%s: %s", file, strerror(errno));
		rewind(rd->f);
	} else {
		rd->f = fopen(file, "re");
	}
	if (rd->f == NULL)
		return sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO, "%s: %s", file,
			       strerror(errno));
	if (offset > 0 && fseeko(rd->f, (off_t)offset, SEEK_SET) != 0) {
		fclose(rd->f);
		rd->f = NULL;
		return sg_fail(SG_ERR_IO, "%s: %s", file, strerror(errno));
	}
	rd->next = offset;
	return SG_OK;
}

/* The next line without its newline: 1, 0 at the end, or an error (a line torn or too long). */
static int audit_reader_next(struct audit_reader *rd, size_t *len)
{
	ssize_t n = getline(&rd->line, &rd->cap, rd->f);

	if (n <= 0) {
		if (ferror(rd->f))
			return sg_fail(SG_ERR_IO, "%s: %s", rd->file, strerror(errno));
		return 0;
	}
	rd->line_no++;
	rd->offset = rd->next;
	rd->next += (uint64_t)n;
	if (rd->line[n - 1] != '\n')
		return sg_fail(SG_ERR_TRUNCATED, "%s:%lu: the last line is torn (no newline)",
			       rd->file, rd->line_no);
	if ((size_t)n > AUDIT_LINE_MAX)
		return sg_fail(SG_ERR_MALFORMED, "%s:%lu: the line is over %d bytes", rd->file,
			       rd->line_no, AUDIT_LINE_MAX);
	rd->line[--n] = '\0';
	*len = (size_t)n;
	return 1;
}

static void audit_reader_close(struct audit_reader *rd)
{
	if (rd->f != NULL)
		fclose(rd->f);
	free(rd->line);
	rd->f = NULL;
	rd->line = NULL;
}

/* Every segment of the log at path, oldest first, the active one last (first 0). */
static int audit_all_segments(const char *path, struct audit_segment **out, size_t *n)
{
	struct audit_segment *segs, *grown;
	int r = audit_segments_list(path, &segs, n);

	if (r != SG_OK)
		return r;
	grown = realloc(segs, (*n + 1) * sizeof(*segs));
	if (grown == NULL) {
		audit_segments_free(segs, *n);
		return sg_fail(SG_ERR_NOMEM, "audit log");
	}
	segs = grown;
	segs[*n].first = 0;
	segs[*n].file = strdup(path);
	if (segs[*n].file == NULL) {
		audit_segments_free(segs, *n);
		return sg_fail(SG_ERR_NOMEM, "audit log");
	}
	(*n)++;
	*out = segs;
	return SG_OK;
}

/* Reads segments [start, n) of segs from offset (in the first) on: the chain checked from
 * (seq, prev), each record after the first skip ones handed to fn. */
struct audit_walk {
	bool from_start;               /* the first record read must be record 1 */
	uint64_t seq;                  /* the record before the next: 0 when unknown (no check) */
	char prev[AUDIT_HASH_HEX + 1]; /* its hash; "" when not to be checked */
	struct audit_head last;
	uint64_t first_seq;
	double first_time;
	uint64_t records;
	uint64_t check_seq;
	const uint8_t *check_hash;
	const uint8_t *first_hash; /* when set, the first record read must have this hash */
	bool check_found;
	unsigned long bad_line;
	const char *bad_file;
};

static int audit_walk_segment(struct audit_walk *w, const struct audit_segment *seg, int fd,
			      uint64_t offset, bool first_is_known, audit_record_fn fn, void *ctx)
{
	struct audit_reader rd;
	uint64_t in_segment = 0;
	size_t len = 0;
	int r, more;

	if ((r = audit_reader_open(&rd, seg->file, fd, offset)) != SG_OK)
		return r;
	while ((more = audit_reader_next(&rd, &len)) == 1) {
		json_t *rec;
		uint64_t seq;
		uint8_t hash[AUDIT_HASH_LEN];
		const char *prev;

		r = audit_line_parse(rd.line, len, &rec, &seq, hash);
		if (r != SG_OK) {
			r = sg_fail(SG_ERR_MALFORMED, "%s:%lu: %s", seg->file, rd.line_no,
				    sg_errmsg(r));
			break;
		}
		prev = json_string_value(json_object_get(rec, "prev"));
		if (w->records == 0 && w->from_start && seq != 1)
			r = sg_fail(SG_ERR_MALFORMED, "%s:%lu: seq is %llu, not 1", seg->file,
				    rd.line_no, (unsigned long long)seq);
		else if (in_segment == 0 && offset == 0 && seg->first != UINT64_MAX &&
			 seq != seg->first)
			r = sg_fail(
				SG_ERR_MALFORMED,
				"%s:%lu: the segment's first record is %llu, not %llu as its name "
				"says",
				seg->file, rd.line_no, (unsigned long long)seq,
				(unsigned long long)seg->first);
		else if (w->seq != 0 && seq != w->seq + 1)
			r = sg_fail(SG_ERR_MALFORMED, "%s:%lu: seq is %llu, not %llu", seg->file,
				    rd.line_no, (unsigned long long)seq,
				    (unsigned long long)(w->seq + 1));
		else if (w->prev[0] != '\0' && strcmp(prev, w->prev) != 0)
			r = sg_fail(SG_ERR_MALFORMED,
				    "%s:%lu: the chain is broken: prev does not match the hash of "
				    "record %llu",
				    seg->file, rd.line_no, (unsigned long long)(seq - 1));
		if (r != SG_OK) {
			json_decref(rec);
			break;
		}
		if (w->records == 0 && w->first_hash != NULL &&
		    memcmp(hash, w->first_hash, AUDIT_HASH_LEN) != 0) {
			json_decref(rec);
			r = sg_fail(
				SG_ERR_MALFORMED,
				"%s:%lu: record %llu is not the one the checkpoint names (its hash "
				"differs)",
				seg->file, rd.line_no, (unsigned long long)seq);
			break;
		}
		if (w->records == 0) {
			w->first_seq = seq;
			w->first_time =
				audit_time_parse(json_string_value(json_object_get(rec, "time")));
		}
		if (w->check_seq != 0 && seq == w->check_seq) {
			if (memcmp(hash, w->check_hash, AUDIT_HASH_LEN) != 0) {
				json_decref(rec);
				r = sg_fail(
					SG_ERR_MALFORMED,
					"%s:%lu: record %llu is not the one the anchor names (its "
					"hash differs): the log was rewritten",
					seg->file, rd.line_no, (unsigned long long)seq);
				break;
			}
			w->check_found = true;
		}
		w->seq = seq;
		audit_hash_hex(hash, w->prev);
		w->last.seq = seq;
		memcpy(w->last.hash, hash, AUDIT_HASH_LEN);
		w->last.time = audit_time_parse(json_string_value(json_object_get(rec, "time")));
		w->last.pos = (struct audit_pos){.segment = seg->first, .offset = rd.offset};
		w->records++;
		in_segment++;
		if (fn != NULL && !(first_is_known && w->records == 1))
			fn(ctx, rec, w->last.time);
		json_decref(rec);
	}
	if (r == SG_OK && more < 0)
		r = more;
	if (r != SG_OK) {
		w->bad_line = rd.line_no;
		w->bad_file = seg->file;
	}
	audit_reader_close(&rd);
	return r;
}

/* The active segment's first seq, for a list from audit_all_segments. */
static int audit_fill_active_first(struct audit_segment *segs, size_t n)
{
	int fd = open(segs[n - 1].file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), r;

	if (fd < 0) {
		if (errno == ENOENT)
			return sg_fail(SG_ERR_NOT_FOUND, "%s: %s", segs[n - 1].file,
				       strerror(errno));
		return sg_fail(SG_ERR_IO, "%s: %s", segs[n - 1].file, strerror(errno));
	}
	r = audit_first_seq(fd, &segs[n - 1].first);
	close(fd);
	if (r == SG_OK && segs[n - 1].first == 0)
		segs[n - 1].first = UINT64_MAX; /* empty */
	return r;
}

int audit_replay(const char *path, const struct audit_replay *how, struct audit_replay_result *res)
{
	struct audit_segment *segs = NULL;
	struct audit_walk w = {.check_seq = how->check_seq, .check_hash = how->check_hash};
	size_t n = 0, start = 0;
	uint64_t offset = 0;
	int r;

	memset(res, 0, sizeof(*res));
	if ((r = audit_all_segments(path, &segs, &n)) != SG_OK)
		return r;
	if ((r = audit_fill_active_first(segs, n)) != SG_OK)
		goto out;
	if (how->from != NULL) {
		/* from a known record (a checkpoint's): its segment, its offset, its hash */
		bool found = false;

		for (size_t i = 0; i < n && !found; i++)
			if (segs[i].first == how->from->segment) {
				start = i;
				found = true;
			}
		if (!found) {
			r = sg_fail(SG_ERR_NOT_FOUND, "the segment of record %llu is not there",
				    (unsigned long long)how->from_seq);
			goto out;
		}
		offset = how->from->offset;
		w.seq = how->from_seq - 1;
		w.prev[0] = '\0';
		w.first_hash = how->from_hash;
	} else {
		/* from the oldest segment that holds records at or after the horizon, and that
		 * holds the record to check */
		start = n - 1;
		while (start > 0 && audit_segment_last_time(segs[start - 1].file) >= how->horizon)
			start--;
		/* the records before the horizon are there (a segment before, or the log's first
		 * record), or records inside the window may be missing */
		res->covered = start > 0 || segs[0].first == 1;
		while (start > 0 && how->check_seq != 0 && segs[start].first > how->check_seq)
			start--;
		if (start == 0 && segs[0].first == 1) { /* the log from its first record */
			w.from_start = true;
			audit_zero_prev(w.prev);
		}
	}
	for (size_t i = start; i < n; i++) {
		if (segs[i].first == UINT64_MAX)
			break; /* the active segment is empty */
		if (i > start && w.seq != 0 && segs[i].first != w.seq + 1) {
			r = sg_fail(
				SG_ERR_MALFORMED,
				"audit segment %s starts at record %llu, not %llu: a segment is "
				"missing",
				segs[i].file, (unsigned long long)segs[i].first,
				(unsigned long long)(w.seq + 1));
			goto out;
		}
		r = audit_walk_segment(&w, &segs[i], -1, i == start ? offset : 0,
				       how->from != NULL && i == start, how->fn, how->ctx);
		if (r != SG_OK)
			goto out;
		if (how->from != NULL && i == start && w.records > 0 &&
		    w.first_seq != how->from_seq) {
			r = sg_fail(SG_ERR_MALFORMED,
				    "the record at the checkpoint's place is not %llu",
				    (unsigned long long)how->from_seq);
			goto out;
		}
	}
	if (how->from != NULL && (w.records == 0 || w.first_seq != how->from_seq)) {
		r = sg_fail(SG_ERR_NOT_FOUND, "record %llu is not at the checkpoint's place",
			    (unsigned long long)how->from_seq);
		goto out;
	}
	res->last = w.last;
	res->first_seq = w.first_seq;
	res->records = w.records;
	res->check_found = w.check_found;
	res->oldest_time = w.first_time;
	if (how->from == NULL && !res->covered && w.records > 0 && w.first_time < how->horizon)
		res->covered = true; /* the first segment reaches back past the horizon */
	if (how->from == NULL && w.records == 0)
		res->covered = true; /* no records at all: nothing to miss (the anchor says) */
out:
	audit_segments_free(segs, n);
	return r;
}

/* The log a directory holds (its segments, or its active segment beside its lock file): its
 * active segment's path. */
static int audit_path_in_dir(const char *dir, char **out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *found = NULL;
	int r = SG_OK;

	*out = NULL;
	if (d == NULL)
		return sg_fail(SG_ERR_IO, "%s: %s", dir, strerror(errno));
	while ((e = readdir(d)) != NULL && r == SG_OK) {
		const char *dot = strrchr(e->d_name, '.');
		char *base;

		if (dot == NULL || !((strlen(dot + 1) == AUDIT_SEGMENT_DIGITS &&
				      strspn(dot + 1, "0123456789") == AUDIT_SEGMENT_DIGITS) ||
				     strcmp(dot, ".lock") == 0))
			continue;
		base = strndup(e->d_name, (size_t)(dot - e->d_name));
		if (base == NULL) {
			r = sg_fail(SG_ERR_NOMEM, "audit log");
			break;
		}
		if (found == NULL)
			found = base;
		else if (strcmp(found, base) != 0)
			r = sg_fail(SG_ERR_INVALID_ARGUMENT,
				    "%s holds more than one log (%s and %s); name the log's file",
				    dir, found, base);
		if (base != found)
			free(base);
	}
	closedir(d);
	if (r == SG_OK && found == NULL)
		r = sg_fail(SG_ERR_NOT_FOUND, "%s holds no audit log; name the log's file", dir);
	if (r == SG_OK && asprintf(out, "%s/%s", dir, found) < 0) {
		*out = NULL;
		r = sg_fail(SG_ERR_NOMEM, "audit log");
	}
	free(found);
	return r;
}

int audit_verify(const char *path, struct audit_verify_result *res)
{
	memset(res, 0, sizeof(*res));
	return audit_verify_checked(path, res);
}

static int audit_verify_once(const char *path, struct audit_verify_result *res);

/* What a writer changes: the rotated segments and the active segment's size. */
struct audit_shape {
	struct audit_segment *segs;
	size_t n;
	off_t active_size;
	bool ok;
};

static void audit_shape_take(const char *path, struct audit_shape *sh)
{
	struct stat st;

	sh->segs = NULL;
	sh->n = 0;
	sh->ok = audit_segments_list(path, &sh->segs, &sh->n) == SG_OK;
	sh->active_size = stat(path, &st) == 0 ? st.st_size : -1;
}

static bool audit_shape_same(const struct audit_shape *a, const struct audit_shape *b)
{
	if (!a->ok || !b->ok || a->n != b->n || a->active_size != b->active_size)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (a->segs[i].first != b->segs[i].first ||
		    strcmp(a->segs[i].file, b->segs[i].file) != 0)
			return false;
	return true;
}

static void audit_shape_free(struct audit_shape *sh)
{
	if (sh->ok)
		audit_segments_free(sh->segs, sh->n);
	sh->ok = false;
}

int audit_verify_checked(const char *path, struct audit_verify_result *res)
{
	struct audit_verify_result asked = *res;
	char *log_path = NULL;
	struct stat st;
	int r = SG_OK;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		if ((r = audit_path_in_dir(path, &log_path)) != SG_OK)
			return r;
		path = log_path;
	}
	/* a running signerd may append (a line half written shows as torn), rotate and let go
	 * of old segments while this reads without its lock: a failure that comes with a log
	 * changed meanwhile is read again, five times at most */
	for (int attempt = 0; attempt < 5; attempt++) {
		struct audit_shape before, after;
		bool same;

		audit_shape_take(path, &before);
		*res = asked;
		r = audit_verify_once(path, res);
		if (r == SG_OK) {
			audit_shape_free(&before);
			break;
		}
		nanosleep(&(struct timespec){.tv_nsec = 5 * 1000 * 1000}, NULL);
		audit_shape_take(path, &after);
		same = audit_shape_same(&before, &after);
		audit_shape_free(&before);
		audit_shape_free(&after);
		if (same)
			break;
	}
	free(log_path);
	return r;
}

static int audit_verify_once(const char *path, struct audit_verify_result *res)
{
	struct audit_segment *segs = NULL;
	struct audit_walk w = {.check_seq = res->check_seq, .check_hash = res->check_hash};
	size_t n = 0, check;
	int *fds = NULL;
	uint64_t check_seq = res->check_seq;
	uint8_t check_hash[AUDIT_HASH_LEN];
	int r;

	memcpy(check_hash, res->check_hash, AUDIT_HASH_LEN);
	memset(res, 0, sizeof(*res));
	res->check_seq = check_seq;
	memcpy(res->check_hash, check_hash, AUDIT_HASH_LEN);
	w.check_hash = res->check_hash;
	if ((r = audit_all_segments(path, &segs, &n)) != SG_OK)
		goto out;
	check = n;
	/* every segment opened at once, so that a rotation or a removal while this reads changes
	 * nothing it reads: the active segment read is the one whose first record was taken */
	if ((fds = malloc(n * sizeof(*fds))) == NULL) {
		r = sg_fail(SG_ERR_NOMEM, "audit log");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		fds[i] = -1;
	for (size_t i = 0; i < n && r == SG_OK; i++) {
		fds[i] = open(segs[i].file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fds[i] < 0 && !(errno == ENOENT && i == n - 1))
			r = sg_fail(errno == ENOENT ? SG_ERR_NOT_FOUND : SG_ERR_IO, "%s: %s",
				    segs[i].file, strerror(errno));
	}
	if (r != SG_OK)
		goto out;
	if (fds[n - 1] < 0)
		r = sg_fail(SG_ERR_NOT_FOUND, "%s: %s", segs[n - 1].file, strerror(ENOENT));
	else if ((r = audit_first_seq(fds[n - 1], &segs[n - 1].first)) == SG_OK &&
		 segs[n - 1].first == 0)
		segs[n - 1].first = UINT64_MAX; /* empty */
	if (r == SG_ERR_NOT_FOUND && n > 1) {
		check = n - 1; /* no active segment (yet): the rotated ones are checked */
		r = SG_OK;
	}
	if (r != SG_OK)
		goto out;
	/* a log from its start begins with record 1 (prev zeros); when older segments were let
	 * go, the oldest one left is taken as it is (res->first_seq says where it starts) */
	if (segs[0].first == 1) {
		w.from_start = true;
		audit_zero_prev(w.prev);
	}
	for (size_t i = 0; i < check; i++) {
		struct stat sst;

		if (segs[i].first == UINT64_MAX && fstat(fds[i], &sst) == 0 && sst.st_size > 0) {
			/* no whole line, but bytes: a first line torn by a crash */
			r = sg_fail(SG_ERR_TRUNCATED,
				    "%s:1: the last line is torn (no newline; signerd removes it "
				    "when it starts)",
				    segs[i].file);
			w.bad_file = segs[i].file;
			w.bad_line = 1;
			break;
		}
		if (segs[i].first == UINT64_MAX)
			break; /* an empty active segment */
		if (w.seq != 0 && segs[i].first != w.seq + 1) {
			r = sg_fail(
				SG_ERR_MALFORMED,
				"%s: the segment starts at record %llu, but the one before ends at "
				"%llu: records are missing",
				segs[i].file, (unsigned long long)segs[i].first,
				(unsigned long long)w.seq);
			w.bad_file = segs[i].file;
			w.bad_line = 1;
			break;
		}
		if ((r = audit_walk_segment(&w, &segs[i], fds[i], 0, false, NULL, NULL)) != SG_OK)
			break;
		res->segments++;
	}
	if (r != SG_OK) {
		res->bad_line = w.bad_line;
		snprintf(res->bad_segment, sizeof(res->bad_segment), "%s",
			 w.bad_file != NULL ? w.bad_file : path);
	}
	res->records = (unsigned long)w.records;
	res->first_seq = w.first_seq;
	res->last = w.last;
	res->check_found = w.check_found;
out:
	for (size_t i = 0; fds != NULL && i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(fds);
	audit_segments_free(segs, n);
	return r;
}

int audit_verify_file(const char *path, unsigned long *bad_line, unsigned long *lines)
{
	struct audit_verify_result res;
	int r = audit_verify(path, &res);

	*bad_line = res.bad_line;
	*lines = res.records;
	return r;
}
