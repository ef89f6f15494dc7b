// Unit tables for quorum arithmetic and for the per-follower Progress state machine.
#include <catch2/catch.hpp>

#include "raft/progress.h"
#include "raft/quorum.h"

namespace conclave::raft {
namespace {

TEST_CASE("quorum: majority sizes", "[quorum]") {
  const std::vector<std::pair<size_t, size_t>> table = {{1, 1}, {2, 2}, {3, 2}, {4, 3}, {5, 3},
                                                        {7, 4}};
  for (auto [voters, quorum] : table) {
    INFO(voters << " voters");
    CHECK(quorum_size(voters) == quorum);
  }
}

TEST_CASE("quorum: highest index held by a majority", "[quorum]") {
  struct Row {
    std::vector<Index> matches;
    Index expected;
  };
  const std::vector<Row> table = {
      // 3 nodes: the middle value.
      {{0, 0, 0}, 0},
      {{5, 0, 0}, 0},
      {{5, 3, 0}, 3},
      {{5, 5, 3}, 5},
      {{1, 2, 3}, 2},
      {{3, 2, 1}, 2},
      {{7, 7, 7}, 7},
      // 5 nodes: the third highest.
      {{0, 0, 0, 0, 0}, 0},
      {{9, 8, 0, 0, 0}, 0},
      {{9, 8, 7, 0, 0}, 7},
      {{1, 9, 2, 8, 3}, 3},
      {{4, 4, 4, 1, 1}, 4},
      {{10, 10, 2, 2, 2}, 2},
      // 1 node.
      {{6}, 6},
  };
  for (const Row& row : table) {
    INFO("row with " << row.matches.size() << " voters, expected " << row.expected);
    CHECK(quorum_match_index(row.matches) == row.expected);
  }
}

TEST_CASE("progress: probe sends one append at a time, success switches to replicate",
          "[progress]") {
  Progress pr(11);  // new leader with last index 10
  CHECK(pr.state() == ReplicationState::probe);
  CHECK(pr.can_send_entries());
  pr.on_entries_sent(11);
  CHECK_FALSE(pr.can_send_entries());  // paused until an answer
  CHECK(pr.next_index() == 11);
  CHECK(pr.on_success(11));
  CHECK(pr.state() == ReplicationState::replicate);
  CHECK(pr.match_index() == 11);
  CHECK(pr.next_index() == 12);
  CHECK_FALSE(pr.on_success(9));  // stale answer: no news
}

TEST_CASE("progress: replicate bounds in-flight appends", "[progress]") {
  Progress pr(1);
  pr.on_entries_sent(1);
  REQUIRE(pr.on_success(1));
  for (size_t i = 0; i < kMaxInflightAppends; ++i) {
    REQUIRE(pr.can_send_entries());
    pr.on_entries_sent(pr.next_index());
  }
  CHECK_FALSE(pr.can_send_entries());
  CHECK(pr.next_index() == 2 + kMaxInflightAppends);
  CHECK(pr.on_success(3));  // acknowledges the first two messages
  CHECK(pr.can_send_entries());
}

TEST_CASE("progress: rejections lower next_index using the hint", "[progress]") {
  struct Row {
    Index next, rejected, hint, expected_next;
    bool accepted;
  };
  // In probe state with match 0.
  const std::vector<Row> table = {
      {11, 10, 3, 4, true},   // follower has only 3 entries: jump to 4
      {11, 10, 20, 10, true},  // follower has more (stale suffix): step back one
      {11, 7, 3, 11, false},   // answers an older probe: ignored
      {5, 4, 4, 4, true},      // follower holds index 4 with another term: step back one
  };
  for (const Row& row : table) {
    INFO("next " << row.next << " rejected " << row.rejected << " hint " << row.hint);
    Progress pr(row.next);
    CHECK(pr.on_reject(row.rejected, row.hint) == row.accepted);
    CHECK(pr.next_index() == row.expected_next);
  }
}

TEST_CASE("progress: a rejection in replicate state falls back to probe above match",
          "[progress]") {
  Progress pr(6);
  pr.on_entries_sent(6);
  REQUIRE(pr.on_success(5));  // match 5, replicate
  pr.on_entries_sent(8);
  pr.on_entries_sent(10);
  CHECK_FALSE(pr.on_reject(4, 4));  // about indexes known to match: stale
  CHECK(pr.state() == ReplicationState::replicate);
  CHECK(pr.on_reject(8, 2));  // hint below match: never go at or below match
  CHECK(pr.state() == ReplicationState::probe);
  CHECK(pr.next_index() == 6);
}

TEST_CASE("progress: a heartbeat with no progress while appends are in flight falls back to probe",
          "[progress]") {
  Progress pr(1);
  pr.on_entries_sent(1);
  REQUIRE(pr.on_success(1));
  CHECK_FALSE(pr.on_heartbeat());  // nothing in flight
  pr.on_entries_sent(5);
  pr.on_handed_out(5);
  CHECK_FALSE(pr.on_heartbeat());  // sent during this interval: give it time
  CHECK(pr.on_heartbeat());        // still unacknowledged a whole interval later: lost
  CHECK(pr.state() == ReplicationState::probe);
  CHECK(pr.next_index() == 2);
}

TEST_CASE("progress: in-flight appends are bounded in bytes as well as in number",
          "[progress]") {
  Progress pr(1);
  pr.on_entries_sent(1, 10);
  REQUIRE(pr.on_success(1));
  constexpr size_t kMiB = 1024 * 1024;
  int sent = 0;
  while (pr.can_send_entries() && sent < 100) {
    pr.on_entries_sent(2 + sent, kMiB);
    ++sent;
  }
  CHECK(sent == static_cast<int>(kMaxInflightBytes / kMiB));  // 8, far below the count of 64
  CHECK(pr.inflight_bytes() == kMaxInflightBytes);
  REQUIRE(pr.on_success(3));  // two acknowledged: room again
  CHECK(pr.inflight_bytes() == kMaxInflightBytes - 2 * kMiB);
  CHECK(pr.can_send_entries());
  // One append larger than the bound still moves when nothing else is in flight.
  Progress big(1);
  big.on_entries_sent(1, 0);
  REQUIRE(big.on_success(1));
  big.on_entries_sent(2, 2 * kMaxInflightBytes);
  CHECK_FALSE(big.can_send_entries());
  REQUIRE(big.on_success(2));
  CHECK(big.can_send_entries());
  CHECK(big.inflight_bytes() == 0);
}

TEST_CASE("progress: stall detection counts from when an append was handed out to be sent, "
          "not from when it was created", "[progress]") {
  Progress pr(1);
  pr.on_entries_sent(1);
  pr.on_handed_out(1);
  REQUIRE(pr.on_success(1));
  pr.on_entries_sent(5);
  // The append waits in RawNode's outbox (the previous Ready's fsync is slow): heartbeats pass
  // without it having left. Not a loss.
  CHECK_FALSE(pr.on_heartbeat());
  CHECK_FALSE(pr.on_heartbeat());
  CHECK_FALSE(pr.on_heartbeat());
  CHECK(pr.state() == ReplicationState::replicate);
  // Handed out now: it gets a whole interval from here.
  pr.on_handed_out(5);
  CHECK_FALSE(pr.on_heartbeat());
  CHECK(pr.on_heartbeat());
  CHECK(pr.state() == ReplicationState::probe);
}

}  // namespace
}  // namespace conclave::raft
