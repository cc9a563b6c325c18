#include "bench_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void bench_conn_open(struct bench_conn *c, const char *dir, const char *client, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	char cert[512], key[512], ca[512];
	int one = 1;

	c->up = 0;
	snprintf(cert, sizeof(cert), "%s/pki/clients/%s.pem", dir, client);
	snprintf(key, sizeof(key), "%s/pki/clients/%s.key", dir, client);
	snprintf(ca, sizeof(ca), "%s/pki/ca.pem", dir);
	gnutls_certificate_allocate_credentials(&c->cred);
	gnutls_certificate_set_x509_trust_file(c->cred, ca, GNUTLS_X509_FMT_PEM);
	gnutls_certificate_set_x509_key_file(c->cred, cert, key, GNUTLS_X509_FMT_PEM);
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0)
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	gnutls_init(&c->s, GNUTLS_CLIENT);
	gnutls_set_default_priority(c->s);
	gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->cred);
	gnutls_server_name_set(c->s, GNUTLS_NAME_DNS, "localhost", 9);
	gnutls_session_set_verify_cert(c->s, "localhost", 0);
	if (c->fd >= 0 && connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		gnutls_transport_set_int(c->s, c->fd);
		c->up = gnutls_handshake(c->s) >= 0;
	}
}

int bench_conn_exchange(struct bench_conn *c, const char *req, size_t req_len)
{
	char buf[8192], *hdr_end = NULL;
	size_t got = 0;
	long clen = -1;

	if (gnutls_record_send(c->s, req, req_len) != (ssize_t)req_len)
		return -1;
	while (hdr_end == NULL || (long)(got - (size_t)(hdr_end + 4 - buf)) < clen) {
		ssize_t n = gnutls_record_recv(c->s, buf + got, sizeof(buf) - 1 - got);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		if (hdr_end == NULL && (hdr_end = strstr(buf, "\r\n\r\n")) != NULL) {
			char *cl = strcasestr(buf, "Content-Length:");

			clen = cl != NULL ? strtol(cl + 15, NULL, 10) : 0;
		}
	}
	return strncmp(buf, "HTTP/1.1 200", 12) == 0;
}

void bench_conn_close(struct bench_conn *c)
{
	if (c->up)
		gnutls_bye(c->s, GNUTLS_SHUT_RDWR);
	gnutls_deinit(c->s);
	if (c->fd >= 0)
		close(c->fd);
	gnutls_certificate_free_credentials(c->cred);
	c->up = 0;
	c->fd = -1;
}
