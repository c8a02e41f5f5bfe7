/*
 * Vexil fuzz support — generated heads for fuzz_http1's invariants and its
 * differential against libhttp-parser, run as the ctest http1_differential.
 *
 * Every combination of a method, an HTTP version, line ends, leading empty
 * lines and a set of framing headers (duplicated, conflicting, folded, in
 * odd case, with odd values) goes through LLVMFuzzerTestOneInput(), which
 * aborts when an invariant breaks. The framing sets are the ones request
 * smuggling is made of; the seed corpus (replayed by the ctest fuzz_http1)
 * covers the rest.
 */
#include <stdio.h>
#include <string.h>

#include "fuzz.h"
#include "gateway/http1.h"

static const char *const methods[] = {
    "GET", "POST", "HEAD", "OPTIONS", "PUT", "PURGE", "FOO"};
static const char *const targets[] = {"/", "/v1/flags?x=1", "http://h/a", "*", "h:443"};
static const char *const versions[] = {"HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.1 "};
static const char *const leading[] = {"", "\r\n", "\n\r\n", "\r\n\r\n\r\n\r\n\r\n"};

/* Field sets, with "\n" as the line end (replaced by the case's). */
static const char *const sets[] = {
    "",
    "Content-Length: 0\n",
    "Content-Length: 5\n",
    "Content-Length: 005\n",
    "Content-Length:  5 \n",
    "Content-Length: 5\nContent-Length: 5\n",
    "Content-Length: 5\nContent-Length: 6\n",
    "Content-Length: 5, 5\n",
    "Content-Length: +5\n",
    "Content-Length: -5\n",
    "Content-Length: 5x\n",
    "Content-Length: \n",
    "Content-Length: 18446744073709551615\n",
    "Content-Length: 18446744073709551616\n",
    "Content-Length : 5\n",
    "Content-Length\t: 5\n",
    " Content-Length: 5\n",
    "Content-Length: 5\n 6\n",
    "CONTENT-LENGTH: 5\n",
    "Transfer-Encoding: chunked\n",
    "transfer-encoding: CHUNKED\n",
    "Transfer-Encoding:chunked\n",
    "Transfer-Encoding: chunked \n",
    "Transfer-Encoding: identity\n",
    "Transfer-Encoding: identity, chunked\n",
    "Transfer-Encoding: chunked, identity\n",
    "Transfer-Encoding: gzip, chunked\n",
    "Transfer-Encoding: chunked, gzip\n",
    "Transfer-Encoding: gzip\n",
    "Transfer-Encoding: chunked, chunked\n",
    "Transfer-Encoding: chunked;q=1\n",
    "Transfer-Encoding: \"chunked\"\n",
    "Transfer-Encoding: xchunked\n",
    "Transfer-Encoding: chunkedx\n",
    "Transfer-Encoding: , chunked\n",
    "Transfer-Encoding: \n",
    "Transfer-Encoding: chunked\nTransfer-Encoding: chunked\n",
    "Transfer-Encoding: identity\nTransfer-Encoding: chunked\n",
    "Transfer-Encoding: chunked\nTransfer-Encoding: identity\n",
    "Transfer-Encoding: identity\n chunked\n",
    "Transfer-Encoding:\n chunked\n",
    "Transfer-Encoding : chunked\n",
    "Transfer-Encoding\x0b: chunked\n",
    "Transfer-Encoding: \x0b"
    "chunked\n",
    "Transfer-Encoding: chunked\nContent-Length: 5\n",
    "Content-Length: 5\nTransfer-Encoding: chunked\n",
    "Content-Length: 5\nTransfer-Encoding: identity\nTransfer-Encoding: chunked\n",
    "Content-Length: 0\nTransfer-Encoding: chunked\n",
    "X-Transfer-Encoding: chunked\nContent-Length: 2\n",
    "Transfer_Encoding: chunked\n",
    "Transfer-EncodingX: chunked\n",
    "Content-Length: 5\nTransfer-Encodings: chunked\n",
    "Content-LengthX: 5\n",
    "Content-Length: 5\t\n",
    "Content-Length:\t5\n",
    "Transfer-Encoding:\tchunked\n",
    "Transfer-Encoding: gzip,\tchunked\n",
    "Connection: close\nContent-Length: 1\n",
    "Expect: 100-continue\nContent-Length: 3\n",
    "Connection: Upgrade\nUpgrade: websocket\n",
    "X-A: a\tb\n",
    "X-A: a\x01"
    "b\n",
    "X-A: \xe9t\xe9\n",
    "X-A:\n",
};

int
main(void)
{
	static char head[4096], fields[1024];
	size_t n = 0, accepted = 0;

	LLVMFuzzerInitialize(NULL, NULL);
	for (size_t m = 0; m < sizeof(methods) / sizeof(*methods); m++)
		for (size_t u = 0; u < sizeof(targets) / sizeof(*targets); u++)
			for (size_t v = 0; v < sizeof(versions) / sizeof(*versions); v++)
				for (size_t l = 0; l < sizeof(leading) / sizeof(*leading);
				     l++)
					for (int crlf = 0; crlf < 2; crlf++)
						for (int host = 0; host < 3; host++)
							for (size_t f = 0;
							     f <
							     sizeof(sets) / sizeof(*sets);
							     f++) {
								const char *eol =
								    crlf ? "\r\n" : "\n";
								size_t k = 0, len, skip,
								       end;
								vx_http1_field fs[32];
								vx_http1_head h = {
								    .fields = fs};
								vx_http1_limits lim = {
								    .max_target = 4096,
								    .max_fields = 32};
								const char *why;

								for (const char *p =
								         sets[f];
								     *p; p++) {
									if (*p == '\n')
										k += (size_t)snprintf(
										    fields +
										        k,
										    sizeof(
										        fields) -
										        k,
										    "%s",
										    eol);
									else
										fields
										    [k++] =
										        *p;
								}
								fields[k] = '\0';
								len = (size_t)snprintf(
								    head, sizeof(head),
								    "%s%s %s "
								    "%s%s%s%s%s%s",
								    leading[l],
								    methods[m],
								    targets[u],
								    versions[v], eol,
								    host == 0 ? ""
								    : host == 1
								        ? "Host: x"
								        : "Host: "
								          "x\r\nHost: y",
								    host ? eol : "",
								    fields, eol);
								LLVMFuzzerTestOneInput(
								    (const uint8_t *)head,
								    len);
								n++;
								if (vx_http1_scan(head,
								        len, sizeof(head),
								        &skip,
								        &end) == 0 &&
								    vx_http1_parse(
								        head + skip, end,
								        &lim, &h,
								        &why) == 0)
									accepted++;
							}
	printf(
	    "http1_cases: %zu heads, %zu accepted, every invariant held\n", n, accepted);
	return accepted > 0 ? 0 : 1;
}
