#pragma once

#include <string>

#include "rk/status_report.hpp"

// redis_status in Sentinel mode: the sentinels' section of the text and of
// the JSON (metrics.cpp writes their Prometheus families). Pair mode has no
// such section.
namespace rk {

// "sentinels for NAME: ..." and one line per sentinel, the verdict and this
// node's place; each line ends in a newline.
std::string render_sentinel_text(const SentinelStatus& status);
// The JSON object of the "sentinels" key.
std::string render_sentinel_json(const SentinelStatus& status);
// "named-master", "replica", "unnamed-master" or "unknown".
const char* place_name(SentinelPlace place);

}  // namespace rk
