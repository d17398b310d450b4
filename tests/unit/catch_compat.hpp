#pragma once

// The one seam between Catch2 2 (Debian 12: one header, main from
// CATCH_CONFIG_MAIN in main.cpp) and Catch2 3 (Debian 13: split headers,
// main from Catch2::Catch2WithMain, chosen in CMakeLists.txt). Tests include
// this header and use the matchers below, never Catch's own names for them.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif

#include <string>

namespace rk_test {

// A string that contains `text` (Catch2 3 renamed Contains, whose old name
// now matches ranges, to ContainsSubstring).
inline auto Contains(const std::string& text) {
#if __has_include(<catch2/catch_all.hpp>)
  return Catch::Matchers::ContainsSubstring(text);
#else
  return Catch::Matchers::Contains(text);
#endif
}

using Catch::Matchers::StartsWith;

}  // namespace rk_test
