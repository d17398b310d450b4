#pragma once

#include <string>

#include "rk/sentinel_view.hpp"

// Sentinels' answers for the Sentinel-mode tests: sentinel INDEX listens at
// 10.0.0.(10 + INDEX):26379, and was asked about "mymaster".
namespace rk_test {

// Two data nodes, as Sentinel names them.
inline const rk::Endpoint node_a{"10.0.0.1", 6379};
inline const rk::Endpoint node_b{"10.0.0.2", 6379};

// Sentinel INDEX answered and names `master` (in TILT when `tilt`).
inline rk::SentinelView names(int index, const rk::Endpoint& master, bool tilt = false) {
  rk::SentinelView view;
  view.sentinel = {"10.0.0." + std::to_string(10 + index), 26379};
  view.master_name = "mymaster";
  view.answered = true;
  view.master = master;
  view.tilt = tilt;
  return view;
}

// Sentinel INDEX did not answer, for `problem`.
inline rk::SentinelView silent(int index, const std::string& problem = "connection refused") {
  rk::SentinelView view;
  view.sentinel = {"10.0.0." + std::to_string(10 + index), 26379};
  view.master_name = "mymaster";
  view.problem = problem;
  return view;
}

}  // namespace rk_test
