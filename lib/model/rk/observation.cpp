#include "rk/observation.hpp"

namespace rk {

const char* to_string(Reach reach) {
  switch (reach) {
    case Reach::answered: return "answered";
    case Reach::gone: return "gone";
    case Reach::silent: return "silent";
    case Reach::denied: return "denied";
    case Reach::not_configured: return "not-configured";
  }
  return "?";
}

Reach reach_of_error_reply(const std::string& code) {
  if (code == "BUSY" || code == "LOADING" || code == "TRYAGAIN") return Reach::silent;
  return Reach::denied;
}

}  // namespace rk
