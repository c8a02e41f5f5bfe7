/*
 * Vexil wire — the server side of TLS, for vexild's tls+tcp:// sockets and
 * the gateway's https:// listener alike: see vx_wire_tls_server_config()
 * in wire.h.
 *
 * The certificate and key are read whole (PEM, NUL-terminated, as nng
 * wants them) and checked with mbedTLS, the library nng's TLS runs on,
 * before nng sees them: nng would take a key that does not belong to the
 * certificate, and every handshake would fail later with no word of why.
 */
#include <errno.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>
#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire/wire.h"

#define PEM_MAX (1024 * 1024)

/* Reads a whole PEM file; *len excludes the NUL stored after it. */
static int
read_pem(const char *opt, const char *path, char **out, size_t *len)
{
	char *buf;
	size_t n;
	FILE *f;

	*out = NULL;
	if ((f = fopen(path, "rb")) == NULL) {
		vx_log(
		    VX_LOG_ERROR, "%s %s: cannot read: %s", opt, path, strerror(errno));
		return VX_EINVAL;
	}
	if ((buf = malloc(PEM_MAX + 1)) == NULL) {
		fclose(f);
		return VX_ENOMEM;
	}
	n = fread(buf, 1, PEM_MAX + 1, f);
	fclose(f);
	buf[n > PEM_MAX ? PEM_MAX : n] = '\0';
	/* Whether it is PEM, mbedTLS says (check_pair). */
	if (n == 0 || n > PEM_MAX) {
		vx_log(VX_LOG_ERROR, "%s %s: %s", opt, path,
		    n == 0 ? "the file is empty" : "the file is over 1 MiB");
		free(buf);
		return VX_EINVAL;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* The key belongs to the certificate, as mbedTLS (and so nng) sees them. */
static int
check_pair(const char *cert, size_t cert_len, const char *key, size_t key_len,
    const char *cert_path, const char *key_path)
{
	mbedtls_x509_crt crt;
	mbedtls_pk_context pk;
	int rc = VX_EINVAL;

	mbedtls_x509_crt_init(&crt);
	mbedtls_pk_init(&pk);
	/* PEM lengths count the NUL. */
	if (mbedtls_x509_crt_parse(&crt, (const unsigned char *)cert, cert_len + 1) != 0)
		vx_log(VX_LOG_ERROR, "--tls-cert %s: not a PEM certificate", cert_path);
	else if (mbedtls_pk_parse_key(
	             &pk, (const unsigned char *)key, key_len + 1, NULL, 0) != 0)
		vx_log(VX_LOG_ERROR,
		    "--tls-key %s: not a PEM private key (or one with a "
		    "passphrase)",
		    key_path);
	else if (mbedtls_pk_check_pair(&crt.pk, &pk) != 0)
		vx_log(VX_LOG_ERROR,
		    "--tls-key %s is not the key of the certificate in "
		    "--tls-cert %s",
		    key_path, cert_path);
	else
		rc = 0;
	mbedtls_pk_free(&pk);
	mbedtls_x509_crt_free(&crt);
	return rc;
}

int
vx_wire_tls_server_config(
    const char *cert_path, const char *key_path, nng_tls_config **out)
{
	nng_tls_config *cfg = NULL;
	char *cert = NULL, *key = NULL;
	size_t cert_len = 0, key_len = 0;
	int rc, rv;

	*out = NULL;
	if (cert_path == NULL || key_path == NULL) {
		vx_log(VX_LOG_ERROR, "TLS needs --tls-cert FILE and --tls-key FILE");
		return VX_EINVAL;
	}
	if ((rc = read_pem("--tls-cert", cert_path, &cert, &cert_len)) != 0 ||
	    (rc = read_pem("--tls-key", key_path, &key, &key_len)) != 0 ||
	    (rc = check_pair(cert, cert_len, key, key_len, cert_path, key_path)) != 0)
		goto out;
	rc = VX_EINVAL;
	if ((rv = nng_tls_config_alloc(&cfg, NNG_TLS_MODE_SERVER)) != 0 ||
	    (rv = nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE)) != 0 ||
	    (rv = nng_tls_config_own_cert(cfg, cert, key, NULL)) != 0) {
		vx_log(VX_LOG_ERROR, "TLS with --tls-cert %s and --tls-key %s: %s",
		    cert_path, key_path, nng_strerror(rv));
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	if (cfg)
		nng_tls_config_free(cfg);
	if (key) {
		explicit_bzero(key, key_len);
		free(key);
	}
	free(cert);
	return rc;
}
