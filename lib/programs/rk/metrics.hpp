#pragma once

#include <string>

#include "rk/status_report.hpp"

namespace rk {

// The Prometheus text format (exposition format 0.0.4): the hooks' metrics,
// the toolkit's own figures and the replication figures under
// redis_exporter's names, labelled node="local"/"peer".
std::string render_prometheus(const StatusReport& report);
// Writes `text` to DIR/redis_keepalived.prom atomically (temp + rename), as
// node_exporter's textfile collector wants, in a directory the trust rules
// accept (replace_file). Throws UnsafeStateDir or StateError.
void write_textfile(const std::string& dir, const std::string& text);
}  // namespace rk
