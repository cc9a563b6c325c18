#include "hsm_fixture.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

static int write_secret(const char *path)
{
	unsigned char raw[16];
	char hex[33];
	int fd;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0400);
	if (fd < 0)
		return -1;
	if (write(fd, hex, 32) != 32) {
		close(fd);
		return -1;
	}
	sodium_memzero(hex, sizeof(hex));
	return close(fd);
}

int hsm_fixture_create(struct hsm_fixture *fx, const char *label, unsigned sessions)
{
	char conf[160];
	FILE *f;

	if (sodium_init() < 0)
		return -1;
	memset(fx, 0, sizeof(*fx));
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/signer-hsm-XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->tokendir, sizeof(fx->tokendir), "%s/tokens", fx->dir);
	snprintf(fx->pin_file, sizeof(fx->pin_file), "%s/pin", fx->dir);
	snprintf(fx->so_pin_file, sizeof(fx->so_pin_file), "%s/so-pin", fx->dir);
	snprintf(conf, sizeof(conf), "%s/softhsm2.conf", fx->dir);
	snprintf(fx->label, sizeof(fx->label), "%s", label);
	if (mkdir(fx->tokendir, 0700) != 0)
		return -1;
	f = fopen(conf, "w");
	if (f == NULL)
		return -1;
	fprintf(f, "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n",
		fx->tokendir);
	fclose(f);
	setenv("SOFTHSM2_CONF", conf, 1);
	if (write_secret(fx->pin_file) != 0 || write_secret(fx->so_pin_file) != 0)
		return -1;
	if (ks_token_init(SIGNER_DEFAULT_PKCS11_MODULE, label, fx->so_pin_file, fx->pin_file) !=
	    0) {
		fprintf(stderr, "token init: %s\n", sg_errmsg(SG_ERR_PKCS11));
		return -1;
	}
	fx->config = (struct ks_config){
		.module_path = SIGNER_DEFAULT_PKCS11_MODULE,
		.token_label = fx->label,
		.pin_file = fx->pin_file,
		.sessions = sessions,
	};
	return 0;
}

void hsm_fixture_destroy(struct hsm_fixture *fx)
{
	char cmd[128];

	if (fx->dir[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fx->dir);
}

CK_FUNCTION_LIST_PTR hsm_fixture_functions(void)
{
	void *dl = dlopen(SIGNER_DEFAULT_PKCS11_MODULE, RTLD_NOW | RTLD_LOCAL);
	CK_C_GetFunctionList get_list;
	CK_FUNCTION_LIST_PTR f = NULL;

	if (dl == NULL)
		return NULL;
	*(void **)&get_list = dlsym(dl, "C_GetFunctionList");
	if (get_list == NULL || get_list(&f) != CKR_OK)
		return NULL;
	return f; /* the handle stays open: the keystore holds the module too */
}

CK_SLOT_ID hsm_fixture_slot(const struct hsm_fixture *fx)
{
	CK_FUNCTION_LIST_PTR f = hsm_fixture_functions();
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16;
	CK_UTF8CHAR want[32];
	size_t len = strlen(fx->label);

	memset(want, ' ', 32);
	memcpy(want, fx->label, len);
	if (f == NULL || f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return (CK_SLOT_ID)-1;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_TOKEN_INFO info;

		if (f->C_GetTokenInfo(slots[i], &info) == CKR_OK &&
		    memcmp(info.label, want, 32) == 0)
			return slots[i];
	}
	return (CK_SLOT_ID)-1;
}

size_t hsm_fixture_read_pin(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return 0;
	n = read(fd, buf, cap);
	close(fd);
	return n < 0 ? 0 : (size_t)n;
}
