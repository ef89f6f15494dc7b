#include "state_machine/kv_history.h"

#include <algorithm>
#include <string>

#include "common/check.h"

namespace conclave::state {

namespace {

uint64_t revision_of(const wire::KvEvent& event) { return event.entry.mod_revision; }

size_t bytes_of(const wire::KvEvent& event) {
  return event.entry.key.size() + event.entry.value.size();
}

bool matches(const wire::KvWatchRequest& request, const std::string& key) {
  return request.prefix ? key.compare(0, request.key.size(), request.key) == 0
                        : key == request.key;
}

}  // namespace

void KvHistory::reset(uint64_t revision) {
  events_.clear();
  bytes_ = 0;
  compacted_through_ = revision;
}

void KvHistory::record(wire::KvEvent event) {
  CONCLAVE_CHECK(events_.empty() || revision_of(events_.back()) <= revision_of(event),
                 "kv history out of revision order");
  CONCLAVE_CHECK(revision_of(event) > compacted_through_, "kv history event already compacted");
  bytes_ += bytes_of(event);
  events_.push_back(std::move(event));
  // Over a limit: drop whole revisions from the front, but never the one just recorded.
  while ((events_.size() > kMaxHistoryEvents || bytes_ > kMaxHistoryBytes) &&
         revision_of(events_.front()) < revision_of(events_.back())) {
    drop_oldest_revision();
  }
}

void KvHistory::drop_oldest_revision() {
  const uint64_t revision = revision_of(events_.front());
  while (!events_.empty() && revision_of(events_.front()) == revision) {
    bytes_ -= bytes_of(events_.front());
    events_.pop_front();
  }
  compacted_through_ = revision;
}

Result<wire::KvWatchResponse> KvHistory::since(const wire::KvWatchRequest& request,
                                               uint64_t current_revision) const {
  const uint64_t from =
      request.from_revision == 0 ? current_revision + 1 : request.from_revision;
  if (from < oldest_revision()) {
    return make_error(ErrorCode::not_found,
                      "revision " + std::to_string(from) +
                          " is no longer kept; the oldest revision a watch can start from is " +
                          std::to_string(oldest_revision()) +
                          " (read the current values, then watch from the revision after)");
  }
  const size_t max_events =
      request.max_events == 0 ? wire::kDefaultWatchEvents
                              : std::min<size_t>(request.max_events, wire::kMaxWatchEvents);
  wire::KvWatchResponse answer;
  answer.oldest_revision = oldest_revision();
  answer.watch_revision = std::max(current_revision, from - 1);
  auto it = std::lower_bound(events_.begin(), events_.end(), from,
                             [](const wire::KvEvent& event, uint64_t revision) {
                               return revision_of(event) < revision;
                             });
  size_t answer_bytes = 0;
  while (it != events_.end()) {
    // One revision at a time, whole: a transaction's changes arrive together.
    const uint64_t revision = revision_of(*it);
    auto end = it;
    size_t matched = 0;
    size_t bytes = 0;
    for (; end != events_.end() && revision_of(*end) == revision; ++end) {
      if (matches(request, end->entry.key)) {
        ++matched;
        bytes += bytes_of(*end);
      }
    }
    if (matched > 0 && !answer.events.empty() &&
        (answer.events.size() + matched > max_events ||
         answer_bytes + bytes > kMaxWatchAnswerBytes)) {
      answer.watch_revision = revision - 1;  // this revision and later: the next answer
      return answer;
    }
    for (; it != end; ++it) {
      if (matches(request, it->entry.key)) answer.events.push_back(*it);
    }
    answer_bytes += bytes;
  }
  return answer;
}

}  // namespace conclave::state
