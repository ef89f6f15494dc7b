// KvHistory: the recent changes of the key/value store, in revision order, so that a watch
// can start from a past revision and resume where it left off (wire::KvWatchRequest).
//
// Bounded: at most kMaxHistoryEvents events and kMaxHistoryBytes of keys and values; the
// oldest revisions go first, whole (a transaction's events are kept or dropped together), and
// a watch from before what is kept is refused with the oldest revision it could start from.
// Not persisted: a server that restarts (or installs a snapshot) keeps changes from there on,
// so after a failover to such a server a watch may have to start again from its oldest.
// Like the rest of the state machine, pure and deterministic, but not part of the state hash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "common/result.h"
#include "wire/client_messages.h"

namespace conclave::state {

constexpr size_t kMaxHistoryEvents = 100'000;
constexpr size_t kMaxHistoryBytes = 64 * 1024 * 1024;
// A watch answer stops at a revision boundary once it holds this many bytes of keys and
// values (but always holds at least one whole revision), to stay within one frame.
constexpr size_t kMaxWatchAnswerBytes = 2 * 1024 * 1024;

class KvHistory {
 public:
  // Forgets every event: from here on only changes after `revision` are kept.
  void reset(uint64_t revision);
  // Appends a change. Precondition: its revision (entry.mod_revision) is not below the last.
  void record(wire::KvEvent event);
  // The oldest revision a watch can start from.
  uint64_t oldest_revision() const { return compacted_through_ + 1; }
  // The changes matching `request` from request.from_revision (0: current_revision + 1) on;
  // see wire::KvWatchRequest. Error not_found when that revision is no longer kept.
  Result<wire::KvWatchResponse> since(const wire::KvWatchRequest& request,
                                      uint64_t current_revision) const;

 private:
  void drop_oldest_revision();

  std::deque<wire::KvEvent> events_;
  size_t bytes_ = 0;
  uint64_t compacted_through_ = 0;  // every change up to this revision is forgotten
};

}  // namespace conclave::state
