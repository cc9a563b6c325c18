#include "common/names.h"

#include <string.h>

bool name_valid(const char *s)
{
	size_t len = s == NULL ? 0 : strlen(s);

	if (len == 0 || len > NAME_MAX_LEN || s[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool operation_valid(const char *s)
{
	size_t len = s == NULL ? 0 : strlen(s);

	if (len == 0 || len > OPERATION_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-' || c == '.' || c == ':'))
			return false;
	}
	return true;
}

bool request_id_valid(const char *s)
{
	size_t len = s == NULL ? 0 : strlen(s);

	if (len == 0 || len > REQUEST_ID_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

bool peer_name_valid(const char *s, size_t len, enum peer_name_kind kind)
{
	if (s == NULL || len == 0 || len > PEER_NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c > 0x7e || (c == ' ' && kind == PEER_NAME_URI))
			return false;
	}
	return true;
}
