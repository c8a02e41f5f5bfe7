/*
 * The nng 1.5.2 defect behind the gateway's abort at SIGTERM, alone: one
 * thread receives on a SUB socket while another closes it. With a receive
 * timeout (RECVTIMEO) that falls due as the socket closes, nng's timer
 * thread runs the receive's cancel on the freed socket and the process
 * aborts with "panic: pthread_mutex_lock: Invalid argument" (the stack of
 * the gateway's log: libnng.so.1+0x18835, the timer thread, calling
 * +0x3577c, the SUB cancel). Without a timeout the close alone ends the
 * receive, and nothing aborts. Hence: no timed receive on a socket that
 * another thread may close (src/gateway/edge.c, clients/c/watch.c).
 *
 *   cc -O1 -pthread -o /tmp/nng-close-race tools/nng-close-race.c -lnng
 *   /tmp/nng-close-race timed 500      # aborts (here: 20 runs of 20)
 *   /tmp/nng-close-race untimed 500    # exits 0 (here: 20 runs of 20)
 */
#include <nng/nng.h>
#include <nng/protocol/pubsub0/sub.h>
#include <nng/supplemental/util/platform.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nng_socket sock;

static void *
receive(void *arg)
{
	nng_msg *msg;

	(void)arg;
	while (nng_recvmsg(sock, &msg, 0) != NNG_ECLOSED)
		;
	return NULL;
}

int
main(int argc, char **argv)
{
	int timed, rounds;

	if (argc != 3 ||
	    (strcmp(argv[1], "timed") != 0 && strcmp(argv[1], "untimed") != 0)) {
		fprintf(stderr, "usage: nng-close-race timed|untimed ROUNDS\n");
		return 2;
	}
	timed = strcmp(argv[1], "timed") == 0;
	rounds = atoi(argv[2]);
	for (int i = 0; i < rounds; i++) {
		pthread_t t;

		if (nng_sub0_open(&sock) != 0 ||
		    nng_socket_set(sock, NNG_OPT_SUB_SUBSCRIBE, "", 0) != 0 ||
		    (timed && nng_socket_set_ms(sock, NNG_OPT_RECVTIMEO, 2) != 0) ||
		    pthread_create(&t, NULL, receive, NULL) != 0)
			return 1;
		/* Close about when a 2 ms receive timeout falls due. */
		nng_msleep(2 + i % 3);
		nng_close(sock);
		pthread_join(t, NULL);
	}
	printf("%d closes, no abort\n", rounds);
	return 0;
}
