#pragma once

#include <optional>
#include <string>

#include "rk/replication_info.hpp"

// What one attempt to read a server's INFO found, as a value the pure
// decisions take. No I/O here: node/rk/observe.hpp fills it.
namespace rk {

// How the attempt ended. The decisions treat each differently: only a
// server that is gone lets an incomplete-looking peer be given up on, a
// silent one may come back, and a denied one is a configuration problem.
enum class Reach {
  answered,        // INFO read and parsed
  gone,            // connection refused, reset or closed: nothing serves there
  silent,          // no answer within the deadline, a garbled answer, or -BUSY/-LOADING
  denied,          // the server answered with an error: AUTH refused, NOPERM, unknown command
  not_configured,  // no peer was configured at all
};
const char* to_string(Reach reach);

struct Observation {
  Reach reach = Reach::not_configured;
  std::optional<RedisState> state;  // set exactly when reach == answered
  std::string error;                // otherwise: what happened, for the log

  bool answered() const { return reach == Reach::answered; }
  static Observation of(RedisState state) {
    return Observation{Reach::answered, std::move(state), {}};
  }
  static Observation failed(Reach reach, std::string error) {
    return Observation{reach, std::nullopt, std::move(error)};
  }
};

// The Reach an error reply's code means: -BUSY (a script or module command
// runs), -LOADING and -TRYAGAIN are a server that will answer later
// (silent); anything else (-WRONGPASS, -NOAUTH, -NOPERM, -ERR unknown
// command) is a refusal that waiting will not cure (denied).
Reach reach_of_error_reply(const std::string& code);

}  // namespace rk
