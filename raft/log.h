// RaftLog: the in-memory Raft log of one node, with the stable/unstable split the Ready
// protocol needs.
//
// Every entry 1..last_index() is held in memory. LIMIT: there are no snapshots and no log
// compaction yet, so the log grows without bound for the life of the process; snapshots will
// let us drop a prefix (the first stored index then becomes > 1).
//
// Three regions, by index:
//
//   1 .. stable_index()                     persisted: handed out in a Ready that was advanced
//   stable_index()+1 .. unstable_from()-1   in flight: handed out in a Ready not yet advanced
//   unstable_from() .. last_index()         unstable: not handed out yet (the next Ready's entries)
//
// Truncation (Raft §5.3: a follower drops a conflicting suffix) may cut into any region but
// never below commit (checked by the caller, which knows the commit index). When it cuts into
// entries already handed out, those indexes become unstable again so that the next Ready hands
// out the replacements, and store/ overwrites what it wrote.
#pragma once

#include <cstddef>
#include <vector>

#include "raft/types.h"

namespace conclave::raft {

class RaftLog {
 public:
  // `recovered` must be contiguous from index 1; it is treated as already persisted.
  explicit RaftLog(std::vector<Entry> recovered);

  Index last_index() const { return static_cast<Index>(entries_.size()); }
  Term last_term() const { return term_at(last_index()); }
  // Term of the entry at `index`; 0 for index 0 ("before the first entry").
  // Precondition: index <= last_index().
  Term term_at(Index index) const;
  // Precondition: 1 <= index <= last_index().
  const Entry& at(Index index) const;

  Index stable_index() const { return stable_index_; }
  Index unstable_from() const { return unstable_from_; }

  // Appends one entry. Precondition: entry.index == last_index() + 1 and its term is not
  // below last_term() (terms never decrease along a log).
  void append(Entry entry);

  // Drops every entry with index >= `from_index`. Precondition: 1 <= from_index <=
  // last_index() + 1.
  void truncate_from(Index from_index);

  // Entries in [from_index, through_index], stopping early so that at most `max_entries`
  // entries and (after the first one) at most `max_bytes` data bytes are returned. At least one
  // entry is returned when the range is not empty, so an entry larger than max_bytes still
  // moves. Precondition: through_index <= last_index().
  std::vector<Entry> slice(Index from_index, Index through_index, size_t max_entries,
                           size_t max_bytes) const;

  // Returns the unstable entries and marks them handed out (in flight).
  std::vector<Entry> take_unstable();
  bool has_unstable() const { return unstable_from_ <= last_index(); }

  // The caller persisted the entries it was handed, up to `last_handed_out_index`. Entries at or
  // above a truncation point that happened since they were handed out are not what the log
  // holds now, so only those below it become stable.
  void stable_to(Index last_handed_out_index);

 private:
  std::vector<Entry> entries_;  // entries_[i - 1] holds index i
  Index stable_index_ = 0;
  Index unstable_from_ = 1;
  // Lowest index truncated since the last take_unstable(); the maximum Index when none.
  Index lowest_truncation_since_handout_;
};

}  // namespace conclave::raft
