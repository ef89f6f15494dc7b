// The named limits the state machine enforces at apply time (sessions per node and in all,
// waiters per lock, locks in use), and that every state apply() accepts can be persisted and
// restored (the rows must decode again after a restart).
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

namespace {

std::string restore_report(const Status& status) {
  return status.ok() ? "restore ok" : "restore failed: " + status.error().message;
}

}  // namespace

// 4096 sessions per node, 65536 in all: beyond either, create is refused with too_large and
// nothing is created; ending a session makes room again.
TEST_CASE("limits: sessions per node and sessions in all") {
  Harness h;
  for (size_t i = 0; i < kMaxSessionsPerNode; ++i) {
    REQUIRE(h.leader(create_op("n0")).outcome.code == ErrorCode::ok);
  }
  CHECK(describe(h.leader(create_op("n0")).outcome) ==
        "too_large: node n0 holds its limit of 4096 sessions");
  for (int node = 1; node < 16; ++node) {
    for (size_t i = 0; i < kMaxSessionsPerNode; ++i) {
      REQUIRE(h.leader(create_op("n" + std::to_string(node))).outcome.code == ErrorCode::ok);
    }
  }
  CHECK(h.sm.list_sessions().sessions.size() == wire::kMaxListedItems);  // a listing is capped
  CHECK(h.sm.sessions_of("n15", 0).size() == kMaxSessionsPerNode);
  Applied full = h.leader(create_op("n16"));
  CHECK(describe(full.outcome) ==
        "too_large: the cluster holds its limit of 65536 sessions; end some first");
  CHECK(h.sm.session(full.index) == nullptr);

  REQUIRE(h.leader(destroy_op(1)).outcome.code == ErrorCode::ok);
  Applied room = h.leader(create_op("n16"));
  CHECK(describe(room.outcome) == "session=" + std::to_string(room.index));
  CHECK(h.sm.session_owners().size() == 17);
}

// A lock queues at most 10000 waiters; the next one is refused with too_large. A lock at that
// limit still persists and restores.
TEST_CASE("limits: waiters per lock") {
  Harness h;
  std::vector<uint64_t> sessions;
  for (size_t i = 0; i <= kMaxWaitersPerLock + 1; ++i) {
    sessions.push_back(h.create_session("w" + std::to_string(i % 3)));
  }
  h.lock("L", sessions[0]);
  for (size_t i = 1; i <= kMaxWaitersPerLock; ++i) {
    REQUIRE(h.leader(wait_op("L", sessions[i])).waiting);
  }
  Applied refused = h.leader(wait_op("L", sessions.back()));
  CHECK(describe(refused.outcome) == "too_large: lock 'L' already has 10000 waiters");
  CHECK_FALSE(refused.waiting);
  CHECK(lock_of(h.sm, "L").waiters.size() == kMaxWaitersPerLock);
  CHECK(session_of(h.sm, sessions.back()).waiting.empty());

  RowMap rows;
  rows.absorb(h.sm.take_changes());
  StateMachine restored;
  const Status status = restored.restore(rows.rows(), rows.applied_index());
  CHECK(restore_report(status) == "restore ok");
  CHECK(restored.state_hash() == h.sm.state_hash());
}

// At most 100000 locks in use: a new name beyond is refused with too_large, while existing
// locks work as usual; a lock that is released (and forgotten) makes room.
TEST_CASE("limits: locks in use") {
  Harness h;
  std::vector<uint64_t> sessions;
  // 100 sessions of 1000 locks each (kMaxLocksPerSession), and one more with none.
  for (int i = 0; i < 101; ++i) sessions.push_back(h.create_session("n" + std::to_string(i % 4)));
  for (size_t i = 0; i < kMaxLocks; ++i) {
    const Applied applied =
        h.leader(acquire_op("lock-" + std::to_string(i), sessions[i % 100]));
    REQUIRE(applied.outcome.code == ErrorCode::ok);
  }
  const uint64_t spare = sessions[100];
  CHECK(describe(h.leader(acquire_op("one-more", spare)).outcome) ==
        "too_large: the cluster holds its limit of 100000 locks in use");
  CHECK(h.sm.lock("one-more") == nullptr);
  CHECK(h.leader(acquire_op("lock-0", sessions[0])).outcome.code == ErrorCode::ok);
  CHECK(h.leader(acquire_op("lock-0", spare)).outcome.code == ErrorCode::conflict);

  REQUIRE(h.leader(release_op("lock-0", sessions[0])).outcome.code == ErrorCode::ok);
  CHECK(h.leader(acquire_op("one-more", spare)).outcome.code == ErrorCode::ok);
}

// Every state that apply() accepts must restore after a restart. A session's record lists its
// locks, and a list decodes only up to wire::kMaxListedItems: so a session may hold or wait for
// at most kMaxLocksPerSession locks, and a session at that limit restores.
TEST_CASE("limits: locks per session, and a session at the limit restores") {
  Harness h;
  const uint64_t session = h.create_session("alpha");
  for (size_t i = 0; i < state::kMaxLocksPerSession; ++i) {
    REQUIRE(h.leader(acquire_op("lock-" + std::to_string(i), session)).outcome.code ==
            ErrorCode::ok);
  }
  const Applied over = h.leader(acquire_op("one-more", session));
  CHECK(over.outcome.code == ErrorCode::too_large);
  CHECK_THAT(over.outcome.message, Catch::Contains("already holds or waits for 1000 locks"));
  // A lock it already holds is no new one.
  CHECK(h.leader(acquire_op("lock-0", session)).outcome.code == ErrorCode::ok);
  REQUIRE(session_of(h.sm, session).held.size() == state::kMaxLocksPerSession);

  RowMap rows;
  rows.absorb(h.sm.take_changes());
  StateMachine restored;
  const Status status = restored.restore(rows.rows(), rows.applied_index());
  CHECK(restore_report(status) == "restore ok");
  CHECK(restored.state_hash() == h.sm.state_hash());
}

// A client's unacknowledged answers are kept in one dedup row, which decodes only up to 8 MiB
// (wire::kMaxStateRecordBytes). Conflict answers name at most 8 holders, and a client may keep
// at most kMaxAnswerBytesPerClient of answers: beyond that its new requests are refused (never
// forgotten), and the row restores.
TEST_CASE("limits: a client's unacknowledged answers stay restorable whatever their size") {
  Harness h;
  const std::string node(128, 'x');
  for (int i = 0; i < 1000; ++i) {
    const uint64_t holder = h.create_session(node);
    REQUIRE(h.leader(acquire_op("S", holder, 1000)).outcome.code == ErrorCode::ok);
  }
  const uint64_t asker = h.create_session("asker");
  const Applied first = h.client(5, 1, acquire_op("S", asker, 1000));
  REQUIRE(first.outcome.code == ErrorCode::conflict);
  CHECK(first.outcome.message.size() < 2000);
  CHECK_THAT(first.outcome.message, Catch::Contains("and 992 more"));

  // Large answers: many conflicts never acknowledged, until the byte budget refuses.
  uint64_t sequence = 2;
  Applied answer = first;
  while (answer.outcome.code == ErrorCode::conflict && sequence < 20000) {
    answer = h.client(5, sequence++, acquire_op("S", asker, 1000));
  }
  CHECK(answer.outcome.code == ErrorCode::unavailable);
  CHECK_THAT(answer.outcome.message, Catch::Contains("not acknowledged"));
  // An acknowledgement frees the budget again.
  const Applied after_ack = h.client(5, sequence, acquire_op("S", asker, 1000), sequence);
  CHECK(after_ack.outcome.code == ErrorCode::conflict);

  RowMap rows;
  rows.absorb(h.sm.take_changes());
  StateMachine restored;
  const Status status = restored.restore(rows.rows(), rows.applied_index());
  CHECK(restore_report(status) == "restore ok");
  CHECK(restored.state_hash() == h.sm.state_hash());
}
