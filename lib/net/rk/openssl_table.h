/* The table of OpenSSL functions that rk-openssl.so (openssl_shim.c) hands
 * the library (openssl.cpp), shared by both: C, since the shim is C.
 *
 * Why a table: the tools do not link libssl and libcrypto. Loading them at
 * exec costs about as much as a whole plain redis_check (facts.md), and
 * keepalived runs the check every interval; so the library dlopen()s the
 * shim, which is linked against the system's libssl.so.3 and
 * libcrypto.so.3, only when a TLS option is given. An `apt upgrade` of
 * libssl3 reaches the tools through it without a rebuild.
 *
 * It holds exactly the functions tls.cpp and stream.cpp call. Several of
 * OpenSSL's "functions" are macros or inline functions (SSL_CTX_set_mode,
 * SSL_set_tlsext_host_name, sk_X509_INFO_num, X509_NAME_hash, ...): the
 * table holds what they expand to (SSL_CTX_ctrl, SSL_ctrl, OPENSSL_sk_*,
 * X509_NAME_hash_ex). Each entry's type is taken from OpenSSL's own
 * declaration, so it cannot drift from the headers. */
#ifndef RK_OPENSSL_TABLE_H
#define RK_OPENSSL_TABLE_H

#include <stddef.h> /* NOLINT(modernize-deprecated-headers): C as well */

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* Raise it whenever the list below changes: a shim left over from another
 * build is refused at load instead of being called through a wrong slot. */
#define RK_OPENSSL_TABLE_VERSION 1u

/* The one symbol the shim exports: rk_openssl_get_table(). */
#define RK_OPENSSL_TABLE_SYMBOL "rk_openssl_get_table"

/* X(name) for every function in the table. */
#define RK_OPENSSL_FUNCTIONS(X)                                                 \
  /* setting up */                                                              \
  X(OPENSSL_init_ssl)                                                           \
  X(TLS_client_method)                                                          \
  /* errors */                                                                  \
  X(ERR_clear_error)                                                            \
  X(ERR_get_error)                                                              \
  X(ERR_peek_last_error)                                                        \
  X(ERR_reason_error_string)                                                    \
  X(ERR_error_string_n)                                                         \
  /* PEM bytes in memory */                                                     \
  X(BIO_new_mem_buf)                                                            \
  X(BIO_free_all)                                                               \
  X(PEM_X509_INFO_read_bio)                                                     \
  X(PEM_read_bio_X509)                                                          \
  X(PEM_read_bio_X509_AUX)                                                      \
  X(PEM_read_bio_PrivateKey)                                                    \
  X(X509_free)                                                                  \
  X(X509_INFO_free)                                                             \
  X(EVP_PKEY_free)                                                              \
  /* sk_X509_INFO_num, _value and _pop_free */                                  \
  X(OPENSSL_sk_num)                                                             \
  X(OPENSSL_sk_value)                                                           \
  X(OPENSSL_sk_pop_free)                                                        \
  /* the CA store and the --cacertdir lookup */                                 \
  X(X509_STORE_add_cert)                                                        \
  X(X509_STORE_add_crl)                                                         \
  X(X509_STORE_add_lookup)                                                      \
  X(X509_STORE_lock)                                                            \
  X(X509_STORE_unlock)                                                          \
  X(X509_STORE_get0_objects)                                                    \
  X(X509_OBJECT_retrieve_by_subject)                                            \
  X(X509_OBJECT_get0_X509)                                                      \
  X(X509_OBJECT_set1_X509)                                                      \
  X(X509_NAME_hash_ex)                                                          \
  X(X509_LOOKUP_meth_new)                                                       \
  X(X509_LOOKUP_meth_set_get_by_subject)                                        \
  X(X509_LOOKUP_get_method_data)                                                \
  X(X509_LOOKUP_set_method_data)                                                \
  X(X509_LOOKUP_get_store)                                                      \
  /* the context: SSL_CTX_ctrl stands for SSL_CTX_set_min_proto_version,        \
   * SSL_CTX_set_mode, SSL_CTX_clear_chain_certs and SSL_CTX_add0_chain_cert */ \
  X(SSL_CTX_new)                                                                \
  X(SSL_CTX_free)                                                               \
  X(SSL_CTX_ctrl)                                                               \
  X(SSL_CTX_set_security_level)                                                 \
  X(SSL_CTX_set_verify)                                                         \
  X(SSL_CTX_set_default_verify_paths)                                           \
  X(SSL_CTX_get_cert_store)                                                     \
  X(SSL_CTX_use_certificate)                                                    \
  X(SSL_CTX_use_PrivateKey)                                                     \
  X(SSL_CTX_check_private_key)                                                  \
  /* a session: SSL_ctrl stands for SSL_set_tlsext_host_name */                 \
  X(SSL_new)                                                                    \
  X(SSL_free)                                                                   \
  X(SSL_set_fd)                                                                 \
  X(SSL_ctrl)                                                                   \
  X(SSL_get0_param)                                                             \
  X(X509_VERIFY_PARAM_set_hostflags)                                            \
  X(X509_VERIFY_PARAM_set1_host)                                                \
  X(X509_VERIFY_PARAM_set1_ip_asc)                                              \
  X(SSL_connect)                                                                \
  X(SSL_read)                                                                   \
  X(SSL_write)                                                                  \
  X(SSL_get_error)                                                              \
  X(SSL_get_verify_result)                                                      \
  X(X509_verify_cert_error_string)

/* A member named after the function, of the type of a pointer to it. */
#ifdef __cplusplus
/* NOLINTNEXTLINE(bugprone-macro-parentheses): a declaration, not an expression */
#define RK_OPENSSL_MEMBER(name) decltype(&::name) name;
#else
#define RK_OPENSSL_MEMBER(name) __typeof__(&name) name;
#endif

struct rk_openssl_table {
  unsigned int version; /* RK_OPENSSL_TABLE_VERSION */
  size_t size;          /* sizeof(struct rk_openssl_table) */
  RK_OPENSSL_FUNCTIONS(RK_OPENSSL_MEMBER)
};

#undef RK_OPENSSL_MEMBER

#ifdef __cplusplus
extern "C" {
#endif
/* The shim's table, filled with the system's libssl and libcrypto. */
const struct rk_openssl_table* rk_openssl_get_table(void);
#ifdef __cplusplus
}
#endif

#endif
