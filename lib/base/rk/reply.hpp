#pragma once

#include <string>
#include <vector>

namespace rk {

// A Redis reply as a plain value, so that nothing above the client sees
// hiredis types. The pure decisions take it (a PING's reply) without
// depending on the connection.
struct Reply {
  enum class Type { status, error, integer, string, nil, array };
  Type type = Type::nil;
  std::string text;  // status, error and string replies
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_error() const { return type == Type::error; }
  // True for a status reply equal to `word` (e.g. "OK", "PONG").
  bool is_status(const std::string& word) const { return type == Type::status && text == word; }
  // The first word of an error reply ("LOADING", "NOPERM"); empty otherwise.
  std::string error_code() const {
    if (type != Type::error) return {};
    return text.substr(0, text.find(' '));
  }
};

}  // namespace rk
