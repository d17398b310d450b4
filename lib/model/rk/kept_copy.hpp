#pragma once

#include <string>
#include <string_view>
#include <vector>

// The names of kept copies, as values: what the pure decisions (retention)
// and the reports reason about. Making and listing copies on disk is
// node/rk/dataset_copy.hpp's.
namespace rk {

// What a copy's file name says. The name is the record: nothing else is
// stored beside it, so a copy moved elsewhere still tells what it holds.
//   <time>_<source>_<replid>_<from>-<to>.rdb
//   20261130T201233.123Z_peer_1f0c..._1200-58811.rdb
// time: UTC when the copy was made; source: "local" or "peer" (seen from
// the node that kept it); replid: the history the copy holds; from: the
// fork offset after which its writes are the ones the resync discards (0
// when the histories are unrelated); to: the offset the copy holds.
struct CopyName {
  std::string time;
  std::string source;
  std::string replid;
  long long from_offset = 0;
  long long to_offset = 0;
  std::string text() const;
  // nullopt-like: an empty source when `file` is not a copy's name.
  static CopyName parse(std::string_view file);
  bool valid() const { return !source.empty(); }
};

struct KeptCopy {
  CopyName name;
  std::string file;  // the file name in the copy dir
  long long bytes = 0;
};

}  // namespace rk
