#include "rk/sentinel_client.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "rk/fd.hpp"
#include "rk/stream.hpp"

namespace rk {

namespace {

// The value of `field` in a reply of field/value pairs; nullptr when absent.
const std::string* field_value(const Reply& reply, const std::string& field) {
  for (std::size_t i = 0; i + 1 < reply.elements.size(); i += 2)
    if (reply.elements[i].text == field) return &reply.elements[i + 1].text;
  return nullptr;
}

// A whole decimal number from `low` up, or nullopt.
std::optional<long long> whole_number(const std::string* text, long long low) {
  if (!text) return std::nullopt;
  long long value = 0;
  auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || value < low)
    return std::nullopt;
  return value;
}

// Sentinel's comma-separated flags ("slave,promoted"), empty words dropped.
std::vector<std::string> split_flags(const std::string& text) {
  std::vector<std::string> flags;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = std::min(text.find(',', start), text.size());
    if (comma > start) flags.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  return flags;
}

// Runs `ask(i)` for every i below `count`, all at once (`ask(0)` on the
// caller's thread, each other on a thread of its own; one that cannot be
// started runs on the caller's, in turn), and returns which had returned
// (1 each) when it stopped waiting: once all have, or once `settled(done)`
// held. Whichever thread returns asks `settled` under a lock (`ask(i)` has
// written its answer by then); once it holds, that thread cancels the
// others' waits (WaitCancellation: their connect, TLS or read poll() ends
// at once, the caller's own included), and all are joined, so nothing
// outlives the call.
std::vector<char> run_each(std::size_t count, const std::function<void(std::size_t)>& ask,
                           const std::function<bool(const std::vector<char>&)>& settled) {
  std::mutex mutex;
  std::vector<char> done(count, 0);
  std::size_t running = count;
  std::optional<std::vector<char>> settled_with;  // `done` when `settled` first held
  // Without an eventfd nothing is cancelled: the call waits for every one.
  Fd cancel(settled ? ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) : -1);
  auto run = [&](std::size_t i) {
    {
      WaitCancellation cancellable(cancel.get());
      ask(i);
    }
    std::lock_guard<std::mutex> lock(mutex);
    done[i] = 1;
    --running;
    if (running == 0 || !settled || settled_with || !settled(done)) return;
    settled_with = done;
    if (!cancel.valid()) return;
    std::uint64_t one = 1;
    // A full counter (impossible after one write) would only mean waiting.
    [[maybe_unused]] ssize_t written = ::write(cancel.get(), &one, sizeof(one));
  };
  std::vector<std::thread> threads;
  threads.reserve(count);
  for (std::size_t i = 1; i < count; ++i) {
    try {
      threads.emplace_back(run, i);
    } catch (const std::system_error&) {
      run(i);
    }
  }
  if (count > 0) run(0);
  for (std::thread& thread : threads) thread.join();
  return settled_with ? *settled_with : done;
}

}  // namespace

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
  std::optional<long long> port;
  if (reply.type == Reply::Type::array && reply.elements.size() == 2 &&
      reply.elements[0].type == Reply::Type::string &&
      reply.elements[1].type == Reply::Type::string && !reply.elements[0].text.empty())
    port = whole_number(&reply.elements[1].text, 1);
  if (!port || *port > 65535) {
    view.problem = "GET-MASTER-ADDR-BY-NAME: not an [address, port] reply";
    return;
  }
  view.master = Endpoint{reply.elements[0].text, static_cast<int>(*port)};
  view.answered = true;
}

bool replicas_reply_promotes(const Reply& reply, const Endpoint& node) {
  if (reply.type != Reply::Type::array) return false;
  for (const Reply& entry : reply.elements) {
    if (entry.type != Reply::Type::array) continue;
    const std::string* ip = field_value(entry, "ip");
    const std::string* port = field_value(entry, "port");
    const std::string* flags = field_value(entry, "flags");
    if (!ip || !port || !flags || *ip != node.host || *port != std::to_string(node.port)) continue;
    std::vector<std::string> each = split_flags(*flags);
    if (std::find(each.begin(), each.end(), "promoted") != each.end()) return true;
  }
  return false;
}

namespace {

// One sentinel's FailoverView, on the caller's thread.
FailoverView failover_view(const ConnectionOptions& sentinel, const std::string& master_name,
                           const Endpoint& node, Clock::time_point deadline) {
  FailoverView view;
  ClientFailure failure;
  std::optional<Connection> connection = Connection::try_open(sentinel, deadline, failure);
  if (!connection) return view;
  std::optional<Reply> replicas =
      connection->try_command({"SENTINEL", "REPLICAS", master_name}, deadline, failure);
  if (!replicas || replicas->is_error()) return view;
  view.answered = true;
  view.lists_promoted = replicas_reply_promotes(*replicas, node);
  if (view.lists_promoted) return view;
  std::optional<Reply> master =
      connection->try_command({"SENTINEL", "MASTER", master_name}, deadline, failure);
  SentinelDetails details;
  if (master) read_sentinel_master(*master, details);
  if (details.monitor) {
    view.monitored = details.monitor->address;
    view.config_epoch = details.monitor->config_epoch;
  }
  return view;
}

}  // namespace

std::vector<FailoverView> query_failover_views(const std::vector<ConnectionOptions>& sentinels,
                                               const std::string& master_name, const Endpoint& node,
                                               Clock::time_point deadline) {
  std::vector<FailoverView> views(sentinels.size());
  auto ask = [&](std::size_t i) {
    try {
      views[i] = failover_view(sentinels[i], master_name, node, deadline);
    } catch (const std::exception&) {
      views[i] = FailoverView{};
    }
  };
  // One sentinel that lists it as promoted is enough: the others are not
  // waited for.
  auto one_lists_it = [&](const std::vector<char>& done) {
    for (std::size_t i = 0; i < done.size(); ++i)
      if (done[i] && views[i].lists_promoted) return true;
    return false;
  };
  std::vector<char> done = run_each(sentinels.size(), ask, one_lists_it);
  for (std::size_t i = 0; i < done.size(); ++i)
    if (!done[i]) views[i] = FailoverView{};
  return views;
}

bool info_says_tilt(const std::string& info) {
  return info.find("\nsentinel_tilt:1") != std::string::npos ||
         info.rfind("sentinel_tilt:1", 0) == 0;
}

namespace {

// What of a sentinel's error or message a report shows: the start, enough
// to name the cause (a hostile reply must not fill a log line).
constexpr std::size_t kReplyShown = 200;
// Sentinel's flags are a dozen short words at most (sentinel.c's
// addReplySentinelRedisInstance): a longer text is not its reply.
constexpr std::size_t kFlagsLength = 256;

// Adds `why` to the details' problem.
void add_problem(SentinelDetails& details, const std::string& why) {
  if (!details.problem.empty()) details.problem += "; ";
  details.problem += why;
}

// SENTINEL MASTER's pairs, checked: every element a string, an even count.
bool field_value_pairs(const Reply& reply) {
  if (reply.type != Reply::Type::array || reply.elements.size() % 2 != 0) return false;
  return std::all_of(reply.elements.begin(), reply.elements.end(),
                     [](const Reply& element) { return element.type == Reply::Type::string; });
}

}  // namespace

void read_sentinel_master(const Reply& reply, SentinelDetails& details) {
  if (reply.is_error()) {
    add_problem(details,
                fmt::format("SENTINEL MASTER refused: {}", reply.text.substr(0, kReplyShown)));
    return;
  }
  if (!field_value_pairs(reply)) {
    add_problem(details, "SENTINEL MASTER: not a reply of field/value pairs");
    return;
  }
  SentinelMonitor monitor;
  const std::string* flags = field_value(reply, "flags");
  if (!flags || flags->size() > kFlagsLength) {
    add_problem(details, "SENTINEL MASTER: no flags field, or one too long");
    return;
  }
  monitor.flags = split_flags(*flags);
  for (auto [field, low, value] : {std::tuple("config-epoch", 0LL, &monitor.config_epoch),
                                   std::tuple("num-other-sentinels", 0LL, &monitor.other_sentinels),
                                   std::tuple("quorum", 1LL, &monitor.quorum)}) {
    std::optional<long long> number = whole_number(field_value(reply, field), low);
    if (!number) {
      add_problem(details, fmt::format("SENTINEL MASTER: no whole {} field", field));
      return;
    }
    *value = *number;
  }
  // The address it monitors (the old master's until +switch-master).
  const std::string* ip = field_value(reply, "ip");
  std::optional<long long> port = whole_number(field_value(reply, "port"), 1);
  if (ip && !ip->empty() && port && *port <= 65535)
    monitor.address = Endpoint{*ip, static_cast<int>(*port)};
  details.monitor = monitor;
}

void read_ckquorum(const Reply& reply, SentinelDetails& details) {
  std::string text = reply.text.substr(0, kReplyShown);
  // Both answers lead with a word and then say how many sentinels it can
  // use: "OK 3 usable Sentinels. Quorum and failover authorization can be
  // reached", "NOQUORUM 1 usable Sentinels. Not enough available ...".
  std::string rest = text.find(' ') == std::string::npos ? "" : text.substr(text.find(' ') + 1);
  if (reply.type == Reply::Type::status && text.substr(0, text.find(' ')) == "OK") {
    details.quorum_reachable = true;
    details.quorum_text = rest;
  } else if (reply.error_code() == "NOQUORUM") {
    details.quorum_reachable = false;
    details.quorum_text = rest;
  } else if (reply.is_error()) {
    add_problem(details, fmt::format("SENTINEL CKQUORUM refused: {}", text));
  } else {
    add_problem(details, "SENTINEL CKQUORUM: not an +OK or -NOQUORUM reply");
  }
}

namespace {

// Opens `connection` and asks what redis_check needs:
// GET-MASTER-ADDR-BY-NAME, then INFO sentinel. The connection stays open
// for more commands when the view is answered.
SentinelView ask_view(std::optional<Connection>& connection, const ConnectionOptions& sentinel,
                      const std::string& master_name, Clock::time_point deadline) {
  SentinelView view;
  view.sentinel = sentinel.endpoint();
  view.master_name = master_name;
  ClientFailure failure;
  connection = Connection::try_open(sentinel, deadline, failure);
  std::optional<Reply> address;
  if (connection)
    address = connection->try_command({"SENTINEL", "GET-MASTER-ADDR-BY-NAME", master_name},
                                      deadline, failure);
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

}  // namespace

SentinelView query_sentinel(const ConnectionOptions& sentinel, const std::string& master_name,
                            Clock::time_point deadline) {
  std::optional<Connection> connection;
  return ask_view(connection, sentinel, master_name, deadline);
}

namespace {

// One sentinel's details, on the caller's thread.
SentinelDetails sentinel_details(const ConnectionOptions& sentinel, const std::string& master_name,
                                 Clock::time_point deadline) {
  SentinelDetails details;
  std::optional<Connection> connection;
  details.view = ask_view(connection, sentinel, master_name, deadline);
  // A sentinel that monitors no such master would only answer "No such
  // master" again.
  if (!details.view.master) return details;
  ClientFailure failure;
  std::optional<Reply> monitor =
      connection->try_command({"SENTINEL", "MASTER", master_name}, deadline, failure);
  if (!monitor) {
    add_problem(details, fmt::format("SENTINEL MASTER: {}", failure.message));
    return details;  // the connection is unusable after a failure
  }
  read_sentinel_master(*monitor, details);
  std::optional<Reply> quorum =
      connection->try_command({"SENTINEL", "CKQUORUM", master_name}, deadline, failure);
  if (!quorum)
    add_problem(details, fmt::format("SENTINEL CKQUORUM: {}", failure.message));
  else
    read_ckquorum(*quorum, details);
  return details;
}

// The view inside each kind of answer.
SentinelView& view_of(SentinelView& view) { return view; }
SentinelView& view_of(SentinelDetails& details) { return details.view; }

template <typename Answer>
using SentinelQuery = Answer (*)(const ConnectionOptions&, const std::string&, Clock::time_point);

// An exception must not leave a thread (std::terminate): what the query
// could not survive (TLS set-up, memory) becomes that sentinel's problem.
template <typename Answer>
Answer guarded_query(SentinelQuery<Answer> query, const ConnectionOptions& sentinel,
                     const std::string& master_name, Clock::time_point deadline) {
  try {
    return query(sentinel, master_name, deadline);
  } catch (const std::exception& error) {
    Answer answer;
    view_of(answer).sentinel = sentinel.endpoint();
    view_of(answer).problem = error.what();
    return answer;
  }
}

// Runs `query` for every sentinel at once (run_each). With `settled`: stops
// waiting once it says the views in so far decide the caller's outcome; a
// sentinel not waited for then gets that as its problem.
template <typename Answer>
std::vector<Answer> query_all(SentinelQuery<Answer> query,
                              const std::vector<ConnectionOptions>& sentinels,
                              const std::string& master_name, Clock::time_point deadline,
                              const SentinelsSettled& settled = {}) {
  std::vector<Answer> answers(sentinels.size());
  auto ask = [&](std::size_t i) {
    answers[i] = guarded_query(query, sentinels[i], master_name, deadline);
  };
  std::function<bool(const std::vector<char>&)> views_settle;
  if (settled) {
    views_settle = [&](const std::vector<char>& done) {
      std::vector<SentinelView> in;
      for (std::size_t i = 0; i < done.size(); ++i)
        if (done[i]) in.push_back(view_of(answers[i]));
      return settled(in, done.size() - in.size());
    };
  }
  std::vector<char> done = run_each(sentinels.size(), ask, views_settle);
  for (std::size_t i = 0; i < done.size(); ++i) {
    if (done[i]) continue;
    SentinelView& view = view_of(answers[i]);
    view = SentinelView{};
    view.sentinel = sentinels[i].endpoint();
    view.problem = "not waited for: the others' answers had settled it";
  }
  return answers;
}

}  // namespace

std::vector<SentinelView> query_sentinels(const std::vector<ConnectionOptions>& sentinels,
                                          const std::string& master_name,
                                          Clock::time_point deadline,
                                          const SentinelsSettled& settled) {
  return query_all<SentinelView>(query_sentinel, sentinels, master_name, deadline, settled);
}

std::vector<SentinelDetails> query_sentinel_details(const std::vector<ConnectionOptions>& sentinels,
                                                    const std::string& master_name,
                                                    Clock::time_point deadline) {
  return query_all<SentinelDetails>(sentinel_details, sentinels, master_name, deadline);
}

}  // namespace rk
