#pragma once

#include <string>

#include "rk/openssl_table.h"

namespace rk {

// OpenSSL's functions (openssl_table.h), from the shim rk-openssl.so, which
// the first call loads with dlopen() and later calls reuse: the tools link
// no OpenSSL, so a run without a TLS option never maps libssl or libcrypto.
// Throws UsageError (exit 2) naming the shim's path and the loader's reason
// when it cannot be loaded or is from another build. Only tls.cpp and
// stream.cpp call it.
const rk_openssl_table& openssl();

// `relative` (a path relative to the running binary's directory) made
// absolute: how the tools find what is installed beside them. Throws
// UsageError when /proc/self/exe cannot be read.
std::string beside_this_binary(const std::string& relative);

// Where openssl() looks for the shim: beside the binary (where the dynamic
// twin of a static redis_check runs from, tools/CMakeLists.txt), else at
// RK_OPENSSL_SHIM relative to it, which lib/CMakeLists.txt derives from
// the install directories.
std::string openssl_shim_path();

}  // namespace rk
