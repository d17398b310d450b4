#include "rk/exit_code.hpp"

namespace rk {

const char* exit_code_help() {
  return "Exit codes:\n"
         "  0  success, or the check passed\n"
         "  1  the check failed, or the hook could not reach its goal\n"
         "  2  usage or configuration error (one line on stderr names it)\n"
         "  3  superseded by a newer hook of the same instance\n";
}

}  // namespace rk
