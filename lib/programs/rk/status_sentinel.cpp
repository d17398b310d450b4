#include "rk/status_sentinel.hpp"

#include <fmt/format.h>

#include "rk/status.hpp"

namespace rk {
namespace {

std::string join(const std::vector<std::string>& words, const char* separator) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : separator) + word;
  return text;
}

// What SENTINEL MASTER and CKQUORUM said, for a sentinel's line.
std::string text_monitor(const SentinelDetails& details) {
  std::string out;
  if (const std::optional<SentinelMonitor>& monitor = details.monitor)
    out += fmt::format(", config epoch {}, flags {}, {} other sentinels, quorum {}",
                       monitor->config_epoch, join(monitor->flags, ","), monitor->other_sentinels,
                       monitor->quorum);
  if (details.quorum_reachable)
    out += *details.quorum_reachable ? ", quorum reachable"
                                     : fmt::format(", NO QUORUM: {}", details.quorum_text);
  if (!details.problem.empty()) out += fmt::format(" ({})", details.problem);
  return out;
}

std::string text_sentinel(const SentinelStatus& status, std::size_t index) {
  const SentinelDetails& details = status.sentinels[index];
  const SentinelView& view = details.view;
  std::string address = view.sentinel.text();
  if (!view.answered)
    return fmt::format("  sentinel {}: NO ANSWER: {}\n", address, view.problem_after_address());
  std::string tilt = view.tilt ? "TILT (its view does not count), " : "";
  if (!view.master)
    return fmt::format("  sentinel {}: {}monitors no master named {}\n", address, tilt,
                       status.master_name);
  return fmt::format("  sentinel {}: {}names {}{}{}\n", address, tilt, view.master->text(),
                     status.names_self(index) ? " (this node)" : "", text_monitor(details));
}

std::string text_verdict(const SentinelTally& tally) {
  if (tally.master)
    return fmt::format("  verdict: the majority names {} ({} of {} configured, {} needed)\n",
                       tally.master->text(), tally.votes, tally.configured, tally.needed);
  return fmt::format(
      "  verdict: NO MAJORITY: no master is named by {} of the {} configured sentinels (the most "
      "named has {}; {} in TILT, {} answered)\n",
      tally.needed, tally.configured, tally.votes, tally.tilted, tally.answered);
}

std::string json_or_null(const std::optional<std::string>& text) {
  return text ? json_string(*text) : std::string("null");
}

std::string json_monitor(const std::optional<SentinelMonitor>& monitor) {
  if (!monitor) return "null";
  std::string flags;
  for (const std::string& flag : monitor->flags)
    flags += (flags.empty() ? "" : ",") + json_string(flag);
  return fmt::format(
      "{{\"address\":{},\"flags\":[{}],\"config_epoch\":{},\"num_other_sentinels\":{},"
      "\"quorum\":{}}}",
      json_or_null(monitor->address ? std::optional(monitor->address->text()) : std::nullopt),
      flags, monitor->config_epoch, monitor->other_sentinels, monitor->quorum);
}

std::string json_sentinel(const SentinelStatus& status, std::size_t index) {
  const SentinelDetails& details = status.sentinels[index];
  const SentinelView& view = details.view;
  auto text_or_null = [](const std::string& text) {
    return text.empty() ? std::string("null") : json_string(text);
  };
  std::string reachable = details.quorum_reachable
                              ? std::string(*details.quorum_reachable ? "true" : "false")
                              : std::string("null");
  return fmt::format(
      "{{\"address\":{},\"answered\":{},\"problem\":{},\"master\":{},\"names_this_node\":{},"
      "\"tilt\":{},\"monitor\":{},\"quorum_reachable\":{},\"ckquorum\":{},"
      "\"details_problem\":{}}}",
      json_string(view.sentinel.text()), view.answered ? "true" : "false",
      text_or_null(view.problem),
      json_or_null(view.master ? std::optional(view.master->text()) : std::nullopt),
      status.names_self(index) ? "true" : "false", view.tilt ? "true" : "false",
      json_monitor(details.monitor), reachable,
      details.quorum_reachable ? json_string(details.quorum_text) : std::string("null"),
      text_or_null(details.problem));
}

}  // namespace

const char* place_name(SentinelPlace place) {
  switch (place) {
    case SentinelPlace::named_master: return "named-master";
    case SentinelPlace::replica: return "replica";
    case SentinelPlace::unnamed_master: return "unnamed-master";
    case SentinelPlace::unknown: break;
  }
  return "unknown";
}

std::string render_sentinel_text(const SentinelStatus& status) {
  std::string out = fmt::format("sentinels for {}: {} configured, {} make a majority\n",
                                status.master_name, status.tally.configured, status.tally.needed);
  for (std::size_t i = 0; i < status.sentinels.size(); ++i) out += text_sentinel(status, i);
  out += text_verdict(status.tally);
  return out + fmt::format("  this node {}: {}\n", status.self.text(), status.standing.text);
}

std::string render_sentinel_json(const SentinelStatus& status) {
  std::string list;
  for (std::size_t i = 0; i < status.sentinels.size(); ++i)
    list += (i == 0 ? "" : ",") + json_sentinel(status, i);
  const SentinelTally& tally = status.tally;
  std::string verdict = fmt::format(
      "{{\"agree\":{},\"master\":{},\"votes\":{},\"answered\":{},\"tilted\":{},\"summary\":{}}}",
      tally.master ? "true" : "false",
      json_or_null(tally.master ? std::optional(tally.master->text()) : std::nullopt), tally.votes,
      tally.answered, tally.tilted, json_string(tally.summary));
  std::string place =
      fmt::format("{{\"place\":{},\"fenced\":{},\"text\":{}}}",
                  json_string(place_name(status.standing.place)),
                  status.standing.fenced ? "true" : "false", json_string(status.standing.text));
  return fmt::format(
      "{{\"master_name\":{},\"self\":{},\"configured\":{},\"needed\":{},\"list\":[{}],"
      "\"verdict\":{},\"this_node\":{}}}",
      json_string(status.master_name), json_string(status.self.text()), tally.configured,
      tally.needed, list, verdict, place);
}

}  // namespace rk
