/* For the targets whose parser reads a file: the input written to one file of a private
 * directory made on the first run (the same path every run, so that messages naming it compare
 * equal), removed with its directory when the fuzzer exits. */
#ifndef SIGNER_TESTS_FUZZ_FILE_H
#define SIGNER_TESTS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_file_dir[256], fuzz_file_path[320];

/* A private directory under $TMPDIR (tools/fuzz points it into its work directory, which goes
 * with all it holds: a fuzzer that stops on a crash runs no atexit handler), else /tmp. */
static inline void fuzz_temp_dir(char *out, size_t cap)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(out, cap, "%s/signer-fuzz.XXXXXX", tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(out) == NULL)
		abort();
}

static inline void fuzz_file_remove(void)
{
	(void)unlink(fuzz_file_path);
	(void)rmdir(fuzz_file_dir);
}

static inline const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	FILE *f;

	if (fuzz_file_path[0] == '\0') {
		fuzz_temp_dir(fuzz_file_dir, sizeof(fuzz_file_dir));
		snprintf(fuzz_file_path, sizeof(fuzz_file_path), "%s/%s", fuzz_file_dir, name);
		atexit(fuzz_file_remove);
	}
	f = fopen(fuzz_file_path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return fuzz_file_path;
}

#endif
