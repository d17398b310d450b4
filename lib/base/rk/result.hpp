#pragma once

#include <string>
#include <utility>
#include <variant>

namespace rk {

// A value or the reason there is none. Low-level parsers return this; the
// layer that knows what the failure means decides whether to throw.
template <typename T>
class Result {
 public:
  static Result failure(std::string reason) { return Result(Failed{std::move(reason)}); }
  Result(T value) : state_(std::move(value)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  const T& value() const { return std::get<T>(state_); }
  T& value() { return std::get<T>(state_); }
  const T& operator*() const { return value(); }
  const T* operator->() const { return &value(); }
  const std::string& error() const { return std::get<Failed>(state_).reason; }

 private:
  struct Failed {
    std::string reason;
  };
  explicit Result(Failed failed) : state_(std::move(failed)) {}
  std::variant<T, Failed> state_;
};

}  // namespace rk
