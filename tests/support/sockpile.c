/* sockpile PORT COUNT MODE SECONDS [SOURCE_ADDRESS]: opens COUNT TCP connections to
 * 127.0.0.1:PORT (from SOURCE_ADDRESS, e.g. 127.0.0.3), does MODE on each, prints "open COUNT"
 * once all are open, holds them SECONDS, then closes them all and prints "closed" (and how many
 * the server had closed already).
 * MODE: silent (sends nothing), partial (the first 11 bytes of a TLS record), hello (a whole
 * TLS ClientHello, then nothing: the handshake stops there), trickle (a TLS record's bytes, one
 * every 0.3 s on each connection, so that it is never idle). For the handshake-deadline tests. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#define SOCKPILE_MAX 1024

/* GnuTLS writes the ClientHello here instead of to a socket, and reads nothing: the handshake
 * stops after its first flight, whatever the server answers. */
static unsigned char hello[16384];
static size_t hello_len;

static ssize_t capture_push(gnutls_transport_ptr_t p, const void *data, size_t len)
{
	(void)p;
	if (hello_len + len > sizeof(hello))
		return -1;
	memcpy(hello + hello_len, data, len);
	hello_len += len;
	return (ssize_t)len;
}

static ssize_t nothing_pull(gnutls_transport_ptr_t p, void *data, size_t len)
{
	(void)p;
	(void)data;
	(void)len;
	errno = EAGAIN;
	return -1;
}

int main(int argc, char **argv)
{
	static const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01,
						0x00, 0x01, 0xfc, 0x03, 0x03};
	static int fds[SOCKPILE_MAX];
	static gnutls_session_t sessions[SOCKPILE_MAX];
	gnutls_certificate_credentials_t cred = NULL;
	struct sockaddr_in to = {.sin_family = AF_INET}, from = {.sin_family = AF_INET};
	int count, closed_by_server = 0;
	double seconds;
	const char *mode;

	if (argc < 5 || (count = atoi(argv[2])) < 1 || count > SOCKPILE_MAX) {
		fprintf(stderr,
			"usage: sockpile PORT COUNT silent|partial|hello SECONDS [SOURCE]\n");
		return 2;
	}
	mode = argv[3];
	seconds = atof(argv[4]);
	to.sin_port = htons((uint16_t)atoi(argv[1]));
	inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
	if (argc > 5 && inet_pton(AF_INET, argv[5], &from.sin_addr) != 1) {
		fprintf(stderr, "sockpile: bad source address %s\n", argv[5]);
		return 2;
	}
	if (strcmp(mode, "hello") == 0) {
		gnutls_global_init();
		gnutls_certificate_allocate_credentials(&cred);
	}
	for (int i = 0; i < count; i++) {
		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0 ||
		    (argc > 5 && bind(fds[i], (struct sockaddr *)&from, sizeof(from)) != 0) ||
		    connect(fds[i], (struct sockaddr *)&to, sizeof(to)) != 0) {
			fprintf(stderr, "sockpile: connection %d: %s\n", i, strerror(errno));
			return 1;
		}
		if (strcmp(mode, "partial") == 0) {
			if (write(fds[i], partial, sizeof(partial)) != (ssize_t)sizeof(partial))
				return 1;
		} else if (strcmp(mode, "hello") == 0) {
			int e;

			gnutls_init(&sessions[i], GNUTLS_CLIENT | GNUTLS_NONBLOCK);
			gnutls_set_default_priority(sessions[i]);
			gnutls_credentials_set(sessions[i], GNUTLS_CRD_CERTIFICATE, cred);
			gnutls_transport_set_push_function(sessions[i], capture_push);
			gnutls_transport_set_pull_function(sessions[i], nothing_pull);
			hello_len = 0;
			e = gnutls_handshake(sessions[i]);
			if (e != GNUTLS_E_AGAIN || hello_len == 0 ||
			    write(fds[i], hello, hello_len) != (ssize_t)hello_len) {
				fprintf(stderr, "sockpile: no ClientHello to send: %s\n",
					gnutls_strerror(e));
				return 1;
			}
		} else if (strcmp(mode, "silent") != 0 && strcmp(mode, "trickle") != 0) {
			fprintf(stderr, "sockpile: unknown mode %s\n", mode);
			return 2;
		}
	}
	printf("open %d\n", count);
	fflush(stdout);
	if (strcmp(mode, "trickle") == 0) {
		for (double waited = 0; waited < seconds; waited += 0.3) {
			struct timespec ts = {0, 300 * 1000 * 1000};

			for (int i = 0; i < count; i++) /* a peer that closed: EPIPE, ignored */
				(void)!send(fds[i],
					    &partial[((int)(waited / 0.3)) % sizeof(partial)], 1,
					    MSG_NOSIGNAL);
			nanosleep(&ts, NULL);
		}
	} else {
		struct timespec ts = {(time_t)seconds,
				      (long)((seconds - (double)(time_t)seconds) * 1e9)};

		nanosleep(&ts, NULL);
	}
	/* a connection the server shut down reads as closed (or reset) */
	for (int i = 0; i < count; i++) {
		struct pollfd p = {.fd = fds[i], .events = POLLIN};
		char buf[4096];

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n;

			while ((n = recv(fds[i], buf, sizeof(buf), MSG_DONTWAIT)) > 0)
				;
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
				closed_by_server++;
		}
		if (sessions[i] != NULL)
			gnutls_deinit(sessions[i]);
		close(fds[i]);
	}
	printf("closed; the server had closed %d\n", closed_by_server);
	if (cred != NULL)
		gnutls_certificate_free_credentials(cred);
	return 0;
}
