#pragma once

#include <chrono>
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

}  // namespace rk
