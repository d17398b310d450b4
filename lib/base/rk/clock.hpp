#pragma once

#include <chrono>

namespace rk {

// Every deadline and interval in the toolkit is on the monotonic clock: a
// step of the wall clock (NTP, an operator's `date`) must neither cut nor
// stretch a wait.
using Clock = std::chrono::steady_clock;

}  // namespace rk
