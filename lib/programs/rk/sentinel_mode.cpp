#include "rk/sentinel_mode.hpp"

#include <sstream>

#include <fmt/format.h>

#include "rk/fence.hpp"
#include "rk/sentinel_client.hpp"

namespace rk {

SentinelJudgement judge_by_sentinels(const ToolOptions& options, const RedisState& local,
                                     const InstanceState* records, Clock::time_point deadline) {
  const std::vector<ConnectionOptions> sentinels = sentinel_connections(options);
  const Endpoint self = sentinel_self(options);
  std::size_t configured = options.sentinel_endpoints.size();
  auto settled = [configured](const std::vector<SentinelView>& in, std::size_t pending) {
    return sentinel_tally_settled(in, pending, configured);
  };
  std::vector<SentinelView> views =
      query_sentinels(sentinels, options.master_name, deadline, settled);
  SentinelJudgement judgement;
  judgement.tally = tally_sentinels(views, configured);
  std::optional<FenceRecord> record = load_fence_record(records);
  judgement.verdict = decide_sentinel_check(local, judgement.tally, self, record);
  // Only on the way to a fence, so a passing check costs nothing more: is
  // a failover making this node master (promoted, or switched by its leader
  // before the others have heard)? Then it is the new master on its way.
  if (judgement.verdict.fence == SentinelFenceStep::fence &&
      failover_makes_master(query_failover_views(sentinels, options.master_name, self, deadline),
                            self))
    judgement.verdict = decide_sentinel_check(local, judgement.tally, self, record, true);
  return judgement;
}

std::optional<std::string> switch_of(const Reply& message, const std::string& master_name) {
  // RESP2 pub/sub: ["message", channel, payload].
  if (message.type != Reply::Type::array || message.elements.size() != 3) return std::nullopt;
  if (message.elements[0].text != "message" || message.elements[1].text != "+switch-master")
    return std::nullopt;
  std::istringstream words(message.elements[2].text);
  std::string name, old_host, old_port, new_host, new_port;
  if (!(words >> name >> old_host >> old_port >> new_host >> new_port)) return std::nullopt;
  if (name != master_name) return std::nullopt;
  return fmt::format("{} -> {}", Endpoint{old_host, std::atoi(old_port.c_str())}.text(),
                     Endpoint{new_host, std::atoi(new_port.c_str())}.text());
}

SwitchFeed::SwitchFeed(const ToolOptions& options)
    : master_name_(options.master_name), timeout_(options.timeout) {
  for (const ConnectionOptions& sentinel : sentinel_connections(options))
    links_.push_back(Link{sentinel, std::nullopt, {}});
}

std::string SwitchFeed::connect() {
  std::string problems;
  for (Link& link : links_) {
    if (link.connection || Clock::now() < link.retry_at) continue;
    auto deadline = Clock::now() + timeout_;
    ClientFailure failure;
    std::optional<Connection> connection = Connection::try_open(link.options, deadline, failure);
    std::optional<Reply> reply;
    if (connection)
      reply = connection->try_command({"SUBSCRIBE", "+switch-master"}, deadline, failure);
    // The confirmation: ["subscribe", "+switch-master", 1].
    bool subscribed = reply && reply->type == Reply::Type::array && reply->elements.size() == 3 &&
                      reply->elements[0].text == "subscribe";
    if (subscribed) {
      link.connection = std::move(connection);
      continue;
    }
    // Each attempt can take --timeout of the watcher's loop: not often.
    link.retry_at = Clock::now() + std::chrono::seconds(5);
    std::string why =
        !reply ? failure.message
               : fmt::format("SUBSCRIBE +switch-master refused: {}", reply->text.substr(0, 120));
    problems +=
        fmt::format("{}{}: {}", problems.empty() ? "" : "; ", link.options.endpoint().text(), why);
  }
  return problems;
}

void SwitchFeed::add_poll_fds(std::vector<pollfd>& fds) const {
  for (const Link& link : links_)
    if (link.connection) fds.push_back({link.connection->socket_fd(), POLLIN | POLLRDHUP, 0});
}

std::vector<std::string> SwitchFeed::read(const std::vector<pollfd>& fds, std::size_t first) {
  std::vector<std::string> switches;
  std::size_t index = first;
  for (Link& link : links_) {
    if (!link.connection) continue;
    const pollfd& fd = fds.at(index++);
    if (fd.revents == 0) continue;
    ClientFailure failure;
    std::optional<Reply> message = link.connection->try_receive(Clock::now() + timeout_, failure);
    if (!message) {
      link.connection.reset();
      link.retry_at = Clock::now();  // a sentinel that restarted: subscribe again at once
      continue;
    }
    for (; message; message = link.connection->buffered_reply())
      if (std::optional<std::string> change = switch_of(*message, master_name_))
        switches.push_back(fmt::format("{} ({})", *change, link.options.endpoint().text()));
  }
  return switches;
}

}  // namespace rk
