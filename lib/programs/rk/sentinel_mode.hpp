#pragma once

#include <optional>
#include <string>
#include <vector>

#include <poll.h>

#include "rk/instance_state.hpp"
#include "rk/options.hpp"
#include "rk/redis_client.hpp"
#include "rk/sentinel_quorum.hpp"

// What redis_check, the hooks and redis_watch share in Sentinel mode.
namespace rk {

// The sentinels' majority and its verdict on the local Redis (`local`, as
// its INFO says now): every sentinel asked at once, before `deadline`.
struct SentinelJudgement {
  SentinelTally tally;
  SentinelCheck verdict;
};
SentinelJudgement judge_by_sentinels(const ToolOptions& options, const RedisState& local,
                                     const InstanceState* records, Clock::time_point deadline);

// redis_watch's subscriptions: one connection per sentinel, SUBSCRIBEd to
// +switch-master (each sentinel publishes "NAME old-ip old-port new-ip
// new-port" there when it switches). Pub/sub delivery is not guaranteed, so
// this only wakes the watcher early; it polls the sentinels as well. A link
// that fails is opened again at once when it was closed, else after 5 s
// (each attempt can hold the watcher's loop for up to --timeout).
class SwitchFeed {
 public:
  explicit SwitchFeed(const ToolOptions& options);
  // Opens the links that are down and due, each bounded by --timeout.
  // Returns the problems met, for the log ("" when none).
  std::string connect();
  // Appends one pollfd per open link.
  void add_poll_fds(std::vector<pollfd>& fds) const;
  // After poll(): reads what the links in `fds` (from add_poll_fds, starting
  // at `first`) have. Returns the +switch-master messages about --master-name
  // ("old -> new"); a link that failed is closed.
  std::vector<std::string> read(const std::vector<pollfd>& fds, std::size_t first);

 private:
  struct Link {
    ConnectionOptions options;
    std::optional<Connection> connection;
    Clock::time_point retry_at{};
  };
  std::string master_name_;
  std::chrono::milliseconds timeout_;
  std::vector<Link> links_;
};

// The switch a +switch-master message announces, "10.0.0.1:6379 ->
// 10.0.0.2:6379", when it is about `master_name`; nullopt for anything else
// (the subscribe confirmation, another master). No I/O.
std::optional<std::string> switch_of(const Reply& message, const std::string& master_name);

}  // namespace rk
