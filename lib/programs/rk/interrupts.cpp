#include "rk/interrupts.hpp"

namespace rk {
namespace {

volatile std::sig_atomic_t interrupted_by = 0;

void note_interrupt(int signal_number) { interrupted_by = signal_number; }

}  // namespace

InterruptGuard::InterruptGuard() {
  interrupted_by = 0;
  struct sigaction action {};
  action.sa_handler = note_interrupt;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &old_int_);
  ::sigaction(SIGTERM, &action, &old_term_);
}

InterruptGuard::~InterruptGuard() {
  ::sigaction(SIGINT, &old_int_, nullptr);
  ::sigaction(SIGTERM, &old_term_, nullptr);
}

bool InterruptGuard::interrupted() { return interrupted_by != 0; }

const char* InterruptGuard::signal_name() {
  return interrupted_by == SIGINT ? "SIGINT" : "SIGTERM";
}

}  // namespace rk
