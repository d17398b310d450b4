#include "rk/kept_copy.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace rk {
namespace {

constexpr const char* kSuffix = ".rdb";

bool all_of_chars(std::string_view text, const char* allowed) {
  return !text.empty() && text.find_first_not_of(allowed) == std::string_view::npos;
}

bool parse_offset(std::string_view text, long long& out) {
  if (!all_of_chars(text, "0123456789") || text.size() > 18) return false;
  out = std::stoll(std::string(text));
  return true;
}

}  // namespace

std::string CopyName::text() const {
  return fmt::format("{}_{}_{}_{}-{}{}", time, source, replid, from_offset, to_offset, kSuffix);
}

CopyName CopyName::parse(std::string_view file) {
  CopyName name;
  if (file.size() <= std::strlen(kSuffix) || file.substr(file.size() - 4) != kSuffix) return {};
  file.remove_suffix(4);
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    size_t end = file.find('_', start);
    parts.push_back(file.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  if (parts.size() != 4) return {};
  size_t dash = parts[3].find('-');
  if (dash == std::string_view::npos) return {};
  if (!all_of_chars(parts[0], "0123456789TZ.") || (parts[1] != "local" && parts[1] != "peer") ||
      !all_of_chars(parts[2], "0123456789abcdef") ||
      !parse_offset(parts[3].substr(0, dash), name.from_offset) ||
      !parse_offset(parts[3].substr(dash + 1), name.to_offset))
    return {};
  name.time = parts[0];
  name.source = parts[1];
  name.replid = parts[2];
  return name;
}

}  // namespace rk
