// Unit tests for RaftLog: append, term_at, truncation, slicing, and the stable/unstable split.
#include <catch2/catch.hpp>

#include "raft/log.h"

namespace conclave::raft {
namespace {

std::vector<Entry> entries_with_terms(std::vector<Term> terms) {
  std::vector<Entry> out;
  for (size_t i = 0; i < terms.size(); ++i) {
    out.push_back(Entry{terms[i], i + 1, "e" + std::to_string(i + 1)});
  }
  return out;
}

TEST_CASE("log: recovered entries are stable and term_at answers by index", "[log]") {
  RaftLog log(0, 0, entries_with_terms({1, 1, 2, 3}));
  CHECK(log.last_index() == 4);
  CHECK(log.last_term() == 3);
  CHECK(log.stable_index() == 4);
  CHECK(log.unstable_from() == 5);
  CHECK_FALSE(log.has_unstable());
  // Table: index -> term; index 0 is "before the first entry".
  const std::vector<std::pair<Index, Term>> table = {{0, 0}, {1, 1}, {2, 1}, {3, 2}, {4, 3}};
  for (auto [index, term] : table) CHECK(log.term_at(index) == term);
  CHECK(log.at(3).data == "e3");
}

TEST_CASE("log: an empty log has last index and term 0", "[log]") {
  RaftLog log(0, 0, {});
  CHECK(log.last_index() == 0);
  CHECK(log.last_term() == 0);
  CHECK(log.take_unstable().empty());
}

TEST_CASE("log: appended entries are unstable until handed out and advanced", "[log]") {
  RaftLog log(0, 0, entries_with_terms({1}));
  log.append(Entry{2, 2, "a"});
  log.append(Entry{2, 3, "b"});
  CHECK(log.has_unstable());
  std::vector<Entry> handed = log.take_unstable();
  REQUIRE(handed.size() == 2);
  CHECK(handed[0].index == 2);
  CHECK(handed[1].index == 3);
  CHECK_FALSE(log.has_unstable());
  CHECK(log.stable_index() == 1);  // in flight, not yet persisted
  log.stable_to(3);
  CHECK(log.stable_index() == 3);
}

TEST_CASE("log: truncation drops the suffix and makes the replacements unstable", "[log]") {
  RaftLog log(0, 0, entries_with_terms({1, 1, 1, 1}));
  log.truncate_from(3);
  CHECK(log.last_index() == 2);
  CHECK(log.stable_index() == 2);
  CHECK(log.unstable_from() == 3);
  log.append(Entry{2, 3, "x"});
  std::vector<Entry> handed = log.take_unstable();
  REQUIRE(handed.size() == 1);
  CHECK(handed[0] == Entry{2, 3, "x"});
}

TEST_CASE("log: truncation while a Ready is in flight limits what becomes stable", "[log]") {
  RaftLog log(0, 0, entries_with_terms({1}));
  log.append(Entry{1, 2, "a"});
  log.append(Entry{1, 3, "b"});
  log.append(Entry{1, 4, "c"});
  std::vector<Entry> in_flight = log.take_unstable();  // 2..4 handed out
  REQUIRE(in_flight.back().index == 4);
  // A new leader overwrites from index 3 before the Ready is advanced.
  log.truncate_from(3);
  log.append(Entry{2, 3, "B"});
  CHECK(log.unstable_from() == 3);
  log.stable_to(4);
  CHECK(log.stable_index() == 2);  // only entries below the cut were really persisted
  std::vector<Entry> next = log.take_unstable();
  REQUIRE(next.size() == 1);
  CHECK(next[0] == Entry{2, 3, "B"});
  log.stable_to(3);
  CHECK(log.stable_index() == 3);
}

TEST_CASE("log: slice respects entry and byte limits but always moves one entry", "[log]") {
  RaftLog log(0, 0, {});
  log.append(Entry{1, 1, std::string(10, 'a')});
  log.append(Entry{1, 2, std::string(10, 'b')});
  log.append(Entry{1, 3, std::string(10, 'c')});
  log.append(Entry{1, 4, std::string(100, 'd')});
  struct Row {
    Index from, through;
    size_t max_entries, max_bytes, expected_count;
  };
  const std::vector<Row> table = {
      {1, 4, 64, 1 << 20, 4},  // no limit reached
      {1, 4, 2, 1 << 20, 2},   // entry limit
      {1, 4, 64, 25, 2},       // byte limit: 10 + 10 fit, + 10 would not
      {1, 4, 64, 30, 3},       // exactly at the byte limit
      {4, 4, 64, 5, 1},        // one entry over the byte limit still moves
      {2, 3, 64, 1 << 20, 2},  // a middle range
      {5, 4, 64, 1 << 20, 0},  // empty range
  };
  for (const Row& row : table) {
    INFO("from " << row.from << " through " << row.through);
    std::vector<Entry> out = log.slice(row.from, row.through, row.max_entries, row.max_bytes);
    CHECK(out.size() == row.expected_count);
    if (!out.empty()) CHECK(out.front().index == row.from);
  }
}

}  // namespace
}  // namespace conclave::raft

namespace conclave::raft {
namespace {

TEST_CASE("log: compaction drops a persisted prefix and keeps the start's term") {
  std::vector<Entry> entries;
  for (Index i = 1; i <= 6; ++i) entries.push_back(Entry{i <= 3 ? 1u : 2u, i, "e"});
  RaftLog log(0, 0, entries);
  log.compact_to(4);
  CHECK(log.start_index() == 4);
  CHECK(log.first_index() == 5);
  CHECK(log.last_index() == 6);
  CHECK(log.term_at(4) == 2);
  CHECK(log.has_term(4));
  CHECK_FALSE(log.has_term(3));
  CHECK(log.at(5).index == 5);
  CHECK(log.slice(5, 6, 10, 100).size() == 2);
  log.append(Entry{3, 7, "x"});
  CHECK(log.take_unstable().size() == 1);
  log.truncate_from(6);
  CHECK(log.last_index() == 5);
  // Recovered with a start: entries follow it.
  RaftLog recovered(4, 2, {Entry{2, 5, "e"}});
  CHECK(recovered.term_at(4) == 2);
  CHECK(recovered.last_index() == 5);
  CHECK(recovered.stable_index() == 5);
}

TEST_CASE("log: restoring a snapshot empties the log at its position") {
  RaftLog log(0, 0, {Entry{1, 1, "a"}, Entry{1, 2, "b"}});
  log.append(Entry{2, 3, "c"});
  log.restore(10, 3);
  CHECK(log.start_index() == 10);
  CHECK(log.last_index() == 10);
  CHECK(log.last_term() == 3);
  CHECK(log.stable_index() == 10);
  CHECK_FALSE(log.has_unstable());
  log.append(Entry{3, 11, "d"});
  CHECK(log.take_unstable().size() == 1);
}

}  // namespace
}  // namespace conclave::raft
