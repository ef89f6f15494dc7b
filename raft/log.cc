#include "raft/log.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "common/check.h"

namespace conclave::raft {

namespace {
constexpr Index kNoTruncation = std::numeric_limits<Index>::max();
}  // namespace

RaftLog::RaftLog(Index start_index, Term start_term, std::vector<Entry> recovered)
    : entries_(std::move(recovered)),
      start_index_(start_index),
      start_term_(start_term),
      lowest_truncation_since_handout_(kNoTruncation) {
  CONCLAVE_CHECK(start_index != 0 || start_term == 0, "the start before index 1 has term 0");
  Term previous_term = start_term;
  for (size_t i = 0; i < entries_.size(); ++i) {
    CONCLAVE_CHECK(entries_[i].index == start_index + 1 + i,
                   "recovered entries must be contiguous from the log start");
    CONCLAVE_CHECK(entries_[i].term >= previous_term,
                   "recovered entry terms must not decrease along the log");
    previous_term = entries_[i].term;
  }
  stable_index_ = last_index();
  unstable_from_ = last_index() + 1;
}

Term RaftLog::term_at(Index index) const {
  CONCLAVE_CHECK(has_term(index), "term_at outside the log (compacted or past the end)");
  return index == start_index_ ? start_term_ : entries_[index - start_index_ - 1].term;
}

const Entry& RaftLog::at(Index index) const {
  CONCLAVE_CHECK(index > start_index_ && index <= last_index(), "entry index outside the log");
  return entries_[index - start_index_ - 1];
}

Index RaftLog::last_index_with_term_at_most(Index at_most, Term term) const {
  Index low = start_index_;
  Index high = std::min(at_most, last_index());
  if (high < low) return low == 0 ? 0 : low - 1;
  if (term_at(low) > term) return low - 1;  // low > 0 here: term_at(0) is 0
  while (low < high) {  // invariant: term_at(low) <= term
    const Index middle = low + (high - low + 1) / 2;
    if (term_at(middle) <= term) {
      low = middle;
    } else {
      high = middle - 1;
    }
  }
  return low;
}

void RaftLog::append(Entry entry) {
  CONCLAVE_CHECK(entry.index == last_index() + 1, "appended entry must follow the last one");
  CONCLAVE_CHECK(entry.term >= last_term(), "terms never decrease along a log (Raft §5.3)");
  entries_.push_back(std::move(entry));
}

void RaftLog::truncate_from(Index from_index) {
  CONCLAVE_CHECK(from_index > start_index_ && from_index <= last_index() + 1,
                 "truncation point outside the log");
  entries_.resize(from_index - start_index_ - 1);
  // Whatever was persisted or handed out at or above the cut is no longer in the log; the
  // replacements must be handed out (and overwrite store/'s copy) before they count as stable.
  stable_index_ = std::min(stable_index_, from_index - 1);
  unstable_from_ = std::min(unstable_from_, from_index);
  lowest_truncation_since_handout_ = std::min(lowest_truncation_since_handout_, from_index);
}

void RaftLog::compact_to(Index through_index) {
  CONCLAVE_CHECK(through_index >= start_index_ && through_index <= stable_index_,
                 "only persisted entries can be compacted");
  const Term term = term_at(through_index);
  entries_.erase(entries_.begin(),
                 entries_.begin() + static_cast<std::ptrdiff_t>(through_index - start_index_));
  start_index_ = through_index;
  start_term_ = term;
}

void RaftLog::restore(Index index, Term term) {
  entries_.clear();
  start_index_ = index;
  start_term_ = term;
  stable_index_ = index;
  unstable_from_ = index + 1;
  // Like a truncation for a Ready still in flight: whatever it carried above the snapshot's
  // index is not what the log holds now, so it must not count as persisted when advanced.
  lowest_truncation_since_handout_ = std::min(lowest_truncation_since_handout_, index + 1);
}

std::vector<Entry> RaftLog::slice(Index from_index, Index through_index, size_t max_entries,
                                  size_t max_bytes) const {
  CONCLAVE_CHECK(through_index <= last_index(), "slice past the end of the log");
  CONCLAVE_CHECK(from_index > start_index_, "slice of compacted entries");
  std::vector<Entry> out;
  size_t bytes = 0;
  for (Index index = from_index; index <= through_index; ++index) {
    const Entry& entry = at(index);
    if (!out.empty() &&
        (out.size() >= max_entries || bytes + entry.data.size() > max_bytes)) {
      break;
    }
    bytes += entry.data.size();
    out.push_back(entry);
  }
  return out;
}

std::vector<Entry> RaftLog::take_unstable() {
  const Index from = std::max(unstable_from_, first_index());
  std::vector<Entry> out(entries_.begin() + static_cast<std::ptrdiff_t>(from - first_index()),
                         entries_.end());
  unstable_from_ = last_index() + 1;
  lowest_truncation_since_handout_ = kNoTruncation;
  return out;
}

void RaftLog::stable_to(Index last_handed_out_index) {
  Index stable = last_handed_out_index;
  if (lowest_truncation_since_handout_ != kNoTruncation) {
    stable = std::min(stable, lowest_truncation_since_handout_ - 1);
  }
  stable = std::min(stable, last_index());
  stable_index_ = std::max(stable_index_, stable);
}

}  // namespace conclave::raft
