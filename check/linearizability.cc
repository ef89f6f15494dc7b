#include "check/linearizability.h"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>

#include "check/history_report.h"
#include "common/check.h"

namespace conclave::check {
namespace {

constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kAbsent = 0;          // the value id of an absent register
constexpr uint32_t kUnseen = 1;          // the value id of every value no operation looks for
constexpr size_t kPlacedShown = 6;       // placed operations kept for a violation's slice

// The values one key's operations mention, numbered, so that the register's state is a small
// integer (cheap to compare and to memoize). Equal values get one number, so repeated writes
// of one value need no special case. Values that no read returned and no cas compared against
// all get kUnseen: no operation can tell them apart, so they are one state to the search
// (which then need not try every unknown write of such a value separately).
class ValueTable {
 public:
  explicit ValueTable(const std::vector<const Operation*>& operations) {
    for (const Operation* op : operations) {
      if (op->kind == OpKind::read && op->observed) looked_for_.insert({*op->observed, 0});
      if (op->kind == OpKind::cas && op->expected) looked_for_.insert({*op->expected, 0});
    }
    uint32_t next_id = kUnseen + 1;
    for (auto& [value, id] : looked_for_) id = next_id++;
  }

  uint32_t id(const Value& value) const {
    if (!value) return kAbsent;
    auto it = looked_for_.find(*value);
    return it == looked_for_.end() ? kUnseen : it->second;
  }

 private:
  std::unordered_map<std::string, uint32_t> looked_for_;
};

struct SearchOp {
  const Operation* source = nullptr;
  bool acknowledged = false;             // outcome ok; otherwise unknown (and not a read)
  uint32_t slot = 0;                     // acknowledged: its bit in the placed set;
                                         // unknown: its number among the unknown ones
  uint32_t observed = kAbsent;           // value ids
  uint32_t written = kAbsent;
  uint32_t expected = kAbsent;
  uint32_t call_event = kNone;
  uint32_t return_event = kNone;         // kNone for unknown: no response bounds it
};

struct Event {
  int64_t time_ms = 0;
  bool is_return = false;
  uint32_t op = 0;
};

// A configuration already explored, as a hash key: the register's value and the set of
// acknowledged operations placed. The set is stored from its first word that is not full
// (every word before it is all ones) to its last nonzero word: acknowledged operations are
// numbered in invoke order and placed roughly in that order, so this is a word or two where
// the whole set would be (operations / 64) words.
struct MemoKey {
  uint32_t value = kAbsent;
  uint32_t first_word = 0;
  std::vector<uint64_t> words;
  bool operator==(const MemoKey&) const = default;
};

struct MemoKeyHash {
  size_t operator()(const MemoKey& key) const {
    uint64_t hash = (uint64_t{key.value} << 32) ^ key.first_word;
    for (uint64_t word : key.words) hash = (hash ^ word) * 0x9E3779B97F4A7C15ULL;
    return static_cast<size_t>(hash ^ (hash >> 29));
  }
};

struct SearchResult {
  Verdict verdict = Verdict::ok;
  uint64_t steps = 0;
  StuckPoint deepest_dead_end;           // violation: the slice is built from it
  size_t most_acknowledged_placed = 0;   // inconclusive: how far the search got
  size_t acknowledged_total = 0;
};

// The search for one key. Events (one call per operation, one return per acknowledged one) sit
// in a doubly linked list in time order; placing an operation unlinks its events and undoing
// it relinks them, last out first in, so the list always holds exactly the unplaced events.
// At each configuration the candidates are the unplaced calls before the first unplaced
// return: an operation invoked after that response cannot take effect before it, and the
// operation responding there must be placed before anything later.
class KeySearch {
 public:
  KeySearch(const std::vector<const Operation*>& operations, uint64_t max_steps)
      : max_steps_(max_steps), values_(operations) {
    std::vector<const Operation*> by_invoke = operations;
    std::stable_sort(by_invoke.begin(), by_invoke.end(),
                     [](const Operation* a, const Operation* b) {
                       return a->invoke_ms < b->invoke_ms;
                     });
    CONCLAVE_CHECK(by_invoke.size() < kNone / 2, "too many operations on one key");
    uint32_t unknown_count = 0;
    for (const Operation* source : by_invoke) {
      SearchOp op;
      op.source = source;
      op.acknowledged = source->outcome == Outcome::ok;
      CONCLAVE_CHECK(source->outcome != Outcome::fail, "failed operations are dropped");
      op.slot = op.acknowledged ? static_cast<uint32_t>(acknowledged_total_++)
                                : unknown_count++;
      op.observed = values_.id(source->observed);
      op.written = values_.id(source->written);
      op.expected = values_.id(source->expected);
      ops_.push_back(op);
    }
    acknowledged_left_ = acknowledged_total_;
    placed_words_.assign((acknowledged_total_ + 63) / 64, 0);
    build_event_list();
  }

  SearchResult run() {
    std::vector<Frame> stack(1);
    open(stack.back());
    while (acknowledged_left_ > 0) {
      Frame& top = stack.back();
      if (top.next_candidate == top.candidates.size()) {
        note_dead_end(top, stack);
        if (stack.size() == 1) return finish(Verdict::violation);
        unplace(top);
        stack.pop_back();
        continue;
      }
      if (steps_ == max_steps_) return finish(Verdict::inconclusive);
      ++steps_;
      const uint32_t op = top.candidates[top.next_candidate++];
      const std::optional<uint32_t> after = apply(ops_[op], value_);
      if (!after) continue;
      Frame next;
      next.op = op;
      next.value_before = value_;
      next.after_unknown = !ops_[op].acknowledged;
      place(op, *after);
      // Configurations right after an unknown operation have fewer moves (see open()), so
      // they are not memoized: only configurations with every move open are compared.
      if (!next.after_unknown && !first_visit()) {
        unplace(next);
        continue;
      }
      open(next);
      stack.push_back(std::move(next));  // `top` is not used past this point
    }
    return finish(Verdict::ok);
  }

 private:
  struct Frame {
    uint32_t op = kNone;                 // placed to enter this configuration; kNone at root
    uint32_t value_before = kAbsent;
    std::vector<uint32_t> candidates;    // acknowledged ones first, then unknown ones
    size_t next_candidate = 0;
    uint32_t stuck_op = kNone;           // the unplaced operation whose response ends them
    bool after_unknown = false;          // `op` is an unknown one
  };

  void build_event_list() {
    for (uint32_t i = 0; i < ops_.size(); ++i) {
      events_.push_back(Event{ops_[i].source->invoke_ms, false, i});
      if (ops_[i].acknowledged) {
        events_.push_back(Event{*ops_[i].source->response_ms, true, i});
      }
    }
    // Calls before returns at one instant: an operation answered at t does not precede one
    // invoked at t (see "Time" in the header).
    std::sort(events_.begin(), events_.end(), [](const Event& a, const Event& b) {
      if (a.time_ms != b.time_ms) return a.time_ms < b.time_ms;
      if (a.is_return != b.is_return) return !a.is_return;
      return a.op < b.op;
    });
    // A circular list through the sentinel: head_ -> 0 -> 1 -> ... -> count - 1 -> head_.
    const uint32_t count = static_cast<uint32_t>(events_.size());
    head_ = count;
    next_.resize(count + 1);
    prev_.resize(count + 1);
    for (uint32_t e = 0; e <= count; ++e) {
      next_[e] = (e + 1) % (count + 1);
      prev_[e] = (e + count) % (count + 1);
    }
    for (uint32_t e = 0; e < count; ++e) {
      SearchOp& op = ops_[events_[e].op];
      (events_[e].is_return ? op.return_event : op.call_event) = e;
    }
  }

  // What `op` leaves in a register holding `value`, or nullopt if the result the client saw
  // rules out `op` taking effect on `value`.
  static std::optional<uint32_t> apply(const SearchOp& op, uint32_t value) {
    switch (op.source->kind) {
      case OpKind::read:
        if (op.observed != value) return std::nullopt;
        return value;
      case OpKind::write:
        return op.written;
      case OpKind::delete_key:
        return kAbsent;
      case OpKind::cas:
        if (!op.acknowledged) return value == op.expected ? op.written : value;
        if (op.source->cas_result == CasResult::succeeded) {
          if (value != op.expected) return std::nullopt;
          return op.written;
        }
        if (value == op.expected) return std::nullopt;
        return value;
    }
    CONCLAVE_CHECK(false, "unhandled operation kind");
    return std::nullopt;
  }

  // An acknowledged operation that never changes the register: a read, or a cas that failed
  // its compare.
  static bool read_only(const SearchOp& op) {
    if (!op.acknowledged) return false;
    if (op.source->kind == OpKind::read) return true;
    return op.source->kind == OpKind::cas && op.source->cas_result == CasResult::failed_compare;
  }

  // An operation whose outcome depends on the register's value: a read or a cas.
  static bool depends_on_value(const SearchOp& op) {
    return op.source->kind == OpKind::read || op.source->kind == OpKind::cas;
  }

  // The moves at the current configuration, in the order tried. The candidates are the
  // unplaced operations invoked before the first unplaced response (see the class comment),
  // acknowledged ones first (they must all be placed; unknown ones only may be). Three rules
  // drop candidates, each keeping at least one linearization when any exists:
  //
  //  1. Read-only first. If an acknowledged read, or cas that failed its compare, fits the
  //     register now, it is the only move: a linearization that places it later can place it
  //     now instead (it is pending now, so nothing that must precede it is unplaced; it sees
  //     the same value now; and the operations it moves ahead of see the same values, since
  //     it changes nothing). Without this, k concurrent reads of one value would be tried in
  //     all 2^k subsets.
  //  2. Unknown operations only where someone sees them. An unknown operation is a move only
  //     if it changes the register and a pending read or cas (not itself) can directly follow
  //     it; right after an unknown operation, only reads and cas are moves. An unknown
  //     operation followed directly by a write or a delete, or by nothing, changed nothing
  //     anyone saw, and leaving it out gives an equally valid linearization. Without this,
  //     unknown operations that never took effect would be tried at every step, in every
  //     order.
  //  3. One of each kind of unknown operation. Of pending unknown operations that do the same
  //     thing (same kind, same values, with values no one looks for counted as one; see
  //     ValueTable), only the first is a move: both are pending, so from here on either can
  //     stand in for the other in any linearization.
  void open(Frame& frame) const {
    std::vector<uint32_t> pending;
    for (uint32_t e = next_[head_]; e != head_; e = next_[e]) {
      const Event& event = events_[e];
      if (event.is_return) {
        frame.stuck_op = event.op;
        break;
      }
      pending.push_back(event.op);
    }
    for (uint32_t op : pending) {
      if (read_only(ops_[op]) && apply(ops_[op], value_)) {
        frame.candidates.assign(1, op);  // rule 1
        return;
      }
    }
    std::vector<uint32_t> dependents;  // for rule 2
    for (uint32_t op : pending) {
      if (depends_on_value(ops_[op])) dependents.push_back(op);
    }
    std::vector<uint32_t> unknown;
    for (uint32_t op : pending) {
      if (frame.after_unknown && !depends_on_value(ops_[op])) continue;
      if (ops_[op].acknowledged) {
        frame.candidates.push_back(op);
      } else if (seen_if_placed(op, dependents) && !same_effect_listed(op, unknown)) {
        unknown.push_back(op);
      }
    }
    frame.candidates.insert(frame.candidates.end(), unknown.begin(), unknown.end());
  }

  // Rule 3: whether `listed` holds an unknown operation that does what `unknown_op` does (the
  // same kind, with the same values).
  bool same_effect_listed(uint32_t unknown_op, const std::vector<uint32_t>& listed) const {
    const SearchOp& op = ops_[unknown_op];
    for (uint32_t other_index : listed) {
      const SearchOp& other = ops_[other_index];
      if (other.source->kind == op.source->kind && other.written == op.written &&
          other.expected == op.expected) {
        return true;
      }
    }
    return false;
  }

  // Rule 2 for one unknown operation: it changes the register now, and one of `dependents`
  // (other than itself) can directly follow it.
  bool seen_if_placed(uint32_t unknown_op, const std::vector<uint32_t>& dependents) const {
    const std::optional<uint32_t> after = apply(ops_[unknown_op], value_);
    if (!after || *after == value_) return false;
    for (uint32_t op : dependents) {
      if (op == unknown_op) continue;
      const std::optional<uint32_t> then = apply(ops_[op], *after);
      // An unknown cas that would change nothing is not a move either.
      if (then && (ops_[op].acknowledged || *then != *after)) return true;
    }
    return false;
  }

  void unlink(uint32_t e) {
    next_[prev_[e]] = next_[e];
    prev_[next_[e]] = prev_[e];
  }
  void relink(uint32_t e) {
    next_[prev_[e]] = e;
    prev_[next_[e]] = e;
  }

  void place(uint32_t index, uint32_t value_after) {
    const SearchOp& op = ops_[index];
    unlink(op.call_event);
    if (op.acknowledged) {
      unlink(op.return_event);
      placed_words_[op.slot / 64] |= uint64_t{1} << (op.slot % 64);
      --acknowledged_left_;
      most_acknowledged_placed_ =
          std::max(most_acknowledged_placed_, acknowledged_total_ - acknowledged_left_);
    } else {
      placed_unknown_.insert(
          std::lower_bound(placed_unknown_.begin(), placed_unknown_.end(), op.slot), op.slot);
    }
    value_ = value_after;
  }

  void unplace(const Frame& frame) {
    const SearchOp& op = ops_[frame.op];
    if (op.acknowledged) {
      relink(op.return_event);
      placed_words_[op.slot / 64] &= ~(uint64_t{1} << (op.slot % 64));
      ++acknowledged_left_;
    } else {
      auto it = std::lower_bound(placed_unknown_.begin(), placed_unknown_.end(), op.slot);
      CONCLAVE_CHECK(it != placed_unknown_.end() && *it == op.slot, "unknown op not placed");
      placed_unknown_.erase(it);
    }
    relink(op.call_event);
    value_ = frame.value_before;
  }

  // Records the current configuration; false if it was explored before, or is dominated by
  // one explored before: the same value and acknowledged operations placed, with a subset of
  // the unknown operations placed. For every move of this configuration the dominating one
  // has a move to a configuration that again dominates (an unknown operation may always be
  // left out, and rule 3 only swaps an unknown operation for one that does the same), so if
  // the dominating one led nowhere, this one cannot lead anywhere either.
  bool first_visit() {
    MemoKey key;
    key.value = value_;
    uint32_t first = 0;
    while (first < placed_words_.size() && placed_words_[first] == ~uint64_t{0}) ++first;
    uint32_t end = static_cast<uint32_t>(placed_words_.size());
    while (end > first && placed_words_[end - 1] == 0) --end;
    key.first_word = first;
    key.words.assign(placed_words_.begin() + first, placed_words_.begin() + end);
    std::vector<std::vector<uint32_t>>& seen = memo_[std::move(key)];
    for (const std::vector<uint32_t>& unknown : seen) {
      if (std::includes(placed_unknown_.begin(), placed_unknown_.end(), unknown.begin(),
                        unknown.end())) {
        return false;
      }
    }
    seen.push_back(placed_unknown_);
    return true;
  }

  // Keeps the dead end with the most acknowledged operations placed (the first one found at
  // that depth): in a history with one bad read, that is where the read is. Dead ends right
  // after an unknown operation are skipped: the configuration before it has the same depth,
  // ends later, and makes a clearer report (every acknowledged move failed there).
  void note_dead_end(const Frame& frame, const std::vector<Frame>& stack) {
    if (frame.after_unknown) return;
    const size_t placed = acknowledged_total_ - acknowledged_left_;
    if (deepest_found_ && placed <= deepest_.acknowledged_placed) return;
    CONCLAVE_CHECK(frame.stuck_op != kNone, "a dead end with every operation placed");
    deepest_found_ = true;
    // stack[i] entered the configuration with i operations placed: i is op's position.
    const size_t first_shown = stack.size() - std::min(kPlacedShown, stack.size() - 1);
    const size_t changed_at = last_change(stack);
    deepest_.placed_last.clear();
    for (size_t i = first_shown; i < stack.size(); ++i) {
      deepest_.placed_last.push_back({ops_[stack[i].op].source, i});
    }
    deepest_.last_change_before.reset();
    if (changed_at > 0 && changed_at < first_shown) {
      deepest_.last_change_before = PlacedOperation{ops_[stack[changed_at].op].source, changed_at};
    }
    deepest_.placed_total = stack.size() - 1;
    deepest_.acknowledged_placed = placed;
    deepest_.acknowledged_total = acknowledged_total_;
    // Named from the operation, not from value_, which may be kUnseen (many values).
    deepest_.register_value = std::nullopt;
    if (changed_at > 0 && ops_[stack[changed_at].op].source->kind != OpKind::delete_key) {
      deepest_.register_value = ops_[stack[changed_at].op].source->written;
    }
    deepest_.stuck = ops_[frame.stuck_op].source;
    deepest_.stuck_fits_value = apply(ops_[frame.stuck_op], value_).has_value();
  }

  // The position in `stack` of the last operation placed that changed the register, or 0 if
  // none did (it is still absent, as every register starts).
  size_t last_change(const std::vector<Frame>& stack) const {
    for (size_t i = stack.size(); i-- > 1;) {
      const SearchOp& op = ops_[stack[i].op];
      const bool changes = op.source->kind == OpKind::write ||
                           op.source->kind == OpKind::delete_key ||
                           (op.source->kind == OpKind::cas &&
                            // placed unknown ones changed it (rule 2 in open())
                            (!op.acknowledged || op.source->cas_result == CasResult::succeeded));
      if (changes) return i;
    }
    return 0;
  }

  SearchResult finish(Verdict verdict) const {
    CONCLAVE_CHECK(verdict != Verdict::violation || deepest_found_,
                   "a violation without a dead end to show");
    SearchResult result;
    result.verdict = verdict;
    result.steps = steps_;
    result.deepest_dead_end = deepest_;
    result.most_acknowledged_placed = most_acknowledged_placed_;
    result.acknowledged_total = acknowledged_total_;
    return result;
  }

  const uint64_t max_steps_;
  ValueTable values_;
  std::vector<SearchOp> ops_;            // in invoke order
  std::vector<Event> events_;            // in time order
  std::vector<uint32_t> next_, prev_;    // the list of unplaced events; head_ is its sentinel
  uint32_t head_ = 0;

  size_t acknowledged_total_ = 0;
  size_t acknowledged_left_ = 0;         // not yet placed; the search succeeds at zero
  uint32_t value_ = kAbsent;             // the register after the operations placed
  std::vector<uint64_t> placed_words_;   // acknowledged operations placed, by slot
  std::vector<uint32_t> placed_unknown_; // unknown operations placed, by slot, sorted
  std::unordered_map<MemoKey, std::vector<std::vector<uint32_t>>, MemoKeyHash> memo_;
  uint64_t steps_ = 0;
  size_t most_acknowledged_placed_ = 0;
  bool deepest_found_ = false;
  StuckPoint deepest_;
};

Status validate(const std::vector<Operation>& history) {
  for (size_t i = 0; i < history.size(); ++i) {
    const Operation& op = history[i];
    if (op.outcome != Outcome::ok) continue;
    const std::string where = "operation " + std::to_string(i) + " (" + format_operation(op) + ")";
    if (!op.response_ms) {
      return make_error(ErrorCode::invalid_argument,
                        where + ": an ok operation needs response_ms; mark it unknown if the "
                                "answer was not seen");
    }
    if (*op.response_ms < op.invoke_ms) {
      return make_error(ErrorCode::invalid_argument,
                        where + ": answered before it was invoked; invoke and response times "
                                "must come from one clock");
    }
  }
  return Status::ok_status();
}

// Fails took no effect and unknown reads constrain nothing: neither takes part in the search.
bool checked(const Operation& op) {
  if (op.outcome == Outcome::fail) return false;
  return !(op.outcome == Outcome::unknown && op.kind == OpKind::read);
}

}  // namespace

const char* verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::ok: return "ok";
    case Verdict::violation: return "violation";
    case Verdict::inconclusive: return "inconclusive";
  }
  return "unknown";
}

Verdict HistoryVerdict::overall() const {
  Verdict overall = Verdict::ok;
  for (const KeyVerdict& key : keys) {
    if (key.verdict == Verdict::violation) return Verdict::violation;
    if (key.verdict == Verdict::inconclusive) overall = Verdict::inconclusive;
  }
  return overall;
}

const KeyVerdict* HistoryVerdict::find(std::string_view key) const {
  for (const KeyVerdict& verdict : keys) {
    if (verdict.key == key) return &verdict;
  }
  return nullptr;
}

Result<HistoryVerdict> check_linearizable(const std::vector<Operation>& history,
                                          const CheckConfig& config) {
  if (Status status = validate(history); !status.ok()) return status.error();

  std::map<std::string, std::vector<const Operation*>> by_key;
  for (const Operation& op : history) {
    if (checked(op)) by_key[op.key].push_back(&op);
  }

  HistoryVerdict result;
  for (const auto& [key, operations] : by_key) {
    KeySearch search(operations, config.max_steps_per_key);
    const SearchResult found = search.run();
    KeyVerdict verdict;
    verdict.key = key;
    verdict.verdict = found.verdict;
    verdict.operations_checked = operations.size();
    verdict.steps = found.steps;
    if (found.verdict == Verdict::violation) {
      ViolationReport report =
          describe_violation(key, found.deepest_dead_end, operations, config.max_slice_lines);
      verdict.explanation = std::move(report.explanation);
      verdict.slice = std::move(report.slice);
      if (found.deepest_dead_end.stuck != nullptr) {
        verdict.stuck_response_ms = found.deepest_dead_end.stuck->response_ms;
      }
    } else if (found.verdict == Verdict::inconclusive) {
      verdict.explanation =
          describe_budget_exhausted(key, config.max_steps_per_key, found.most_acknowledged_placed,
                                    found.acknowledged_total);
    }
    result.keys.push_back(std::move(verdict));
  }
  return result;
}

}  // namespace conclave::check
