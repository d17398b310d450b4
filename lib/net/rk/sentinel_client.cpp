#include "rk/sentinel_client.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <tuple>

#include <fmt/format.h>

#include "rk/fd.hpp"
#include "rk/stream.hpp"

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

namespace {

// A field of one SENTINEL REPLICAS entry; "" when absent.
std::string field(const Reply& entry, const std::string& name) {
  for (std::size_t i = 0; i + 1 < entry.elements.size(); i += 2)
    if (entry.elements[i].text == name) return entry.elements[i + 1].text;
  return {};
}

bool has_flag(const std::string& flags, const std::string& flag) {
  std::size_t start = 0;
  while (start <= flags.size()) {
    std::size_t comma = flags.find(',', start);
    if (flags.compare(start, comma == std::string::npos ? std::string::npos : comma - start,
                      flag) == 0)
      return true;
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return false;
}

// Runs `ask(i)` for every i below `count`, all at once, and returns which
// had returned when it stopped waiting (1 each): once all have, or once
// `settled(done)` (asked under a lock each time one returns; `ask(i)` has
// written its answer by then) says the rest are not needed. Their waits are
// then cancelled (WaitCancellation: the connect, TLS or read poll() ends
// at once) and they are joined, so nothing outlives the call. Without
// `settled`, `ask(0)` runs on the caller's thread: one thread fewer. A
// thread that cannot be started runs its `ask` on the caller's, in turn.
std::vector<char> run_each(std::size_t count, const std::function<void(std::size_t)>& ask,
                           const std::function<bool(const std::vector<char>&)>& settled) {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<char> done(count, 0);
  std::size_t running = count;
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
    changed.notify_one();
  };
  std::vector<std::thread> threads;
  threads.reserve(count);
  std::size_t first_thread = settled ? 0 : 1;
  for (std::size_t i = first_thread; i < count; ++i) {
    try {
      threads.emplace_back(run, i);
    } catch (const std::system_error&) {
      run(i);
    }
  }
  if (!settled && count > 0) run(0);
  std::vector<char> seen;
  {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return running == 0 || (settled && settled(done)); });
    seen = done;
  }
  if (std::find(seen.begin(), seen.end(), 0) != seen.end() && cancel.valid()) {
    std::uint64_t one = 1;
    // A full counter (impossible after one write) would only mean waiting.
    [[maybe_unused]] ssize_t written = ::write(cancel.get(), &one, sizeof(one));
  }
  for (std::thread& thread : threads) thread.join();
  return seen;
}

}  // namespace

bool replicas_reply_promotes(const Reply& reply, const Endpoint& node) {
  if (reply.type != Reply::Type::array) return false;
  for (const Reply& entry : reply.elements) {
    if (entry.type != Reply::Type::array) continue;
    if (field(entry, "ip") == node.host && field(entry, "port") == std::to_string(node.port) &&
        has_flag(field(entry, "flags"), "promoted"))
      return true;
  }
  return false;
}

bool sentinel_promoting(const std::vector<ConnectionOptions>& sentinels,
                        const std::string& master_name, const Endpoint& node,
                        Clock::time_point deadline) {
  std::vector<char> promoting(sentinels.size(), 0);
  auto ask = [&](std::size_t i) {
    try {
      ClientFailure failure;
      std::optional<Connection> connection = Connection::try_open(sentinels[i], deadline, failure);
      std::optional<Reply> reply;
      if (connection)
        reply = connection->try_command({"SENTINEL", "REPLICAS", master_name}, deadline, failure);
      promoting[i] = reply && replicas_reply_promotes(*reply, node) ? 1 : 0;
    } catch (const std::exception&) {
      promoting[i] = 0;
    }
  };
  // One sentinel that says so is enough: the others are not waited for.
  auto one_says_so = [&](const std::vector<char>& done) {
    for (std::size_t i = 0; i < done.size(); ++i)
      if (done[i] && promoting[i]) return true;
    return false;
  };
  std::vector<char> done = run_each(sentinels.size(), ask, one_says_so);
  return one_says_so(done);
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
