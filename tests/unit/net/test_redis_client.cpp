#include "catch_compat.hpp"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "rk/redis_client.hpp"

// parse_reply_bytes: the hiredis reader and the conversion to Reply that
// Connection uses, fed from the reply fuzzer's seeds (fuzz/corpus/reply,
// written by fuzz/make_seeds.py) and from hand-written byte streams.

#ifndef RK_FUZZ_CORPUS_DIR
#error "RK_FUZZ_CORPUS_DIR must name the fuzz/corpus directory (tests/unit/CMakeLists.txt)"
#endif

using namespace rk;

namespace {

using Type = Reply::Type;

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INFO("cannot read " << path);
  REQUIRE(in);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::string corpus(const std::string& relative) {
  return read_bytes(std::string(RK_FUZZ_CORPUS_DIR) + "/" + relative);
}

// ---- expected replies ------------------------------------------------------
Reply status(std::string text) {
  Reply reply;
  reply.type = Type::status;
  reply.text = std::move(text);
  return reply;
}

Reply error(std::string text) {
  Reply reply;
  reply.type = Type::error;
  reply.text = std::move(text);
  return reply;
}

Reply integer(long long value) {
  Reply reply;
  reply.type = Type::integer;
  reply.integer = value;
  return reply;
}

Reply bulk(std::string text) {
  Reply reply;
  reply.type = Type::string;
  reply.text = std::move(text);
  return reply;
}

Reply nil() { return Reply{}; }

Reply array(std::vector<Reply> elements) {
  Reply reply;
  reply.type = Type::array;
  reply.elements = std::move(elements);
  return reply;
}

// A reply as unambiguous text (type, every field that type uses, lengths),
// so that a mismatch shows both sides in full.
std::string show(const Reply& reply) {
  auto quoted = [](const std::string& text) {
    std::string out = std::to_string(text.size()) + "\"";
    for (unsigned char c : text) {
      if (c == '\r')
        out += "\\r";
      else if (c == '\n')
        out += "\\n";
      else if (c < 0x20 || c >= 0x7f)
        out += "\\x" + std::string(1, "0123456789abcdef"[c >> 4]) + "0123456789abcdef"[c & 15];
      else
        out += static_cast<char>(c);
    }
    return out + "\"";
  };
  switch (reply.type) {
    case Type::status: return "status " + quoted(reply.text);
    case Type::error: return "error " + quoted(reply.text);
    case Type::integer: return "integer " + std::to_string(reply.integer);
    case Type::string: return "bulk " + quoted(reply.text);
    case Type::nil: return "nil";
    case Type::array: {
      std::string out = "array " + std::to_string(reply.elements.size()) + " [";
      for (size_t i = 0; i < reply.elements.size(); ++i)
        out += (i ? ", " : "") + show(reply.elements[i]);
      return out + "]";
    }
  }
  return "?";
}

std::string show(const std::vector<Reply>& replies) {
  std::string out = std::to_string(replies.size()) + " replies:";
  for (const Reply& reply : replies) out += "\n  " + show(reply);
  return out;
}

// The bytes parse; returns what they hold.
ParsedReplies parses(const std::string& bytes) {
  Result<ParsedReplies> result = parse_reply_bytes(bytes);
  INFO("refused: " << (result ? std::string() : result.error()));
  REQUIRE(result.ok());
  return result.value();
}

// The bytes are refused; returns the reason.
std::string refused(const std::string& bytes) {
  Result<ParsedReplies> result = parse_reply_bytes(bytes);
  INFO("parsed as " << (result ? show(result->replies) : std::string("-")));
  REQUIRE_FALSE(result.ok());
  CHECK_FALSE(result.error().empty());
  return result.error();
}

// Exactly these replies, and the bytes end where the last one ends.
void check_whole(const std::string& bytes, const std::vector<Reply>& expected) {
  ParsedReplies parsed = parses(bytes);
  CHECK(show(parsed.replies) == show(expected));
  CHECK(parsed.complete);
}

// ---- what each seed is ---------------------------------------------------
struct Expected {
  bool ok = true;
  std::vector<Reply> replies;  // when ok
  bool complete = true;        // when ok
  std::string error_has;       // when refused: part of the reason
  std::string error_code;      // for a single error reply: its first word
};

Expected whole(std::vector<Reply> replies) {
  return Expected{true, std::move(replies), true, {}, {}};
}

Expected cut_short(std::vector<Reply> replies) {
  return Expected{true, std::move(replies), false, {}, {}};
}

Expected refusal(std::string error_has) {
  return Expected{false, {}, false, std::move(error_has), {}};
}

Expected error_reply(std::string text, std::string code) {
  return Expected{true, {error(std::move(text))}, true, {}, std::move(code)};
}

// INFO captured from a real server: one bulk string, the same text that
// make_seeds.py saved for the INFO parser.
Expected info_seed(const std::string& name) { return whole({bulk(corpus("parse_info/" + name))}); }

std::map<std::string, Expected> seed_expectations() {
  std::vector<Reply> config_get;
  for (const char* item :
       {"maxmemory-eviction-tenacity", "10", "maxmemory-samples", "5", "maxmemory", "0",
        "maxmemory-policy", "noeviction", "maxmemory-clients", "0"})
    config_get.push_back(bulk(item));
  return {
      // Replies of real servers.
      {"ok.resp", whole({status("OK")})},
      {"ping-pong.resp", whole({status("PONG")})},
      {"ping-loading.resp",
       error_reply("LOADING Redis is loading the dataset in memory", "LOADING")},
      {"config-get.resp", whole({array(config_get)})},
      {"role-master.resp", whole({array({bulk("master"), integer(60), array({})})})},
      {"info-master.resp", info_seed("master.txt")},
      {"info-replica.resp", info_seed("replica.txt")},
      {"info-replica-syncing.resp", info_seed("replica-syncing.txt")},
      {"info-promoted.resp", info_seed("promoted.txt")},
      {"info-loading.resp", info_seed("loading.txt")},
      // Hand-written: errors the tools classify by their first word.
      {"noperm.resp",
       error_reply("NOPERM this user has no permissions to run the 'replicaof' command", "NOPERM")},
      {"wrongpass.resp",
       error_reply("WRONGPASS invalid username-password pair or user is disabled.", "WRONGPASS")},
      {"masterdown.resp",
       error_reply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to "
                   "'no'.",
                   "MASTERDOWN")},
      {"busy.resp", error_reply("BUSY Redis is busy running a script.", "BUSY")},
      // Odd types.
      {"integer.resp", whole({integer(LLONG_MAX)})},
      {"nil-bulk.resp", whole({nil()})},
      {"nil-array.resp", whole({nil()})},
      {"empty-bulk.resp", whole({bulk("")})},
      {"nested-array.resp",
       whole({array({array({integer(1), bulk("abc")}), array({array({status("deep")})})})})},
      {"pipeline.resp", whole({status("OK"), status("PONG"), integer(3)})},
      // Cut short: nothing yet, more bytes awaited.
      {"truncated-bulk.resp", cut_short({})},
      {"truncated-status.resp", cut_short({})},
      // A bulk length no server sends is not allocated up front: the reader
      // waits for the bytes (the command's deadline ends the wait).
      {"huge-bulk-length.resp", cut_short({})},
      // Announces 27 bytes and holds 28 without the closing CRLF: one short.
      {"info-garbage.resp", cut_short({})},
      // hiredis 0.14 takes a bulk payload by its length and does not check
      // the two bytes after it.
      {"bulk-without-crlf.resp", whole({bulk("abc")})},
      // Protocol violations.
      {"bad-type-byte.resp", refusal("Protocol error")},
      {"http.resp", refusal("Protocol error")},
      {"bad-bulk-length.resp", refusal("Bad bulk string length")},
      {"negative-bulk-length.resp", refusal("out of range")},
      {"huge-array-count.resp", refusal("out of range")},
      // Within int but over max_array_elements: refused before hiredis
      // allocates the element table (16 GiB for this count).
      {"regression-array-count-int-max.resp", refusal("Out of memory")},
  };
}

}  // namespace

TEST_CASE("every reply seed parses to what it is", "[redis_client]") {
  const std::map<std::string, Expected> expectations = seed_expectations();
  std::set<std::string> seen;
  for (const auto& entry :
       std::filesystem::directory_iterator(std::string(RK_FUZZ_CORPUS_DIR) + "/reply")) {
    std::string name = entry.path().filename().string();
    seen.insert(name);
    SECTION(name) {
      auto it = expectations.find(name);
      INFO("fuzz/corpus/reply/" << name << " has no expectation here: add one");
      REQUIRE(it != expectations.end());
      const Expected& expected = it->second;
      std::string bytes = read_bytes(entry.path().string());
      if (!expected.ok) {
        CHECK_THAT(refused(bytes), rk_test::Contains(expected.error_has));
      } else {
        ParsedReplies parsed = parses(bytes);
        CHECK(show(parsed.replies) == show(expected.replies));
        CHECK(parsed.complete == expected.complete);
        if (!expected.error_code.empty()) {
          REQUIRE(parsed.replies.size() == 1);
          CHECK(parsed.replies[0].is_error());
          CHECK(parsed.replies[0].error_code() == expected.error_code);
        }
      }
    }
  }
  // The table names no seed that is gone.
  for (const auto& entry : expectations) CHECK(seen.count(entry.first) == 1);
}

TEST_CASE("the INFO seeds are what their names say", "[redis_client]") {
  auto text = [](const char* seed) {
    ParsedReplies parsed = parses(corpus(std::string("reply/") + seed));
    REQUIRE(parsed.replies.size() == 1);
    REQUIRE(parsed.replies[0].type == Type::string);
    return parsed.replies[0].text;
  };
  using rk_test::Contains;
  CHECK_THAT(text("info-master.resp"), Contains("\r\nrole:master\r\n"));
  CHECK_THAT(text("info-replica.resp"), Contains("\r\nrole:slave\r\n"));
  CHECK_THAT(text("info-replica.resp"), Contains("\r\nmaster_link_status:up\r\n"));
  CHECK_THAT(text("info-replica-syncing.resp"), Contains("\r\nmaster_sync_in_progress:1\r\n"));
  CHECK_THAT(text("info-promoted.resp"), Contains("\r\nrole:master\r\n"));
  // A promoted replica keeps its old replication id as replid2.
  CHECK(text("info-promoted.resp")
            .find("\r\nmaster_replid2:0000000000000000000000000000000000000000") ==
        std::string::npos);
  CHECK_THAT(text("info-loading.resp"), Contains("\r\nloading:1\r\n"));
}

TEST_CASE("a seed cut anywhere inside a reply is incomplete, never refused", "[redis_client]") {
  // Single replies: every proper prefix holds no reply yet.
  for (const char* seed : {"ok.resp", "ping-loading.resp", "integer.resp", "nil-bulk.resp",
                           "empty-bulk.resp", "nested-array.resp", "role-master.resp",
                           "config-get.resp", "info-master.resp", "info-replica.resp"}) {
    std::string bytes = corpus(std::string("reply/") + seed);
    for (size_t cut = 1; cut < bytes.size(); ++cut) {
      INFO(seed << " cut after " << cut << " of " << bytes.size() << " bytes");
      ParsedReplies parsed = parses(bytes.substr(0, cut));
      REQUIRE(parsed.replies.empty());
      REQUIRE_FALSE(parsed.complete);
    }
  }
  // Three replies: complete exactly at the ends of the first and second.
  std::string pipeline = corpus("reply/pipeline.resp");
  const std::vector<Reply> all{status("OK"), status("PONG"), integer(3)};
  for (size_t cut = 1; cut < pipeline.size(); ++cut) {
    INFO("pipeline.resp cut after " << cut << " bytes");
    ParsedReplies parsed = parses(pipeline.substr(0, cut));
    size_t ready = cut < 5 ? 0 : cut < 12 ? 1 : 2;
    CHECK(show(parsed.replies) == show(std::vector<Reply>(all.begin(), all.begin() + ready)));
    CHECK(parsed.complete == (cut == 5 || cut == 12));
  }
}

TEST_CASE("simple replies", "[redis_client]") {
  SECTION("status") {
    check_whole("+OK\r\n", {status("OK")});
    check_whole("+OK with words\r\n", {status("OK with words")});
    CHECK(parses("+PONG\r\n").replies.at(0).is_status("PONG"));
    CHECK_FALSE(parses("+PONG\r\n").replies.at(0).is_status("OK"));
  }
  SECTION("error and its code") {
    ParsedReplies parsed = parses("-LOADING Redis is loading the dataset in memory\r\n");
    REQUIRE(parsed.replies.size() == 1);
    const Reply& reply = parsed.replies[0];
    CHECK(reply.is_error());
    CHECK(reply.text == "LOADING Redis is loading the dataset in memory");
    CHECK(reply.error_code() == "LOADING");
    CHECK(parses("-ERR\r\n").replies.at(0).error_code() == "ERR");
    CHECK(parses("+LOADING not an error\r\n").replies.at(0).error_code().empty());
    CHECK_FALSE(parses("+OK\r\n").replies.at(0).is_error());
  }
  SECTION("integer") {
    check_whole(":0\r\n", {integer(0)});
    check_whole(":-42\r\n", {integer(-42)});
    check_whole(":9223372036854775807\r\n", {integer(LLONG_MAX)});
  }
  SECTION("bulk strings are binary-safe: taken by length") {
    check_whole("$5\r\nhello\r\n", {bulk("hello")});
    check_whole("$0\r\n\r\n", {bulk("")});
    check_whole(std::string("$6\r\na\r\n\0b\n\r\n", 12), {bulk(std::string("a\r\n\0b\n", 6))});
  }
  SECTION("nil") {
    check_whole("$-1\r\n", {nil()});
    check_whole("*-1\r\n", {nil()});
    CHECK(parses("$-1\r\n").replies.at(0).type == Type::nil);
  }
  SECTION("no bytes: no reply, nothing pending") { check_whole("", {}); }
}

TEST_CASE("arrays, nested", "[redis_client]") {
  check_whole("*0\r\n", {array({})});
  check_whole("*3\r\n:1\r\n$-1\r\n-ERR inside\r\n",
              {array({integer(1), nil(), error("ERR inside")})});
  check_whole("*2\r\n*2\r\n+a\r\n*1\r\n$1\r\nb\r\n*0\r\n",
              {array({array({status("a"), array({bulk("b")})}), array({})})});
  ParsedReplies parsed = parses("*2\r\n*1\r\n:7\r\n$2\r\nxy\r\n");
  REQUIRE(parsed.replies.size() == 1);
  const Reply& top = parsed.replies[0];
  REQUIRE(top.elements.size() == 2);
  REQUIRE(top.elements[0].type == Type::array);
  CHECK(top.elements[0].elements.at(0).integer == 7);
  CHECK(top.elements[1].text == "xy");
}

TEST_CASE("a reply split in the middle is incomplete", "[redis_client]") {
  for (const std::string& bytes :
       {std::string("+OK"), std::string("+OK\r"), std::string("$5\r\nhel"),
        std::string("$5\r\nhello"), std::string("$5\r\nhello\r"), std::string("*2\r\n:1\r\n"),
        std::string("*2\r\n*1\r\n"), std::string("*1\r\n"), std::string(":12"), std::string("$")}) {
    INFO("bytes: " << show(bulk(bytes)));
    ParsedReplies parsed = parses(bytes);
    CHECK(parsed.replies.empty());
    CHECK_FALSE(parsed.complete);
  }
}

TEST_CASE("several replies in one buffer", "[redis_client]") {
  check_whole("+OK\r\n:42\r\n", {status("OK"), integer(42)});
  check_whole("$3\r\nabc\r\n*1\r\n+x\r\n-ERR no\r\n",
              {bulk("abc"), array({status("x")}), error("ERR no")});
  SECTION("the last one cut short") {
    ParsedReplies parsed = parses("+OK\r\n$11\r\nhello");
    CHECK(show(parsed.replies) == show(std::vector<Reply>{status("OK")}));
    CHECK_FALSE(parsed.complete);
  }
}

TEST_CASE("array counts over max_array_elements are refused", "[redis_client]") {
  // max_array_elements is 1 << 20 (redis_client.cpp): larger counts are
  // refused before anything is allocated, at any depth.
  using rk_test::Contains;
  CHECK_THAT(refused("*1048577\r\n"), Contains("Out of memory"));
  CHECK_THAT(refused("*2147483647\r\n"), Contains("Out of memory"));
  CHECK_THAT(refused("*1\r\n*1048577\r\n"), Contains("Out of memory"));
  CHECK_THAT(refused("+OK\r\n*2147483647\r\n"), Contains("Out of memory"));
  // Above INT_MAX hiredis refuses the count itself.
  CHECK_THAT(refused("*4294967296\r\n"), Contains("out of range"));
  // The bound itself is accepted: the reply waits for its elements.
  ParsedReplies at_bound = parses("*1048576\r\n");
  CHECK(at_bound.replies.empty());
  CHECK_FALSE(at_bound.complete);
}

TEST_CASE("a first byte that is no RESP type is refused", "[redis_client]") {
  using rk_test::Contains;
  for (const std::string& bytes :
       {std::string("HTTP/1.1 200 OK\r\n"), std::string("OK\r\n"), std::string(" +OK\r\n"),
        std::string("\r\n"), std::string(1, '\0'), std::string("\xff\xfe"),
        std::string("SSH-2.0-OpenSSH_9.2\r\n"), std::string("+OK\r\nJUNK\r\n")}) {
    INFO("bytes: " << show(bulk(bytes)));
    CHECK_THAT(refused(bytes), Contains("Protocol error"));
  }
}
