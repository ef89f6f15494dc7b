// Determinism and persistence: machines applying the same log hold the same state (equal
// state_hash); a machine restored from the rows of take_changes() holds that state too and
// continues identically, remembering the answers of requests applied before the restore;
// restore() refuses rows it cannot read.
#include "tests/state_machine/harness.h"

#include <memory>
#include <set>

#include "common/prng.h"

using namespace conclave;
using namespace conclave::state;
using namespace conclave::state::testing;

namespace {

// A random log mixing every command, the retries of earlier client requests, leader no-ops and
// undecodable entries. Ids are picked by looking at a machine's state (mostly existing
// sessions, locks and tokens; sometimes unknown or stale ones), and stamps mostly move forward
// in small steps, sometimes back (a lagging leader), sometimes far ahead (an idle cluster).
class LogGenerator {
 public:
  explicit LogGenerator(uint64_t seed) : prng_(seed) {}

  std::string next(const StateMachine& sm) {
    advance_clock();
    const uint64_t roll = prng_.below(100);
    if (roll < 2) return "";                           // a leader's no-op
    if (roll < 3) return std::string("\x07garbage\x00\x01", 10) + std::to_string(prng_.next());
    if (roll < 13 && !sent_.empty()) return retry();  // an agent re-sends a request
    if (roll < 16) return leader(wire::TickCommand{});
    if (roll < 19) {
      return leader(invalidate_op(node(), prng_.below(3),
                                  static_cast<wire::SessionEndReason>(prng_.below(5))));
    }
    return request(client_op(sm));
  }

  uint64_t retries = 0;

 private:
  void advance_clock() {
    const uint64_t roll = prng_.below(1000);
    if (roll < 10) {
      stamp_ -= 3'000;
    } else if (roll < 15) {
      stamp_ += 1'300'000;  // ~22 minutes: dedup clients idle for an hour get swept
    } else {
      stamp_ += static_cast<int64_t>(prng_.below(600));
    }
  }

  std::string node() { return "n" + std::to_string(1 + prng_.below(3)); }
  std::string lock_name() {
    static const char* const kNames[] = {"a", "b", "c", "sem"};
    return kNames[prng_.below(4)];
  }
  uint32_t limit_for(const std::string& name) {
    if (prng_.chance(0.02)) return static_cast<uint32_t>(prng_.below(3));  // 0: invalid
    if (name == "sem") return prng_.chance(0.9) ? 2 : 3;
    return 1;
  }
  uint32_t lock_delay() {
    static const uint32_t kDelays[] = {0, 0, 500, 2'000, 70'000};
    return kDelays[prng_.below(5)];
  }

  uint64_t session(const StateMachine& sm) {
    const auto sessions = sm.list_sessions().sessions;
    if (!sessions.empty() && prng_.chance(0.85)) {
      return sessions[prng_.below(sessions.size())].id;
    }
    return 1 + prng_.below(sm.applied_index() + 1);  // most likely ended or never a session
  }

  wire::PutCommand put(const StateMachine& sm) {
    const std::string key = "k" + std::to_string(prng_.below(8));
    const std::string value = std::to_string(prng_.next() % 1000);
    if (prng_.chance(0.6)) return put_op(key, value);
    const auto locks = sm.list_locks("").locks;
    if (!locks.empty() && prng_.chance(0.7)) {
      const wire::LockInfo& lock = locks[prng_.below(locks.size())];
      if (!lock.holders.empty() && prng_.chance(0.7)) {
        return fenced_put_op(key, value, lock.name,
                             lock.holders[prng_.below(lock.holders.size())].token);
      }
      return fenced_put_op(key, value, lock.name, prng_.below(sm.last_fencing_token() + 2));
    }
    return fenced_put_op(key, value, lock_name(), prng_.below(sm.last_fencing_token() + 2));
  }

  wire::CommandOp client_op(const StateMachine& sm) {
    const uint64_t roll = prng_.below(100);
    if (roll < 20) return put(sm);
    if (roll < 23) return get_op("k" + std::to_string(prng_.below(8)));
    if (roll < 35) {
      static const uint64_t kTtls[] = {0, 0, 1'500, 4'000, 999};
      return create_op(node(), 1 + prng_.below(2), kTtls[prng_.below(5)], "d");
    }
    if (roll < 39) return destroy_op(session(sm));
    if (roll < 49) return renew_op(session(sm));
    if (roll < 72) {
      const std::string name = lock_name();
      return acquire_op(name, session(sm), limit_for(name), prng_.chance(0.6), lock_delay());
    }
    if (roll < 88) {
      // Mostly a holder releasing.
      const auto locks = sm.list_locks("").locks;
      if (!locks.empty() && prng_.chance(0.8)) {
        const wire::LockInfo& lock = locks[prng_.below(locks.size())];
        if (!lock.holders.empty()) {
          return release_op(lock.name, lock.holders[prng_.below(lock.holders.size())].session);
        }
      }
      return release_op(lock_name(), session(sm));
    }
    // Mostly a waiter giving up.
    const auto locks = sm.list_locks("").locks;
    if (!locks.empty() && prng_.chance(0.8)) {
      const wire::LockInfo& lock = locks[prng_.below(locks.size())];
      if (!lock.waiters.empty()) {
        return cancel_op(lock.name, lock.waiters[prng_.below(lock.waiters.size())].session);
      }
    }
    return cancel_op(lock_name(), session(sm));
  }

  std::string leader(wire::CommandOp op) {
    return wire::encode_command(wire::Command{stamp_, 0, 0, 0, std::move(op)});
  }

  std::string request(wire::CommandOp op) {
    const uint64_t client = 101 + prng_.below(3);
    const uint64_t sequence = ++next_sequence_[client];
    uint64_t& ack = ack_below_[client];
    if (prng_.chance(0.3)) {
      const uint64_t back = prng_.below(6);
      ack = std::max(ack, sequence > back ? sequence - back : 0);
    }
    wire::Command command{stamp_, client, sequence, ack, std::move(op)};
    sent_.push_back(command);
    return wire::encode_command(command);
  }

  std::string retry() {
    ++retries;
    const size_t recent = std::min<size_t>(sent_.size(), 40);
    const size_t pick = prng_.chance(0.7) ? sent_.size() - 1 - prng_.below(recent)
                                          : prng_.below(sent_.size());
    wire::Command copy = sent_[pick];
    copy.stamp_ms = stamp_;  // re-proposed by a (possibly new) leader
    return wire::encode_command(copy);
  }

  Prng prng_;
  int64_t stamp_ = 10'000;
  std::map<uint64_t, uint64_t> next_sequence_;
  std::map<uint64_t, uint64_t> ack_below_;
  std::vector<wire::Command> sent_;
};

const char* op_name(const wire::CommandOp& op) {
  static const char* const kNames[] = {"put",     "get",     "create", "destroy", "renew",
                                       "invalidate", "acquire", "release", "cancel", "tick"};
  return kNames[op.index()];
}

// A machine restored at some point of the log, with the rows it persisted since.
struct Replica {
  StateMachine sm;
  RowMap rows;
  raft::Index restored_at = 0;
};

}  // namespace

// The property at the heart of the replicated state machine: the same log gives the same
// state. Two machines applying one random log of every command (with retries, acks, ticks,
// lagging stamps, no-ops and garbage) answer identically and keep equal state hashes; machines
// restored from the persisted rows at two points do too, recognize retries of requests applied
// before their restore, and persist the very same rows. The log is checked to have exercised
// every command with its main outcomes.
TEST_CASE("persistence: same random log, same state; restored machines continue identically") {
  const uint64_t seed = GENERATE(as<uint64_t>{}, 1, 2, 3, 2024);
  constexpr raft::Index kEntries = 3'000;
  const std::set<raft::Index> restore_points{1'000, 2'000};
  LogGenerator generator(seed);
  StateMachine a;
  StateMachine b;
  RowMap rows;
  std::vector<std::unique_ptr<Replica>> replicas;
  std::map<std::pair<uint64_t, uint64_t>, raft::Index> first_applied;  // (client, seq) -> index
  std::map<std::string, int> seen;
  uint64_t retries_across_restore = 0;

  for (raft::Index index = 1; index <= kEntries; ++index) {
    INFO("seed " << seed << ", entry " << index);
    const raft::Entry entry{1 + index / 700, index, generator.next(a)};
    const Applied applied = a.apply(entry);
    rows.absorb(a.take_changes());
    const std::string expected = describe(applied);

    REQUIRE(describe(b.apply(entry)) == expected);
    REQUIRE(b.state_hash() == a.state_hash());
    for (auto& replica : replicas) {
      REQUIRE(describe(replica->sm.apply(entry)) == expected);
      replica->rows.absorb(replica->sm.take_changes());
      REQUIRE(replica->sm.state_hash() == a.state_hash());
    }

    // What the log exercised.
    if (applied.command) {
      const wire::Command& command = *applied.command;
      const std::string name = op_name(command.op);
      seen[name + " " + error_code_name(applied.outcome.code)] += 1;
      if (applied.waiting) seen[name + " waiting"] += 1;
      if (command.client_id != 0) {
        auto [it, fresh] = first_applied.emplace(std::pair{command.client_id, command.sequence},
                                                 index);
        if (!fresh) {
          seen[applied.duplicate ? "retry answered" : "retry applied again"] += 1;
          for (const auto& replica : replicas) {
            if (applied.duplicate && it->second <= replica->restored_at) {
              ++retries_across_restore;
            }
          }
        }
      }
      if (!applied.ended_sessions.empty() && name != "destroy" && name != "invalidate") {
        seen["expiry"] += 1;
      }
    } else {
      seen[applied.outcome.code == ErrorCode::ok ? "no-op" : "undecodable"] += 1;
    }
    if (!applied.grants.empty()) seen["queued grant"] += 1;
    for (const DeferredAnswer& answer : applied.deferred_answers) {
      seen[std::string("deferred ") + error_code_name(answer.outcome.code)] += 1;
    }
    for (const wire::LockInfo& lock : a.list_locks("").locks) {
      if (lock.blocked_until_ms != 0) seen["lock-delay"] += 1;
    }

    if (restore_points.count(index) != 0) {
      auto replica = std::make_unique<Replica>();
      REQUIRE(rows.applied_index() == index);
      const Status status = replica->sm.restore(rows.rows(), rows.applied_index());
      INFO((status.ok() ? std::string() : status.error().message));
      REQUIRE(status.ok());
      REQUIRE(replica->sm.state_hash() == a.state_hash());
      CHECK(replica->sm.applied_index() == index);
      CHECK(replica->sm.time_ms() == a.time_ms());
      CHECK(replica->sm.revision() == a.revision());
      CHECK(replica->sm.last_fencing_token() == a.last_fencing_token());
      CHECK(replica->sm.next_deadline_ms() == a.next_deadline_ms());
      CHECK(replica->sm.list_sessions() == a.list_sessions());
      CHECK(replica->sm.list_locks("") == a.list_locks(""));
      CHECK(replica->sm.take_changes().empty());
      replica->rows = rows;
      replica->restored_at = index;
      replicas.push_back(std::move(replica));
    }
  }

  INFO("seed " << seed);
  CHECK(a.undecodable_entries() == b.undecodable_entries());
  CHECK(a.duplicate_commands() == b.duplicate_commands());
  // A snapshot (every row, as raft sends it) is exactly the persisted rows, and restores the
  // same state.
  RowMap snapshot;
  store::StateChanges as_changes;
  as_changes.upserts = a.snapshot_rows();
  snapshot.absorb(as_changes);
  CHECK(snapshot.rows() == rows.rows());
  StateMachine from_snapshot;
  REQUIRE(from_snapshot.restore(a.snapshot_rows(), a.applied_index()).ok());
  CHECK(from_snapshot.state_hash() == a.state_hash());
  // Every replica persisted exactly the rows the original did, and they restore again.
  for (const auto& replica : replicas) {
    CHECK(replica->rows.rows() == rows.rows());
    StateMachine again;
    REQUIRE(again.restore(replica->rows.rows(), replica->rows.applied_index()).ok());
    CHECK(again.state_hash() == a.state_hash());
  }

  // The log was varied enough to mean something.
  std::string summary;
  for (const auto& [what, count] : seen) summary += what + "=" + std::to_string(count) + " ";
  INFO("exercised: " << summary);
  CHECK(generator.retries > 100);
  CHECK(retries_across_restore > 0);
  for (const char* what :
       {"put ok", "put conflict", "get ok", "create ok", "create invalid_argument",
        "destroy ok", "destroy not_found", "renew ok", "renew not_found", "invalidate ok",
        "acquire ok", "acquire waiting", "acquire conflict", "acquire invalid_argument",
        "acquire not_found", "release ok", "release not_found", "cancel ok", "tick ok",
        "retry answered", "expiry", "queued grant", "deferred ok", "deferred timed_out",
        "deferred not_found", "lock-delay", "no-op", "undecodable"}) {
    INFO("never exercised: " << what);
    CHECK(seen[what] > 0);
  }
  // Acknowledged (or idle-swept) requests re-sent: answered with an error, or applied anew
  // after the client was forgotten.
  CHECK(seen["put invalid_argument"] + seen["renew invalid_argument"] +
            seen["release invalid_argument"] + seen["cancel invalid_argument"] +
            seen["retry applied again"] >
        0);
}

// A hand-made state with every kind of record (TTL session, holders, a queue, a lock-delay in
// force, a semaphore, dedup answers including a waiting one and acknowledged ones) survives a
// restore from its rows: equal hash and reads; then both machines answer the same to retries
// made before the restore, grant the same waiter when the delay ends, and go on issuing
// strictly increasing tokens.
TEST_CASE("persistence: a restored machine keeps every record and continues identically") {
  Harness original;
  RowMap rows;
  original.record_rows = &rows;
  original.now_ms = 10'000;
  const uint64_t s1 = original.create_session("alpha", 1, 4'000, "ttl");  // 1
  const uint64_t s2 = original.create_session("beta", 1);                 // 2
  const uint64_t s3 = original.create_session("gamma", 1);                // 3
  original.client(50, 1, put_op("k", "v1"));                             // 4
  original.client(50, 2, acquire_op("L", s1, 1, false, 2'000));          // 5
  REQUIRE(original.client(60, 1, wait_op("L", s2)).waiting);             // 6
  REQUIRE(original.client(70, 1, wait_op("L", s3)).waiting);             // 7
  const uint64_t sem_token =
      token_of(original.client(50, 3, acquire_op("S", s2, 2)).outcome);  // 8
  original.now_ms = 12'000;
  original.leader(invalidate_op("alpha", 1));                            // 9
  original.client(50, 4, fenced_put_op("k", "v2", "S", sem_token));      // 10
  original.client(80, 1, put_op("a", "1"));                              // 11
  original.client(80, 2, put_op("b", "2"));                              // 12
  original.client(80, 3, put_op("c", "3"), /*ack_below=*/2);             // 13
  original.leader(put_op("d", "4"));                                     // 14
  REQUIRE(lock_of(original.sm, "L").blocked_until == std::vector<int64_t>{14'000});
  CHECK(rows.count(RowSpace::meta) == 1);
  CHECK(rows.count(RowSpace::kv) == 5);
  CHECK(rows.count(RowSpace::sessions) == 2);
  CHECK(rows.count(RowSpace::locks) == 2);
  CHECK(rows.count(RowSpace::dedup) == 4);

  Harness restored;
  const Status status = restored.restore(rows.rows(), rows.applied_index());
  REQUIRE(status.ok());
  CHECK(restored.sm.applied_index() == 14);
  CHECK(restored.sm.state_hash() == original.sm.state_hash());
  CHECK(restored.sm.revision() == 6);
  CHECK(restored.sm.time_ms() == 12'000);
  CHECK(restored.sm.last_fencing_token() == original.sm.last_fencing_token());
  CHECK(restored.sm.next_deadline_ms() == std::optional<int64_t>(14'000));
  CHECK(restored.sm.list_sessions() == original.sm.list_sessions());
  CHECK(restored.sm.list_locks("") == original.sm.list_locks(""));
  CHECK(entry_of(restored.sm, "k") == wire::KvEntry{"k", "v2", 1, 2, 2});
  CHECK(lock_of(restored.sm, "L") == lock_of(original.sm, "L"));
  CHECK(session_of(restored.sm, s2) == session_of(original.sm, s2));

  // From here on, the same commands to both; every answer and the state must match.
  std::vector<std::string> answers;
  auto both = [&](const wire::Command& command) {
    original.now_ms = restored.now_ms = command.stamp_ms;
    const Applied a = original.apply(command);
    const Applied r = restored.apply(command);
    REQUIRE(describe(r) == describe(a));
    REQUIRE(restored.sm.state_hash() == original.sm.state_hash());
    answers.push_back(describe(a));
    return a;
  };
  // Retries of requests applied before the restore.
  Applied waiting = both(wire::Command{13'000, 60, 1, 0, wait_op("L", s2)});  // 15
  CHECK(waiting.duplicate);
  CHECK(waiting.waiting);
  CHECK(both(wire::Command{13'000, 80, 1, 0, put_op("a", "1")}).outcome.code ==
        ErrorCode::invalid_argument);                                                     // 16
  CHECK(describe(both(wire::Command{13'000, 80, 2, 0, put_op("b", "2")}).outcome) ==
        "put revision=4");                                                                // 17
  CHECK(describe(both(wire::Command{13'000, 50, 4, 0, put_op("k", "v2")}).outcome) ==
        "put revision=2");                                                                // 18
  // The lock-delay ends: the first waiter is granted; its retry now returns the grant.
  CHECK(grants(both(wire::Command{14'000, 0, 0, 0, tick_op()})) ==
        std::vector<std::string>{"L session=2 token=19 client=60 seq=1"});               // 19
  CHECK(describe(both(wire::Command{14'001, 60, 1, 0, wait_op("L", s2)}).outcome) ==
        "granted L session=2 token=19");                                                  // 20
  // The second waiter gives up; a new TTL session expires; tokens go on increasing.
  CHECK(deferred(both(wire::Command{14'002, 70, 2, 0, cancel_op("L", s3)})) ==
        std::vector<std::string>{"client=70 seq=1 timed_out: stopped waiting for lock 'L'"});
  CHECK(describe(both(wire::Command{14'003, 90, 1, 0, create_op("delta", 1, 1'000)}).outcome) ==
        "session=22");                                                                    // 22
  CHECK(both(wire::Command{15'004, 0, 0, 0, tick_op()}).ended_sessions ==
        std::vector<uint64_t>{22});                                                       // 23
  CHECK(describe(both(wire::Command{15'005, 90, 2, 1, acquire_op("M", s3)}).outcome) ==
        "granted M session=3 token=24");                                                  // 24
  CHECK(answers.size() == 10);
}

// restore() with nothing at position 0 is a new machine.
TEST_CASE("persistence: restoring no rows at index 0 gives a new machine") {
  StateMachine restored;
  REQUIRE(restored.restore({}, 0).ok());
  CHECK(restored.state_hash() == StateMachine().state_hash());
  CHECK(restored.applied_index() == 0);
}

// A row that does not decode, in any space, makes restore() fail with a storage error: the
// server must not run on a state it cannot read.
TEST_CASE("persistence: restore refuses a corrupt row with a storage error") {
  Harness h;
  RowMap rows;
  h.record_rows = &rows;
  const uint64_t s1 = h.create_session("alpha");
  const uint64_t s2 = h.create_session("beta");
  h.client(5, 1, put_op("k", "v"));
  h.lock("L", s1);
  h.client(5, 2, wait_op("L", s2));
  REQUIRE(rows.count(RowSpace::meta) == 1);
  REQUIRE(rows.count(RowSpace::kv) == 1);
  REQUIRE(rows.count(RowSpace::sessions) == 2);
  REQUIRE(rows.count(RowSpace::locks) == 1);
  REQUIRE(rows.count(RowSpace::dedup) == 1);
  {
    StateMachine intact;
    REQUIRE(intact.restore(rows.rows(), 5).ok());
    CHECK(intact.state_hash() == h.sm.state_hash());
  }

  const RowSpace space =
      GENERATE(RowSpace::meta, RowSpace::kv, RowSpace::sessions, RowSpace::locks, RowSpace::dedup);
  INFO("corrupt row in space " << static_cast<uint32_t>(space));
  std::vector<store::StateRow> corrupt = rows.rows();
  for (store::StateRow& row : corrupt) {
    if (row.space == static_cast<uint32_t>(space)) {
      row.value = std::string("\x10\x00\x00\x00not a record", 16);
      break;
    }
  }
  StateMachine restored;
  const Status status = restored.restore(corrupt, 5);
  REQUIRE_FALSE(status.ok());
  CHECK(status.error().code == ErrorCode::storage);
  CHECK_THAT(status.error().message, Catch::StartsWith("a state row does not decode ("));
}

// The rows must be at the store's position; a row of an unknown space, and rows without the
// position row for a non-zero position, are storage errors too.
TEST_CASE("persistence: restore refuses rows at another position, unknown spaces, no position") {
  Harness h;
  RowMap rows;
  h.record_rows = &rows;
  h.put("k", "v");
  h.create_session("alpha");
  h.put("k", "w");

  StateMachine elsewhere;
  const Status wrong_index = elsewhere.restore(rows.rows(), 4);
  REQUIRE_FALSE(wrong_index.ok());
  CHECK(wrong_index.error().code == ErrorCode::storage);
  CHECK(wrong_index.error().message ==
        "the state rows are at applied index 3 but the store's position is 4");

  std::vector<store::StateRow> unknown = rows.rows();
  unknown.push_back(store::StateRow{9, "x", "y"});
  StateMachine strange;
  const Status unknown_space = strange.restore(unknown, 3);
  REQUIRE_FALSE(unknown_space.ok());
  CHECK(unknown_space.error().code == ErrorCode::storage);
  CHECK(unknown_space.error().message == "a state row has unknown space 9");

  std::vector<store::StateRow> headless;
  for (const store::StateRow& row : rows.rows()) {
    if (row.space != static_cast<uint32_t>(RowSpace::meta)) headless.push_back(row);
  }
  StateMachine lost;
  const Status no_position = lost.restore(headless, 3);
  REQUIRE_FALSE(no_position.ok());
  CHECK(no_position.error().code == ErrorCode::storage);
  CHECK(no_position.error().message ==
        "the state rows have no position row but the store says 3 entries were applied");
}
