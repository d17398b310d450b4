#include "rk/sentinel_quorum.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <map>

#include <fmt/format.h>

namespace rk {
namespace {

// The binary form of an IP literal; empty for a name.
std::string ip_bytes(const std::string& text) {
  unsigned char buffer[sizeof(in6_addr)];
  if (::inet_pton(AF_INET, text.c_str(), buffer) == 1)
    return std::string(reinterpret_cast<const char*>(buffer), sizeof(in_addr));
  if (::inet_pton(AF_INET6, text.c_str(), buffer) == 1)
    return std::string(reinterpret_cast<const char*>(buffer), sizeof(in6_addr));
  return {};
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// "10.0.0.3:26379: connection refused; 10.0.0.4:26379: TILT" for the
// sentinels that do not count.
std::string not_counted(const std::vector<SentinelView>& views) {
  std::string text;
  for (const SentinelView& view : views) {
    std::string why;
    if (!view.answered)
      why = view.problem;
    else if (view.tilt)
      why = "in TILT";
    else if (!view.master)
      why = "monitors no master of that name";
    if (why.empty()) continue;
    if (!text.empty()) text += "; ";
    text += fmt::format("{}: {}", view.sentinel.text(), why);
  }
  return text;
}

}  // namespace

bool same_address(const std::string& a, const std::string& b) {
  std::string bytes_a = ip_bytes(a);
  std::string bytes_b = ip_bytes(b);
  if (!bytes_a.empty() || !bytes_b.empty()) return bytes_a == bytes_b;
  return lower(a) == lower(b);
}

bool same_endpoint(const Endpoint& a, const Endpoint& b) {
  return a.port == b.port && same_address(a.host, b.host);
}

SentinelTally tally_sentinels(const std::vector<SentinelView>& views, std::size_t configured) {
  SentinelTally tally;
  tally.configured = configured;
  tally.needed = configured / 2 + 1;
  // Votes per address, in the order first named (so a tie reads the same
  // way every run).
  std::vector<std::pair<Endpoint, std::size_t>> named;
  for (const SentinelView& view : views) {
    if (!view.answered) continue;
    ++tally.answered;
    if (!view.master) tally.unknown_master = true;
    // A sentinel in TILT acts on nothing for 30 s: its view may be stale.
    if (view.tilt) ++tally.tilted;
    if (view.tilt || !view.master) continue;
    auto same = [&view](const auto& entry) { return same_endpoint(entry.first, *view.master); };
    auto found = std::find_if(named.begin(), named.end(), same);
    if (found == named.end())
      named.emplace_back(*view.master, 1);
    else
      ++found->second;
  }
  auto most = std::max_element(named.begin(), named.end(),
                               [](const auto& x, const auto& y) { return x.second < y.second; });
  if (most != named.end()) {
    tally.votes = most->second;
    if (most->second >= tally.needed) tally.master = most->first;
  }
  std::string named_text = most == named.end()
                               ? std::string("none names a master")
                               : fmt::format("{} name{} {}", most->second,
                                             most->second == 1 ? "s" : "", most->first.text());
  tally.summary = fmt::format("{} of {} sentinels: {}", tally.answered, configured, named_text);
  if (named.size() > 1) tally.summary += fmt::format(" ({} addresses named)", named.size());
  std::string others = not_counted(views);
  if (!others.empty()) tally.summary += fmt::format(" [{}]", others);
  return tally;
}

bool sentinel_tally_settled(const std::vector<SentinelView>& in, std::size_t pending,
                            std::size_t configured) {
  SentinelTally tally = tally_sentinels(in, configured);
  return tally.master.has_value() || tally.votes + pending < tally.needed;
}

SentinelCheck decide_sentinel_check(const RedisState& local, const SentinelTally& tally,
                                    const Endpoint& self, const std::optional<FenceRecord>& record,
                                    bool promoting) {
  // A fence the record says the toolkit set (or, without a record, one the
  // values must tell): lifted once this node is Sentinel's master again or
  // its replica. A replica ignores min-replicas-*, but Sentinel promotes
  // with CONFIG REWRITE, which would write a fence still on into redis.conf.
  bool toolkit_fence_on =
      local.write_fence_on && (!record || record->isolation || !record->last_set);
  SentinelFenceStep lift = toolkit_fence_on ? SentinelFenceStep::lift : SentinelFenceStep::keep;
  if (local.loading) return {false, "loading", "the local Redis is loading its dataset", lift};
  if (!local.is_master())
    return {false, "replica",
            fmt::format("a replica of {} ({})", local.master().text(), tally.summary), lift};
  if (tally.master && same_endpoint(*tally.master, self))
    return {true, "healthy", fmt::format("the sentinels' master: {}", tally.summary), lift};
  if (promoting)
    return {false, "promoting",
            fmt::format("a master that a sentinel's failover is promoting, not named by a "
                        "majority yet: {}",
                        tally.summary),
            SentinelFenceStep::keep};
  // A master that no majority names: fence it, whether the majority names
  // another node or none (split, TILT, sentinels down): its writes could
  // be discarded when Sentinel converts it.
  bool fenced = local.write_fence_on && record && record->isolation;
  SentinelFenceStep fence = fenced ? SentinelFenceStep::keep : SentinelFenceStep::fence;
  if (tally.master)
    return {false, "not-named",
            fmt::format("a master, but the sentinels name {} as master, not {}: {}",
                        tally.master->text(), self.text(), tally.summary),
            fence};
  return {false, "no-quorum",
          fmt::format("a master, but no majority of the {} configured sentinels names it "
                      "(needs {}): {}",
                      tally.configured, tally.needed, tally.summary),
          fence};
}

SentinelStanding sentinel_standing(const std::optional<RedisState>& local,
                                   const SentinelTally& tally, const Endpoint& self) {
  if (!local) return {SentinelPlace::unknown, false, "unknown: the local Redis does not answer"};
  if (local->loading)
    return {SentinelPlace::unknown, false, "unknown: the local Redis is loading its dataset"};
  bool named = tally.master && same_endpoint(*tally.master, self);
  std::string majority = tally.master ? fmt::format("the majority names {}", tally.master->text())
                                      : std::string("no majority names a master");
  if (!local->is_master()) {
    // Sentinel repoints the other replicas after a promotion, one by one
    // (parallel-syncs): until then a replica follows the old master. A
    // replica the majority names is one Sentinel last saw as a master (a
    // REPLICAOF by hand since).
    bool follows_named = tally.master && same_endpoint(*tally.master, local->master());
    std::string how = named           ? "; yet the majority names this node as master"
                      : follows_named ? std::string()
                                      : "; " + majority;
    return {SentinelPlace::replica, false,
            fmt::format("a replica of {}{}", local->master().text(), how)};
  }
  if (named) return {SentinelPlace::named_master, local->write_fence_on, "the sentinels' master"};
  return {SentinelPlace::unnamed_master, local->write_fence_on,
          fmt::format("a master the majority does not name (fenced: {}); {}",
                      local->write_fence_on ? "yes" : "no", majority)};
}

FenceValues sentinel_fence(int max_lag) { return {kSentinelFenceReplicas, max_lag}; }

bool is_sentinel_fence(const FenceValues& found) {
  return found.to_write == kSentinelFenceReplicas && found.max_lag > 0;
}

}  // namespace rk
