#include "raft/log.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "common/check.h"

namespace conclave::raft {

namespace {
constexpr Index kNoTruncation = std::numeric_limits<Index>::max();
}  // namespace

RaftLog::RaftLog(std::vector<Entry> recovered)
    : entries_(std::move(recovered)), lowest_truncation_since_handout_(kNoTruncation) {
  Term previous_term = 0;
  for (size_t i = 0; i < entries_.size(); ++i) {
    CONCLAVE_CHECK(entries_[i].index == i + 1,
                   "recovered entries must be contiguous from index 1");
    CONCLAVE_CHECK(entries_[i].term >= previous_term,
                   "recovered entry terms must not decrease along the log");
    previous_term = entries_[i].term;
  }
  stable_index_ = last_index();
  unstable_from_ = last_index() + 1;
}

Term RaftLog::term_at(Index index) const {
  CONCLAVE_CHECK(index <= last_index(), "term_at past the end of the log");
  return index == 0 ? 0 : entries_[index - 1].term;
}

const Entry& RaftLog::at(Index index) const {
  CONCLAVE_CHECK(index >= 1 && index <= last_index(), "entry index outside the log");
  return entries_[index - 1];
}

void RaftLog::append(Entry entry) {
  CONCLAVE_CHECK(entry.index == last_index() + 1, "appended entry must follow the last one");
  CONCLAVE_CHECK(entry.term >= last_term(), "terms never decrease along a log (Raft §5.3)");
  entries_.push_back(std::move(entry));
}

void RaftLog::truncate_from(Index from_index) {
  CONCLAVE_CHECK(from_index >= 1 && from_index <= last_index() + 1,
                 "truncation point outside the log");
  entries_.resize(from_index - 1);
  // Whatever was persisted or handed out at or above the cut is no longer in the log; the
  // replacements must be handed out (and overwrite store/'s copy) before they count as stable.
  stable_index_ = std::min(stable_index_, from_index - 1);
  unstable_from_ = std::min(unstable_from_, from_index);
  lowest_truncation_since_handout_ = std::min(lowest_truncation_since_handout_, from_index);
}

std::vector<Entry> RaftLog::slice(Index from_index, Index through_index, size_t max_entries,
                                  size_t max_bytes) const {
  CONCLAVE_CHECK(through_index <= last_index(), "slice past the end of the log");
  std::vector<Entry> out;
  size_t bytes = 0;
  for (Index index = std::max<Index>(from_index, 1); index <= through_index; ++index) {
    const Entry& entry = entries_[index - 1];
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
  std::vector<Entry> out(entries_.begin() + static_cast<std::ptrdiff_t>(unstable_from_ - 1),
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
