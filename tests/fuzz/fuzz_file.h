/* For the targets whose parser reads a file: the input written to one file of a private
 * directory made on the first run (the same path every run, so that messages naming it compare
 * equal), removed with its directory when the fuzzer exits. */
#ifndef SIGNER_TESTS_FUZZ_FILE_H
#define SIGNER_TESTS_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_file_dir[64], fuzz_file_path[128];

static void fuzz_file_remove(void)
{
	(void)unlink(fuzz_file_path);
	(void)rmdir(fuzz_file_dir);
}

static const char *fuzz_file(const char *name, const uint8_t *data, size_t size)
{
	FILE *f;

	if (fuzz_file_path[0] == '\0') {
		snprintf(fuzz_file_dir, sizeof(fuzz_file_dir), "/tmp/signer-fuzz.XXXXXX");
		if (mkdtemp(fuzz_file_dir) == NULL)
			abort();
		snprintf(fuzz_file_path, sizeof(fuzz_file_path), "%s/%s", fuzz_file_dir, name);
		atexit(fuzz_file_remove);
	}
	f = fopen(fuzz_file_path, "wb");
	if (f == NULL || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	return fuzz_file_path;
}

#endif
