#pragma once

#include <csignal>

namespace rk {

// SIGINT or SIGTERM (an operator's Ctrl-C, a service stop) while
// redis_switchover runs: noted instead of ending the process, so that the
// switchover stops where it is safe to and lifts its write pause on the way
// out (WritePause ends with the guard that holds it, which a signal's
// default action would skip). The previous handlers are put back when the
// guard ends. One guard at a time.
class InterruptGuard {
 public:
  InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;
  ~InterruptGuard();
  // True once SIGINT or SIGTERM has arrived since the guard began.
  static bool interrupted();
  // "SIGINT" or "SIGTERM", for the log.
  static const char* signal_name();

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

}  // namespace rk
