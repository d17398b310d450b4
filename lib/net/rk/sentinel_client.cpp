#include "rk/sentinel_client.hpp"

#include <charconv>
#include <thread>

#include <fmt/format.h>

namespace rk {

void read_master_address(const Reply& reply, SentinelView& view) {
  if (reply.is_error()) {
    view.problem = fmt::format("GET-MASTER-ADDR-BY-NAME refused: {}", reply.text.substr(0, 120));
    return;
  }
  // A name the sentinel does not monitor: a null reply.
  if (reply.type == Reply::Type::nil) {
    view.answered = true;
    return;
  }
  int port = 0;
  bool well_formed = reply.type == Reply::Type::array && reply.elements.size() == 2 &&
                     reply.elements[0].type == Reply::Type::string &&
                     reply.elements[1].type == Reply::Type::string;
  if (well_formed) {
    const std::string& text = reply.elements[1].text;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), port);
    well_formed = error == std::errc() && end == text.data() + text.size() && port > 0 &&
                  port <= 65535 && !reply.elements[0].text.empty();
  }
  if (!well_formed) {
    view.problem = "GET-MASTER-ADDR-BY-NAME: not an [address, port] reply";
    return;
  }
  view.master = Endpoint{reply.elements[0].text, port};
  view.answered = true;
}

bool info_says_tilt(const std::string& info) {
  return info.find("\nsentinel_tilt:1") != std::string::npos ||
         info.rfind("sentinel_tilt:1", 0) == 0;
}

SentinelView query_sentinel(const ConnectionOptions& sentinel, const std::string& master_name,
                            Clock::time_point deadline) {
  SentinelView view;
  view.sentinel = sentinel.endpoint();
  ClientFailure failure;
  std::optional<Connection> connection = Connection::try_open(sentinel, deadline, failure);
  std::optional<Reply> address;
  if (connection)
    address =
        connection->try_command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name}, deadline,
                                failure);
  if (!address) {
    view.problem = failure.message;
    return view;
  }
  read_master_address(*address, view);
  if (!view.answered) return view;
  std::optional<Reply> info = connection->try_command({"INFO", "sentinel"}, deadline, failure);
  if (!info || info->type != Reply::Type::string) {
    view.answered = false;
    view.master.reset();
    view.problem = info ? fmt::format("INFO sentinel refused: {}", info->text.substr(0, 120))
                        : failure.message;
    return view;
  }
  view.tilt = info_says_tilt(info->text);
  return view;
}

namespace {

// An exception must not leave a thread (std::terminate): what the query
// could not survive (TLS set-up, memory) becomes that sentinel's problem.
SentinelView guarded_query(const ConnectionOptions& sentinel, const std::string& master_name,
                           Clock::time_point deadline) {
  try {
    return query_sentinel(sentinel, master_name, deadline);
  } catch (const std::exception& error) {
    SentinelView view;
    view.sentinel = sentinel.endpoint();
    view.problem = error.what();
    return view;
  }
}

}  // namespace

std::vector<SentinelView> query_sentinels(const std::vector<ConnectionOptions>& sentinels,
                                          const std::string& master_name,
                                          Clock::time_point deadline) {
  std::vector<SentinelView> views(sentinels.size());
  std::vector<std::thread> threads;
  threads.reserve(sentinels.size());
  // query_sentinel throws nothing a sentinel's answer can cause; a thread
  // that could not be started queries on this thread, in turn.
  for (std::size_t i = 1; i < sentinels.size(); ++i) {
    try {
      threads.emplace_back([&, i] { views[i] = guarded_query(sentinels[i], master_name, deadline); });
    } catch (const std::system_error&) {
      views[i] = guarded_query(sentinels[i], master_name, deadline);
    }
  }
  if (!sentinels.empty()) views[0] = guarded_query(sentinels[0], master_name, deadline);
  for (std::thread& thread : threads) thread.join();
  return views;
}

}  // namespace rk
