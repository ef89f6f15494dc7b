// DedupTable: exactly-once for client writes (Raft thesis §6.3).
//
// Every write carries a client identity (an agent's boot id) and a sequence number. The table
// keeps, per client, the answers to its requests that the client has not acknowledged yet, so
// that a retried request (the agent re-sent it to a new leader) is answered as the first time
// and changes nothing. A request also carries `ack_below`: the client has its answers for every
// sequence below it, so those are forgotten.
//
// Bounded and deterministic: everything depends only on the applied commands and their leader
// stamps. At most kMaxDedupClients clients (when full, the least recently active one, then the
// smallest id, is evicted); a client idle for kDedupClientIdleMs is forgotten; a client may
// hold at most kMaxAnswersPerClient unacknowledged answers of at most kMaxAnswerBytesPerClient
// in all, beyond which new requests are refused (never silently forgotten, which could apply a
// retry twice).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/records.h"
#include "wire/state_records.h"

namespace conclave::state {

constexpr size_t kMaxDedupClients = 10000;
constexpr size_t kMaxAnswersPerClient = 10000;
// And at most this many bytes of them, so a client's row stays decodable
// (wire::kMaxStateRecordBytes).
constexpr size_t kMaxAnswerBytesPerClient = 4 * 1024 * 1024;
constexpr int64_t kDedupClientIdleMs = 3600LL * 1000;

class DedupTable {
 public:
  enum class Check : uint8_t {
    new_request,  // execute it, then record() its answer
    duplicate,    // answered before: `answer` holds the answer
    forgotten,    // below the client's floor: acknowledged and forgotten, do nothing
    full,         // the client is at kMaxAnswersPerClient or kMaxAnswerBytesPerClient: refuse
  };
  struct Lookup {
    Check check = Check::new_request;
    std::optional<wire::CachedAnswer> answer;
  };

  // Looks the request up and notes the client's activity and acknowledgements.
  Lookup check(uint64_t client_id, uint64_t sequence, uint64_t ack_below, int64_t now_ms);
  // Records the answer of a request check() called new.
  void record(uint64_t client_id, uint64_t sequence, wire::CachedAnswer answer);
  // Replaces the answer of a request still remembered (a waiting acquire that got its grant).
  void update(uint64_t client_id, uint64_t sequence, wire::CachedAnswer answer);
  // Forgets clients idle for kDedupClientIdleMs.
  void expire(int64_t now_ms);

  Status restore(const store::StateRow& row);
  void collect_changes(store::StateChanges& changes);
  // Every row, for a snapshot (raft/DESIGN.md "Snapshots").
  void collect_all(std::vector<store::StateRow>& rows) const;
  void hash_into(uint64_t& hash) const;
  size_t client_count() const { return clients_.size(); }

 private:
  void touch(uint64_t client_id) { dirty_.insert(client_id); }
  static size_t answer_bytes(const wire::CachedAnswer& answer) {
    return answer.message.size() + answer.body.size() + 32;
  }

  std::map<uint64_t, wire::DedupClient> clients_;
  std::map<uint64_t, size_t> bytes_;  // per client: answer_bytes() of its answers (derived)
  std::set<uint64_t> dirty_;
};

}  // namespace conclave::state
