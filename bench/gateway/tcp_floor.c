/*
 * bench_tcp_floor: the kernel's floor for bench/gateway, with no nng.
 *
 * One thread, one epoll set, non-blocking sockets: every GET head that
 * arrives (counted by its blank line, pipelined or split across reads) is
 * answered with the same small static response as bench_http_floor's.
 * No parsing beyond that, no other thread. bench/gateway/run.sh runs wrk
 * against it next to nng's floor and the gateway, so that what the
 * kernel's loopback TCP costs on this machine (req/s and, above all, the
 * latency tail) reads apart from what nng's threads add to it.
 *
 *   bench_tcp_floor PORT
 *
 * Listens on 127.0.0.1:PORT and serves until SIGTERM or SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char resp[] = "HTTP/1.1 200 OK\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: 15\r\n\r\n"
                           "{\"status\":\"ok\"}";
#define RESP_LEN (sizeof(resp) - 1)

/* A connection: how far into a blank line its input is, and the responses
 * owed but not yet written (owed whole ones, plus off bytes of the first
 * already written). */
struct conn {
	int fd;
	int tail; /* bytes of "\r\n\r\n" matched at the end of the input */
	size_t owed, off;
	int out; /* EPOLLOUT is asked for */
};

/* Writes what c owes; 0, or -1 when the connection is to be closed. */
static int
flush(struct conn *c)
{
	char out[64 * RESP_LEN];

	while (c->owed > 0) {
		size_t k = c->owed < 64 ? c->owed : 64, n = k * RESP_LEN - c->off;
		ssize_t w;

		for (size_t i = 0; i < k; i++)
			memcpy(out + i * RESP_LEN, resp, RESP_LEN);
		w = write(c->fd, out + c->off, n);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		c->owed -= ((size_t)w + c->off) / RESP_LEN;
		c->off = ((size_t)w + c->off) % RESP_LEN;
	}
	return 0;
}

/* Reads what c has and answers each whole head; -1: close it. */
static int
serve(struct conn *c)
{
	static const char end[] = "\r\n\r\n";
	char buf[16384];
	ssize_t n;

	while ((n = read(c->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == end[c->tail])
				c->tail++;
			else
				c->tail = buf[i] == '\r' ? 1 : 0;
			if (c->tail == 4) {
				c->owed++;
				c->tail = 0;
			}
		}
	if (n == 0 || (n < 0 && errno != EAGAIN))
		return -1;
	return flush(c);
}

int
main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct epoll_event ev, evs[64];
	int one = 1, lfd, ep, sfd;
	sigset_t set;
	long port;

	if (argc != 2 || (port = strtol(argv[1], NULL, 10)) <= 0 || port > 65535) {
		fprintf(stderr, "usage: bench_tcp_floor PORT\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1024) != 0 ||
	    (ep = epoll_create1(0)) < 0 || (sfd = signalfd(-1, &set, 0)) < 0) {
		perror("bench_tcp_floor");
		return 1;
	}
	/* The listener and the signals carry no connection: NULL and &ep. */
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = NULL};
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &ep};
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		if (n < 0 && errno != EINTR) {
			perror("bench_tcp_floor: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			int fd;

			if (evs[i].data.ptr == &ep)
				return 0;
			if (c != NULL) {
				if (serve(c) != 0) {
					close(c->fd);
					free(c);
				} else if ((c->owed > 0) != c->out) {
					/* Wait to write only while something is owed. */
					c->out = c->owed > 0;
					ev = (struct epoll_event){
					    .events = EPOLLIN | (c->out ? EPOLLOUT : 0),
					    .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
				}
				continue;
			}
			while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				if ((c = calloc(1, sizeof(*c))) == NULL) {
					close(fd);
					continue;
				}
				c->fd = fd;
				setsockopt(
				    fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
				ev = (struct epoll_event){
				    .events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			}
		}
	}
}
