/* rk-openssl.so: the system's libssl and libcrypto for the tools, loaded by
 * lib/net/rk/openssl.cpp only when a TLS option is given (openssl_table.h says
 * why). It is linked against libssl.so.3 and libcrypto.so.3, so ldd shows
 * them and dpkg-shlibdeps derives the package's libssl Depends from it.
 * Built with hidden visibility: rk_openssl_get_table is its one export. */
#include "rk/openssl_table.h"

#define RK_OPENSSL_ENTRY(name) .name = name,

__attribute__((visibility("default"))) const struct rk_openssl_table* rk_openssl_get_table(void) {
  static const struct rk_openssl_table table = {.version = RK_OPENSSL_TABLE_VERSION,
                                                .size = sizeof(struct rk_openssl_table),
                                                RK_OPENSSL_FUNCTIONS(RK_OPENSSL_ENTRY)};
  return &table;
}
