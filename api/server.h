/* signerd's two listeners: the mTLS signing API and the plain-HTTP ops listener. */
#ifndef SIGNER_API_SERVER_H
#define SIGNER_API_SERVER_H

/* Every thread's stack. signerd locks its memory (mlockall with MCL_FUTURE), so a thread's
 * whole stack is resident from its start: glibc's default of 8 MiB per thread was most of
 * signerd's RSS. The deepest path (a sign request: its 20 KiB context, an audit catch-up's
 * 64 KiB line buffer, SoftHSM2 and OpenSSL below) uses a small part of this. */
#define API_THREAD_STACK (512 * 1024)

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "api/tls.h"
#include "common/err.h"
#include "signer/config.h"
#include "signer/signer.h"

struct api_server;
struct ops_server;

/* Starts the API listener: TLS 1.2/1.3, client certificate verified on every connection before
 * any route, JSON bodies of at most 64 KiB, workers threads, the config's limits. */
SG_MUST_CHECK int api_start(const struct signer_config *cfg, struct signer *signer,
			    struct tls_material *tls, struct api_server **out);
/* Swaps in new TLS material (SIGHUP); the old stays alive until api_stop. */
void api_set_tls(struct api_server *srv, struct tls_material *tls);
const struct tls_material *api_tls(struct api_server *srv);
/* Stops accepting; requests in flight finish (SIGTERM). */
void api_quiesce(struct api_server *srv);
unsigned api_inflight(struct api_server *srv);
/* Connections open now: before their first request (in the TLS handshake) and after; and how
 * many the handshake deadline has closed so far. */
void api_connections(struct api_server *srv, unsigned *handshaking, unsigned *open,
		     uint64_t *timeouts);
void api_stop(struct api_server *srv);

/* The listen address of a listener section (an IP literal, v4 or v6, and its port). */
SG_MUST_CHECK int api_listen_addr(const struct signer_config_listen *l, struct sockaddr_storage *ss,
				  socklen_t *len);

SG_MUST_CHECK int ops_start(const struct signer_config *cfg, struct signer *signer,
			    struct api_server *api, struct ops_server **out);
void ops_stop(struct ops_server *srv);

#endif
