#include "check/history_shrink.h"

#include <algorithm>
#include <set>

namespace conclave::check {

namespace {

bool changes_nothing(const Operation& op) {
  return op.kind == OpKind::read ||
         (op.kind == OpKind::cas && op.outcome == Outcome::ok &&
          op.cas_result == CasResult::failed_compare);
}

// The value a state change leaves (absent for a delete).
Value left_by(const Operation& op) {
  if (op.kind == OpKind::delete_key) return std::nullopt;
  return op.written;
}

class Shrinker {
 public:
  Shrinker(const CheckConfig& config, size_t max_trials)
      : config_(config), max_trials_(max_trials) {}

  bool rejected(const std::vector<Operation>& history) {
    if (trials_ >= max_trials_) return false;
    ++trials_;
    auto verdict = check_linearizable(history, config_);
    return verdict.ok() && verdict.value().overall() == Verdict::violation;
  }

  // Removes chunks of the operations `removable` picks (halving the chunk size down to one),
  // keeping each removal after which the history is still rejected. True if any went.
  template <typename Removable>
  bool remove_in_chunks(std::vector<Operation>& history, Removable removable) {
    bool any = false;
    std::vector<size_t> candidates;
    for (size_t i = 0; i < history.size(); ++i) {
      if (removable(history, i)) candidates.push_back(i);
    }
    for (size_t chunk = std::max<size_t>(candidates.size() / 2, 1); chunk >= 1; chunk /= 2) {
      for (size_t start = 0; start < candidates.size();) {
        const size_t end = std::min(start + chunk, candidates.size());
        std::set<size_t> gone(candidates.begin() + static_cast<std::ptrdiff_t>(start),
                              candidates.begin() + static_cast<std::ptrdiff_t>(end));
        std::vector<Operation> smaller;
        for (size_t i = 0; i < history.size(); ++i) {
          if (gone.count(i) == 0) smaller.push_back(history[i]);
        }
        if (rejected(smaller)) {
          history = std::move(smaller);
          any = true;
          // Indexes moved: recompute what may still go, and carry on at this chunk size.
          candidates.clear();
          for (size_t i = 0; i < history.size(); ++i) {
            if (removable(history, i)) candidates.push_back(i);
          }
          start = std::min(start, candidates.size());
        } else {
          start = end;
        }
        if (trials_ >= max_trials_) return any;
      }
      if (chunk == 1) break;
    }
    return any;
  }

  size_t trials() const { return trials_; }

 private:
  const CheckConfig& config_;
  size_t max_trials_;
  size_t trials_ = 0;
};

std::vector<Operation> cut_at(const std::vector<Operation>& history, int64_t cut_ms) {
  std::vector<Operation> cut;
  for (const Operation& op : history) {
    if (op.invoke_ms > cut_ms) continue;
    const bool answered_by_cut =
        op.outcome == Outcome::ok && op.response_ms && *op.response_ms <= cut_ms;
    if (answered_by_cut || op.outcome != Outcome::ok) {
      cut.push_back(op);
    } else if (!changes_nothing(op)) {
      Operation pending = op;
      pending.outcome = Outcome::unknown;
      cut.push_back(pending);
    }
  }
  return cut;
}

}  // namespace

ShrinkResult shrink_violation(const std::vector<Operation>& key_history,
                              std::optional<int64_t> stuck_response_ms,
                              const CheckConfig& config, size_t max_trials) {
  Shrinker shrinker(config, max_trials);
  std::vector<Operation> history;
  for (const Operation& op : key_history) {
    if (op.outcome == Outcome::fail) continue;  // never checked
    if (op.outcome == Outcome::unknown && op.kind == OpKind::read) continue;
    history.push_back(op);
  }
  std::sort(history.begin(), history.end(),
            [](const Operation& a, const Operation& b) { return a.invoke_ms < b.invoke_ms; });
  if (!shrinker.rejected(history)) {
    return ShrinkResult{key_history, false, false, shrinker.trials()};
  }

  if (stuck_response_ms) {
    std::vector<Operation> cut = cut_at(history, *stuck_response_ms);
    if (shrinker.rejected(cut)) history = std::move(cut);
  }

  auto neutral = [](const std::vector<Operation>& ops, size_t i) {
    return changes_nothing(ops[i]);
  };
  // Only sound with no failed compare-and-set left (history_shrink.h); `remove_in_chunks`
  // asks for every operation, so that is worked out once per history.
  const std::vector<Operation>* scanned = nullptr;
  bool failed_cas_left = false;
  auto unobserved_change = [&](const std::vector<Operation>& ops, size_t i) {
    if (scanned != &ops || i == 0) {
      scanned = &ops;
      failed_cas_left = std::any_of(ops.begin(), ops.end(), [](const Operation& other) {
        return other.kind == OpKind::cas && changes_nothing(other);
      });
    }
    const Operation& op = ops[i];
    if (failed_cas_left || changes_nothing(op)) return false;
    const Value value = left_by(op);
    for (const Operation& other : ops) {
      if (&other == &op) continue;
      if (other.kind == OpKind::read && other.outcome == Outcome::ok && other.observed == value) {
        return false;
      }
      if (other.kind == OpKind::cas && other.expected == value) return false;
    }
    return true;
  };
  bool progress = true;
  while (progress && shrinker.trials() < max_trials) {
    progress = shrinker.remove_in_chunks(history, neutral);
    progress = shrinker.remove_in_chunks(history, unobserved_change) || progress;
  }
  const bool complete = shrinker.trials() < max_trials;
  return ShrinkResult{std::move(history), true, complete, shrinker.trials()};
}

}  // namespace conclave::check
