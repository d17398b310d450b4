// libFuzzer target: INFO text as a broken or hostile server could send it,
// through parse_info and then every pure decision that consumes the result.
// A NUL byte, if any, splits the input into the local and the peer INFO, so
// the comparisons see two independently malformed servers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "rk/decisions.hpp"
#include "rk/replication_info.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t split = input.find('\0');
  std::string_view local_text = input.substr(0, split);
  std::string_view peer_text = split == std::string_view::npos ? input : input.substr(split + 1);

  rk::Result<rk::RedisState> local = rk::parse_info(local_text);
  if (!local) return 0;
  rk::Result<rk::RedisState> peer = rk::parse_info(peer_text);
  rk::PeerView peer_view;
  if (peer) peer_view = *peer;
  (void)rk::describe(*local);

  // The endpoint the local replica points at, so the "replicating the peer"
  // branches are reachable as well as the others.
  rk::Endpoint endpoint{local->master_host, local->master_port};
  // The peer as every kind of observation: answered with the parsed INFO, or
  // gone, silent, denied, with the parsed INFO as what it was last seen as.
  std::vector<rk::Observation> observations;
  if (peer_view) observations.push_back(rk::Observation::of(*peer_view));
  for (rk::Reach reach :
       {rk::Reach::gone, rk::Reach::silent, rk::Reach::denied, rk::Reach::not_configured})
    observations.push_back(rk::Observation::failed(reach, "fuzzed"));
  for (const rk::Observation& observed : observations) {
    for (long long silent_ms : {0LL, 5000LL}) {
      rk::MasterView view{*local, observed, peer_view, std::chrono::milliseconds(silent_ms),
                          std::nullopt};
      (void)rk::decide_master_step(view, rk::MasterPolicy{endpoint, std::chrono::seconds(2)});
    }
    for (bool grace_over : {false, true})
      (void)rk::decide_backup_step(*local, observed, endpoint, grace_over);
  }
  (void)rk::known_incompleteness(*local, peer_view);
  (void)rk::decide_after_promotion(*local, peer_view);
  for (const char* transition : {"MASTER", "BACKUP"})
    for (bool hook_running : {false, true})
      (void)rk::decide_vip_holder(transition, hook_running, *local);
  if (peer_view) {
    (void)rk::holds_history_of(*local, *peer_view);
    (void)rk::holds_history_of(*peer_view, *local);
    (void)rk::describe_divergence(*local, *peer_view);
    (void)rk::describe_divergence(*peer_view, *local);
    (void)rk::compare_after_fork(*local, *peer_view);
    (void)rk::caught_up_with(*local, *peer_view);
  }
  return 0;
}
