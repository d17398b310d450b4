#pragma once

#include <chrono>
#include <functional>
#include <optional>

#include "rk/errors.hpp"
#include "rk/observation.hpp"
#include "rk/redis_client.hpp"

// Reading servers' INFO through the client, beside it: the one place where
// a failed read becomes an Observation.
namespace rk {

// INFO of a connected server, parsed. Throws RedisError: ReplyError when the
// server refuses INFO, ProtocolError when its text lacks a needed field.
RedisState read_info(Connection& connection);

// The Reach that a failure to connect or read means (see Observation).
Reach reach_of(const RedisError& error);

// Reads INFO through `connection`, opening it first if needed. After any
// failure the connection is dropped (hiredis cannot reuse a context after a
// timeout), so the next call reconnects.
Observation observe(std::optional<Connection>& connection, const ConnectionOptions& options);

// After a command that changes a server's role ended without a reply (a
// timeout, or a reset after the send), the server may or may not have
// applied it: "unknown" is a state, never "not done". Reads the server's
// INFO again over a fresh connection (`connection` is replaced) until it
// answers or `deadline` passes, sleeping `poll` and calling `between` (to
// keep a pause open, say) after each failed try. nullopt when it never
// answered.
std::optional<RedisState> read_again_after_unknown(std::optional<Connection>& connection,
                                                   const ConnectionOptions& options,
                                                   Clock::time_point deadline,
                                                   std::chrono::milliseconds poll,
                                                   const std::function<void()>& between = {});

}  // namespace rk
