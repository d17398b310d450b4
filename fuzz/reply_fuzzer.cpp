// libFuzzer target: arbitrary bytes as a server's reply stream, read by the
// same hiredis reader and conversion that Connection uses, then handed to
// what the tools do with a reply: redis_check's PING verdict, the error code
// of an error reply, and parse_info for INFO text.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "rk/decisions.hpp"
#include "rk/redis_client.hpp"
#include "rk/replication_info.hpp"

namespace {

void consume(const rk::Reply& reply) {
  (void)rk::ping_means_healthy(std::optional<rk::Reply>(reply));
  (void)reply.error_code();
  if (reply.type == rk::Reply::Type::string) (void)rk::parse_info(reply.text);
  for (const rk::Reply& element : reply.elements) consume(element);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  rk::Result<rk::ParsedReplies> parsed = rk::parse_reply_bytes(bytes);
  if (!parsed) return 0;
  for (const rk::Reply& reply : parsed->replies) consume(reply);
  return 0;
}
