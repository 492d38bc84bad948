#ifndef C_OPENSSL_SHIM_H
#define C_OPENSSL_SHIM_H

/* EVP-only: hide OpenSSL's deprecated 1.x API so nothing here can depend on it. */
#define OPENSSL_API_COMPAT 30000
#define OPENSSL_NO_DEPRECATED 1

#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/bn.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/hmac.h>
#include <openssl/encoder.h>
#include <openssl/decoder.h>

/* Function-like macros Swift cannot import are wrapped here. */
static inline long shim_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int v) {
    return SSL_CTX_set_min_proto_version(ctx, v);
}
static inline long shim_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
static inline long shim_BIO_set_mem_eof_return(BIO *b, int v) {
    return BIO_set_mem_eof_return(b, v);
}
static inline long shim_BIO_get_mem_data(BIO *b, char **pp) {
    return BIO_get_mem_data(b, pp);
}
static inline void shim_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline ASN1_TIME *shim_X509_notBefore(X509 *x) { return X509_getm_notBefore(x); }
static inline ASN1_TIME *shim_X509_notAfter(X509 *x)  { return X509_getm_notAfter(x); }

/* The most recent error as one string; clears it from the per-thread queue. */
static inline unsigned long shim_ERR_get_error_string(char *buf, size_t len) {
    unsigned long e = ERR_get_error();
    if (e != 0) ERR_error_string_n(e, buf, len);
    else if (len) buf[0] = 0;
    ERR_clear_error();
    return e;
}

/* ---- TLS layer (RelayCore/TLS): SSL_ctrl macros and compound SSL_OP_* constants ---- */
static inline long shim_SSL_set_tlsext_host_name(SSL *s, const char *name) {
    return SSL_set_tlsext_host_name(s, name);
}
static inline long shim_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_session_cache_mode(ctx, mode);
}
static const uint64_t shim_SSL_OP_NO_TICKET = SSL_OP_NO_TICKET;
static const uint64_t shim_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
static const uint64_t shim_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
static const uint64_t shim_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;

#endif
