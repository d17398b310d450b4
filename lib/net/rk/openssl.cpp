#include "rk/openssl.hpp"

#include <dlfcn.h>
#include <sys/auxv.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "rk/errors.hpp"

namespace rk {
namespace {

const rk_openssl_table* load_shim() {
  // A static binary has no program interpreter (AT_BASE 0) and must not
  // load the shim: it is linked against the shared libc, and two libcs in
  // one process break. The static redis_check never gets here (it hands
  // TLS to its dynamic twin first; tools/CMakeLists.txt), so its link
  // warning about dlopen in a static binary names a path it never takes.
  if (::getauxval(AT_BASE) == 0)
    throw UsageError("TLS support cannot be loaded into a statically linked binary");
  const std::string path = openssl_shim_path();
  // RTLD_NOW: a libssl that lacks a function fails here, with the reason,
  // not in the middle of a handshake. RTLD_LOCAL: nothing else in the
  // process binds to OpenSSL's symbols by accident.
  void* shim = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (shim == nullptr)
    throw UsageError(
        fmt::format("TLS support is not installed: cannot load {} ({})", path, ::dlerror()));
  using GetTable = const rk_openssl_table* (*)();
  auto get_table = reinterpret_cast<GetTable>(::dlsym(shim, RK_OPENSSL_TABLE_SYMBOL));
  const rk_openssl_table* table = get_table != nullptr ? get_table() : nullptr;
  if (table == nullptr || table->version != RK_OPENSSL_TABLE_VERSION ||
      table->size != sizeof(rk_openssl_table))
    throw UsageError(fmt::format(
        "TLS support does not match this build: {} is from another version of the toolkit "
        "(reinstall it)",
        path));
  return table;  // the shim stays loaded until the process ends
}

}  // namespace

std::string beside_this_binary(const std::string& relative) {
  // Relative to the binary, not a fixed path: the build tree (bin/ beside
  // the shim's directory), an install under DESTDIR or another prefix, and
  // /usr each find their own files, with no environment variable that a
  // hook's caller could set. realpath: a symlink to a tool leads to its
  // real directory.
  char binary[PATH_MAX];
  if (::realpath("/proc/self/exe", binary) == nullptr)
    throw UsageError(
        fmt::format("cannot find the running binary (/proc/self/exe): {}", std::strerror(errno)));
  std::string directory(binary);
  directory.erase(directory.rfind('/') + 1);
  return directory + relative;
}

std::string openssl_shim_path() {
  std::string beside = beside_this_binary("rk-openssl.so");
  if (::access(beside.c_str(), F_OK) == 0) return beside;
  return beside_this_binary(RK_OPENSSL_SHIM);
}

const rk_openssl_table& openssl() {
  // A failed load throws, so the next call tries again.
  static const rk_openssl_table* const table = load_shim();
  return *table;
}

}  // namespace rk
