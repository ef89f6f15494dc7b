// libFuzzer target: the state machine applying arbitrary committed entries (built and run by
// scripts/fuzz.sh). The input is a sequence of records (tests/fuzz/records.h), each the data of
// one entry, applied at consecutive indexes the way agent/node.cc applies committed entries:
// apply() decodes the command itself, so undecodable data and empty data (a leader's no-op)
// take the same path as real commands.
//
// What must hold after any log (state_machine/state_machine.h: "same log, same state"):
//  - a second machine applying the same entries answers the same, persists the same rows and
//    ends with the same state_hash;
//  - halfway, the first machine's snapshot (encoded and decoded as Raft ships it) restores a
//    third machine with the same hash, which then applies the rest identically (same answers,
//    same rows);
//  - the rows of every take_changes(), folded together as store/ persists them, are exactly
//    the snapshot rows at the end, and restore (a restart) to the same hash;
//  - the clock, the kv revision and the fencing tokens never go back; no-ops and undecodable
//    entries move neither the clock nor the revision and have no effects (grants, ended
//    sessions, deferred answers); only undecodable ones are counted.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/check.h"
#include "state_machine/state_machine.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/records.h"
#include "wire/snapshot_codec.h"

namespace {

using namespace conclave;
using state::Applied;
using state::StateMachine;

// The persisted rows: take_changes() folded into a map keyed by (space, key), as store/ does.
class RowMap {
 public:
  void absorb(const store::StateChanges& changes) {
    for (const store::StateRowKey& key : changes.deletes) rows_.erase({key.space, key.key});
    for (const store::StateRow& row : changes.upserts) rows_[{row.space, row.key}] = row.value;
    if (changes.applied_index != 0) applied_index_ = changes.applied_index;
  }
  std::vector<store::StateRow> rows() const {
    std::vector<store::StateRow> out;
    for (const auto& [key, value] : rows_) out.push_back({key.first, key.second, value});
    return out;
  }
  raft::Index applied_index() const { return applied_index_; }

 private:
  std::map<std::pair<uint32_t, std::string>, std::string> rows_;
  raft::Index applied_index_ = 0;
};

bool same_changes(const store::StateChanges& a, const store::StateChanges& b) {
  return a.upserts == b.upserts && a.deletes == b.deletes && a.applied_index == b.applied_index;
}

bool same_outcome(const state::Outcome& a, const state::Outcome& b) {
  return state::cached_answer(a, false) == state::cached_answer(b, false);
}

bool same_applied(const Applied& a, const Applied& b) {
  if (a.index != b.index || a.command != b.command || a.duplicate != b.duplicate ||
      a.waiting != b.waiting || !same_outcome(a.outcome, b.outcome) ||
      a.ended_sessions != b.ended_sessions || a.grants.size() != b.grants.size() ||
      a.deferred_answers.size() != b.deferred_answers.size()) {
    return false;
  }
  for (size_t i = 0; i < a.grants.size(); ++i) {
    const state::LockGrant& x = a.grants[i];
    const state::LockGrant& y = b.grants[i];
    if (x.lock != y.lock || x.session != y.session || x.token != y.token ||
        x.client_id != y.client_id || x.sequence != y.sequence) {
      return false;
    }
  }
  for (size_t i = 0; i < a.deferred_answers.size(); ++i) {
    const state::DeferredAnswer& x = a.deferred_answers[i];
    const state::DeferredAnswer& y = b.deferred_answers[i];
    if (x.client_id != y.client_id || x.sequence != y.sequence ||
        !same_outcome(x.outcome, y.outcome)) {
      return false;
    }
  }
  return true;
}

// Everything restore() must bring back, beyond the hash.
void check_same_state(const StateMachine& a, const StateMachine& b) {
  CONCLAVE_CHECK(a.state_hash() == b.state_hash(), "state hashes differ");
  CONCLAVE_CHECK(a.applied_index() == b.applied_index(), "applied indexes differ");
  CONCLAVE_CHECK(a.time_ms() == b.time_ms(), "clocks differ");
  CONCLAVE_CHECK(a.revision() == b.revision(), "kv revisions differ");
  CONCLAVE_CHECK(a.last_fencing_token() == b.last_fencing_token(), "fencing tokens differ");
  CONCLAVE_CHECK(a.next_deadline_ms() == b.next_deadline_ms(), "next deadlines differ");
}

// The snapshot Raft would ship (encoded and decoded), restored into a new machine.
StateMachine restored_from_snapshot(const StateMachine& source) {
  const std::vector<store::StateRow> rows = source.snapshot_rows();
  auto decoded =
      wire::decode_state_snapshot(wire::encode_state_snapshot(rows), wire::kMaxSnapshotRows);
  CONCLAVE_CHECK(decoded.ok() && decoded.value() == rows, "a snapshot does not round-trip");
  StateMachine restored;
  CONCLAVE_CHECK(restored.restore(decoded.value(), source.applied_index()).ok(),
                 "a snapshot does not restore");
  check_same_state(source, restored);
  CONCLAVE_CHECK(restored.take_changes().empty(), "a restore left changes to persist");
  return restored;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string_view> records =
      fuzz::split_records(wire::fuzz::as_view(data, size));
  const size_t restore_after = records.size() / 2;
  StateMachine a;
  StateMachine b;
  std::optional<StateMachine> c;
  RowMap persisted;
  if (restore_after == 0) c = restored_from_snapshot(a);

  for (size_t i = 0; i < records.size(); ++i) {
    const raft::Entry entry{1, i + 1, std::string(records[i])};
    const int64_t time_before = a.time_ms();
    const uint64_t revision_before = a.revision();
    const uint64_t token_before = a.last_fencing_token();
    const uint64_t undecodable_before = a.undecodable_entries();

    const Applied applied = a.apply(entry);
    CONCLAVE_CHECK(applied.index == entry.index && a.applied_index() == entry.index,
                   "apply did not move the applied index by one");
    CONCLAVE_CHECK(a.time_ms() >= time_before, "the state machine clock went back");
    CONCLAVE_CHECK(a.revision() >= revision_before, "the kv revision went back");
    CONCLAVE_CHECK(a.last_fencing_token() >= token_before, "a fencing token went back");
    if (!applied.command) {
      // A no-op or an undecodable entry: no time passes, nothing happens.
      CONCLAVE_CHECK(a.time_ms() == time_before && a.revision() == revision_before,
                     "an entry without a command changed the state");
      CONCLAVE_CHECK(applied.grants.empty() && applied.ended_sessions.empty() &&
                         applied.deferred_answers.empty(),
                     "an entry without a command had effects");
      CONCLAVE_CHECK(a.undecodable_entries() == undecodable_before + (entry.data.empty() ? 0 : 1),
                     "undecodable entries miscounted");
    } else {
      CONCLAVE_CHECK(!entry.data.empty(), "a command from an empty entry");
      CONCLAVE_CHECK(a.undecodable_entries() == undecodable_before,
                     "a decoded command counted as undecodable");
    }
    CONCLAVE_CHECK(!applied.duplicate || (applied.command && applied.command->client_id != 0),
                   "a retry that is not a client's command");
    const store::StateChanges changes = a.take_changes();
    CONCLAVE_CHECK(changes.applied_index == entry.index, "the changes miss the applied index");
    persisted.absorb(changes);

    CONCLAVE_CHECK(same_applied(applied, b.apply(entry)), "same entry, different answer");
    CONCLAVE_CHECK(same_changes(changes, b.take_changes()), "same entry, different rows");
    if (c) {
      CONCLAVE_CHECK(same_applied(applied, c->apply(entry)),
                     "a machine restored from a snapshot answers differently");
      CONCLAVE_CHECK(same_changes(changes, c->take_changes()),
                     "a machine restored from a snapshot persists different rows");
    }
    if (i + 1 == restore_after) c = restored_from_snapshot(a);
  }

  check_same_state(a, b);
  check_same_state(a, *c);
  if (!records.empty()) {
    RowMap snapshot;
    store::StateChanges everything;
    everything.upserts = a.snapshot_rows();
    snapshot.absorb(everything);
    CONCLAVE_CHECK(snapshot.rows() == persisted.rows(),
                   "the persisted rows are not the snapshot rows");
    StateMachine restarted;
    CONCLAVE_CHECK(restarted.restore(persisted.rows(), persisted.applied_index()).ok(),
                   "the persisted rows do not restore");
    check_same_state(a, restarted);
  }
  return 0;
}
