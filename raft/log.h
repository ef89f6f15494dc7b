// RaftLog: the in-memory Raft log of one node, with the stable/unstable split the Ready
// protocol needs.
//
// Entries start_index()+1 .. last_index() are held in memory. Everything up to start_index()
// was compacted away (its effect lives in the state machine's persisted state) or replaced by
// an installed snapshot; only the start's term is kept, for log matching (raft/DESIGN.md
// "Snapshots").
//
// Three regions, by index:
//
//   start+1 .. stable_index()               persisted: handed out in a Ready that was advanced
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
  // `recovered` must be contiguous from start_index + 1; it is treated as already persisted.
  RaftLog(Index start_index, Term start_term, std::vector<Entry> recovered);

  Index start_index() const { return start_index_; }
  Index first_index() const { return start_index_ + 1; }
  Index last_index() const { return start_index_ + static_cast<Index>(entries_.size()); }
  Term last_term() const { return term_at(last_index()); }
  // Is the term at `index` known (start_index() <= index <= last_index())?
  bool has_term(Index index) const { return index >= start_index_ && index <= last_index(); }
  // Term of the entry at `index`; start_term for start_index (0 for index 0).
  // Precondition: has_term(index).
  Term term_at(Index index) const;
  // Precondition: first_index() <= index <= last_index().
  const Entry& at(Index index) const;
  // The largest index <= at_most (and <= last_index()) whose term is <= `term`, found by binary
  // search (terms never decrease along a log); start_index() - 1 when even the start's term is
  // above `term` (only possible when start_index() > 0). Used to skip a whole conflicting term
  // per rejected append instead of one entry.
  Index last_index_with_term_at_most(Index at_most, Term term) const;

  Index stable_index() const { return stable_index_; }
  Index unstable_from() const { return unstable_from_; }

  // Appends one entry. Precondition: entry.index == last_index() + 1 and its term is not
  // below last_term() (terms never decrease along a log).
  void append(Entry entry);

  // Drops every entry with index >= `from_index`. Precondition: first_index() <= from_index <=
  // last_index() + 1.
  void truncate_from(Index from_index);

  // Drops entries up to `through_index`, which becomes the start. Precondition:
  // start_index() <= through_index <= stable_index() (only persisted entries are compacted).
  void compact_to(Index through_index);
  // Replaces the whole log by a snapshot's position: no entries, start (index, term), and
  // everything up to it counts as persisted (the caller persists the snapshot before anything
  // that depends on it leaves, as with any Ready).
  void restore(Index index, Term term);

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
  std::vector<Entry> entries_;  // entries_[i] holds index start_index_ + 1 + i
  Index start_index_ = 0;
  Term start_term_ = 0;
  Index stable_index_ = 0;
  Index unstable_from_ = 1;
  // Lowest index truncated since the last take_unstable(); the maximum Index when none.
  Index lowest_truncation_since_handout_;
};

}  // namespace conclave::raft
