// The entry point itself: what apply() returns, no-op and undecodable entries, the clock (the
// highest stamp applied), take_changes() and next_deadline_ms().
#include "tests/state_machine/harness.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

// apply() reports the entry's index and the command it decoded.
TEST_CASE("state machine: apply returns the index and the decoded command") {
  Harness h;
  const wire::Command command{12'345, 7, 1, 0, put_op("k", "v")};
  Applied applied = h.apply(command);
  CHECK(applied.index == 1);
  REQUIRE(applied.command);
  CHECK(*applied.command == command);
  CHECK_FALSE(applied.duplicate);
  CHECK_FALSE(applied.waiting);
  CHECK(applied.grants.empty());
  CHECK(applied.deferred_answers.empty());
  CHECK(applied.ended_sessions.empty());
  CHECK(h.sm.applied_index() == 1);
  CHECK(h.sm.time_ms() == 12'345);
}

// A leader's no-op entry (empty data) moves the applied index and nothing else, not even time.
TEST_CASE("state machine: an empty entry moves only the applied index") {
  Harness h;
  h.now_ms = 5'000;
  h.put("k", "v");
  const uint64_t session = h.create_session("alpha", 1, 2'000);
  Applied noop = h.apply_data("");
  CHECK(noop.index == 3);
  CHECK_FALSE(noop.command);
  CHECK(noop.outcome.code == ErrorCode::ok);
  CHECK(h.sm.applied_index() == 3);
  CHECK(h.sm.time_ms() == 5'000);
  CHECK(h.sm.revision() == 1);
  CHECK(h.sm.session(session) != nullptr);
  CHECK(h.sm.undecodable_entries() == 0);
}

// Bytes that do not decode as a command are counted, answered malformed, and change nothing
// but the applied index: the state hash equals that of a machine that applied a no-op there.
TEST_CASE("state machine: an undecodable entry is counted and changes nothing else") {
  Harness h;
  Harness twin;
  for (Harness* each : {&h, &twin}) {
    each->put("k", "v");
    const uint64_t session = each->create_session("alpha", 1, 5'000);
    each->lock("L", session, 1, 1'000);
  }
  Applied garbage = h.apply_data("\x01\x02not a flatbuffer at all");
  twin.apply_data("");
  CHECK(garbage.index == 4);
  CHECK_FALSE(garbage.command);
  CHECK(garbage.outcome.code == ErrorCode::malformed);
  CHECK_FALSE(garbage.outcome.message.empty());
  CHECK(h.sm.undecodable_entries() == 1);
  CHECK(twin.sm.undecodable_entries() == 0);
  CHECK(h.sm.applied_index() == 4);
  CHECK(h.sm.revision() == 1);
  CHECK(h.sm.state_hash() == twin.sm.state_hash());

  // A second one, and the machine still works afterwards.
  h.apply_data(std::string(3, '\0'));
  CHECK(h.sm.undecodable_entries() == 2);
  CHECK(h.put("k2", "v2") == 2);
}

// The clock is the highest stamp applied: a lagging leader's smaller stamp does not move it
// back, and records made by its commands carry the machine's time.
TEST_CASE("state machine: time is the highest stamp applied and never goes back") {
  Harness h;
  h.now_ms = 50'000;
  h.put("k", "v");
  CHECK(h.sm.time_ms() == 50'000);
  h.now_ms = 30'000;  // a new leader whose clock is behind
  const uint64_t session = h.create_session("alpha", 1, 4'000);
  CHECK(h.sm.time_ms() == 50'000);
  REQUIRE(h.sm.session(session) != nullptr);
  CHECK(session_of(h.sm, session).created_ms == 50'000);
  CHECK(session_of(h.sm, session).renewed_ms == 50'000);
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(54'000));
  h.tick_at(50'001);
  CHECK(h.sm.time_ms() == 50'001);
}

// take_changes(): nothing before the first apply; then the rows written since the last call
// and the position row (meta) with the applied index, revision, time and last fencing token.
TEST_CASE("state machine: take_changes reports the rows changed since the last call") {
  Harness h;
  store::StateChanges none = h.sm.take_changes();
  CHECK(none.empty());

  h.now_ms = 7'000;
  h.put("k", "v");
  store::StateChanges first = h.sm.take_changes();
  CHECK(first.applied_index == 1);
  CHECK(first.deletes.empty());
  REQUIRE(first.upserts.size() == 2);
  CHECK(first.upserts[0].space == static_cast<uint32_t>(RowSpace::kv));
  CHECK(first.upserts[0].key == "k");
  auto entry = wire::decode_kv_entry(first.upserts[0].value);
  REQUIRE(entry.ok());
  CHECK(entry.value() == wire::KvEntry{"k", "v", 1, 1, 1});
  CHECK(first.upserts[1].space == static_cast<uint32_t>(RowSpace::meta));
  auto meta = wire::decode_state_meta(first.upserts[1].value);
  REQUIRE(meta.ok());
  CHECK(meta.value() == wire::StateMeta{1, 1, 7'000, 0});

  CHECK(h.sm.take_changes().empty());

  // A session and a lock, then the session's end deletes both rows.
  const uint64_t session = h.create_session("alpha");
  h.lock("L", session);
  RowMap rows;
  rows.absorb(h.sm.take_changes());
  CHECK(rows.count(RowSpace::sessions) == 1);
  CHECK(rows.count(RowSpace::locks) == 1);
  CHECK(rows.applied_index() == 3);
  h.leader(destroy_op(session));
  store::StateChanges ended = h.sm.take_changes();
  CHECK(ended.applied_index == 4);
  REQUIRE(ended.deletes.size() == 2);
  CHECK(ended.deletes[0].space == static_cast<uint32_t>(RowSpace::sessions));
  CHECK(ended.deletes[0].key == number_key(session));
  CHECK(ended.deletes[1].space == static_cast<uint32_t>(RowSpace::locks));
  CHECK(ended.deletes[1].key == "L");
  rows.absorb(ended);
  CHECK(rows.count(RowSpace::sessions) == 0);
  CHECK(rows.count(RowSpace::locks) == 0);
  auto last_meta = wire::decode_state_meta(ended.upserts.back().value);
  REQUIRE(last_meta.ok());
  CHECK(last_meta.value() == wire::StateMeta{4, 1, 7'000, 3});
}

// next_deadline_ms(): nothing due without TTL sessions or lock-delays; otherwise the earliest
// of the TTL expiries and the ends of lock-delays.
TEST_CASE("state machine: next_deadline_ms is the earliest TTL expiry or lock-delay end") {
  Harness h;
  h.now_ms = 100'000;
  CHECK_FALSE(h.sm.next_deadline_ms());
  const uint64_t plain = h.create_session("alpha");
  h.lock("L", plain, 1, 2'000);
  CHECK_FALSE(h.sm.next_deadline_ms());

  h.create_session("beta", 1, 9'000);  // expires after 109'000
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(109'000));

  h.now_ms = 101'000;
  h.leader(invalidate_op("alpha", 1));  // L blocked until 103'000
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(103'000));
  h.tick_at(103'000);
  CHECK(h.sm.lock("L") == nullptr);  // the delay ended and nobody waited: forgotten
  CHECK(h.sm.next_deadline_ms() == std::optional<int64_t>(109'000));
}
