#include "common/encoding.h"

#include <stdlib.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

int hex_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	if (n > (SIZE_MAX - 1) / 2 || outsz < 2 * n + 1)
		return sg_fail(SG_ERR_OVERFLOW, "hex output needs %zu bytes", n * 2 + 1);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex_digits[in[i] >> 4];
		out[2 * i + 1] = hex_digits[in[i] & 0x0f];
	}
	out[2 * n] = '\0';
	return SG_OK;
}

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

int hex_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	if (len % 2 != 0)
		return sg_fail(SG_ERR_MALFORMED, "hex has an odd number of digits (%zu)", len);
	if (len / 2 > outcap)
		return sg_fail(SG_ERR_OVERFLOW, "hex decodes to %zu bytes, at most %zu fit",
			       len / 2, outcap);
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_value(in[i]);
		int lo = hex_value(in[i + 1]);

		if (hi < 0 || lo < 0)
			return sg_fail(SG_ERR_MALFORMED, "invalid hex digit at position %zu",
				       hi < 0 ? i : i + 1);
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*outlen = len / 2;
	return SG_OK;
}

int hex_decode_0x(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	if (len < 2 || in[0] != '0' || (in[1] != 'x' && in[1] != 'X'))
		return sg_fail(SG_ERR_MALFORMED, "hex must start with 0x");
	return hex_decode(in + 2, len - 2, out, outcap, outlen);
}

static const char b58_alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/* Base58 is a big-endian base conversion: repeated multiply-and-add over a byte buffer.
 * Quadratic, fine for keys, signatures and addresses (inputs are capped below). */
#define B58_MAX_INPUT 1024

int b58_encode(const uint8_t *in, size_t n, char *out, size_t outsz)
{
	size_t zeros = 0, size, high, i, j;
	uint8_t *digits;
	int r = SG_OK;

	if (n > B58_MAX_INPUT)
		return sg_fail(SG_ERR_OVERFLOW, "base58 input of %zu bytes exceeds %d", n,
			       B58_MAX_INPUT);
	while (zeros < n && in[zeros] == 0)
		zeros++;
	size = (n - zeros) * 138 / 100 + 1;
	digits = calloc(size, 1);
	if (digits == NULL)
		return sg_fail(SG_ERR_NOMEM, "base58 encode");
	high = size;
	for (i = zeros; i < n; i++) {
		unsigned carry = in[i];

		for (j = size; j > 0 && (carry != 0 || j > high); j--) {
			carry += 256u * digits[j - 1];
			digits[j - 1] = (uint8_t)(carry % 58);
			carry /= 58;
		}
		high = j;
	}
	for (j = 0; j < size && digits[j] == 0; j++)
		;
	if (zeros + (size - j) + 1 > outsz) {
		r = sg_fail(SG_ERR_OVERFLOW, "base58 output needs %zu bytes",
			    zeros + (size - j) + 1);
		goto out;
	}
	memset(out, '1', zeros);
	for (i = zeros; j < size; i++, j++)
		out[i] = b58_alphabet[digits[j]];
	out[i] = '\0';
out:
	free(digits);
	return r;
}

static int b58_value(char ch)
{
	const char *p = ch == '\0' ? NULL : strchr(b58_alphabet, ch);

	return p == NULL ? -1 : (int)(p - b58_alphabet);
}

int b58_decode(const char *in, size_t len, uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t zeros = 0, size, i, j;
	uint8_t *bytes;
	int r = SG_OK;

	if (len > B58_MAX_INPUT * 2)
		return sg_fail(SG_ERR_OVERFLOW, "base58 text of %zu characters is too long", len);
	while (zeros < len && in[zeros] == '1')
		zeros++;
	size = (len - zeros) * 733 / 1000 + 1;
	bytes = calloc(size, 1);
	if (bytes == NULL)
		return sg_fail(SG_ERR_NOMEM, "base58 decode");
	for (i = zeros; i < len; i++) {
		int v = b58_value(in[i]);
		unsigned carry;

		if (v < 0) {
			r = sg_fail(SG_ERR_MALFORMED, "invalid base58 character at position %zu",
				    i);
			goto out;
		}
		carry = (unsigned)v;
		for (j = size; j > 0; j--) {
			carry += 58u * bytes[j - 1];
			bytes[j - 1] = (uint8_t)(carry & 0xff);
			carry >>= 8;
		}
	}
	for (j = 0; j < size && bytes[j] == 0; j++)
		;
	if (zeros + (size - j) > outcap) {
		r = sg_fail(SG_ERR_OVERFLOW, "base58 decodes to %zu bytes, at most %zu fit",
			    zeros + (size - j), outcap);
		goto out;
	}
	memset(out, 0, zeros);
	memcpy(out + zeros, bytes + j, size - j);
	*outlen = zeros + (size - j);
out:
	free(bytes);
	return r;
}
