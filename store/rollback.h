// Rollback detection: a store must never silently come back older than it was.
//
// SQLite in WAL mode drops every frame from the first bad checksum on, so a few flipped bytes in
// the middle of the WAL make the database reopen at an older transaction: an older log and an
// older hard state (vote included), without an error. A server that then votes or acknowledges
// on that state can help elect a leader without a committed entry (lost acknowledged writes).
//
// The defence: every persisted batch increments a batch counter stored in the same
// transaction, and after the commit the store copies the counter (with the term and commit
// index, for the message) to a small watermark file beside the database, outside the WAL. At
// load, a database whose counter is below the watermark's is a rollback, whatever else it holds:
// any revert to an earlier transaction is caught, not just one that lowers some position.
// The file is written after the commit and without fsync: a crash between the two leaves the
// database ahead of the watermark (fine), and a power loss can at worst leave the watermark
// stale, which misses a rollback but never invents one. Messages that depend on a batch leave
// only after persist() returned, so the watermark already covers every acknowledged entry.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "raft/types.h"
#include "store/records.h"

namespace conclave::store {

struct Watermark {
  uint64_t batches = 0;     // batches ever persisted in this data folder
  raft::Term term = 0;      // the hard state then (for the damage report only)
  raft::Index commit = 0;

  bool operator==(const Watermark&) const = default;
};

// Empty when `loaded` is at or above `watermark`; else what was found and the fix.
std::string describe_rollback(const Watermark& watermark, const RecoveredState& loaded);

// Fixed-size file encoding with a magic and a checksum; decode returns nothing for bytes that
// are not an intact watermark.
std::string encode_watermark(const Watermark& watermark);
std::optional<Watermark> decode_watermark(const std::string& bytes);

}  // namespace conclave::store
