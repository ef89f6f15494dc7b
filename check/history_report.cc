#include "check/history_report.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace conclave::check {
namespace {

constexpr size_t kValueBytesShown = 40;
constexpr size_t kLabelWidth = 13;       // "placed #1234 " and friends line up

std::string label(std::string text) {
  text += ' ';
  if (text.size() < kLabelWidth) text.resize(kLabelWidth, ' ');
  return text;
}

// "client 3's read [120, 135] ms", for an acknowledged operation.
std::string who(const Operation& op) {
  const char* kind = "read";
  if (op.kind == OpKind::write) kind = "write";
  if (op.kind == OpKind::cas) kind = "cas";
  if (op.kind == OpKind::delete_key) kind = "delete";
  return "client " + std::to_string(op.client) + "'s " + kind + " [" +
         std::to_string(op.invoke_ms) + ", " + std::to_string(*op.response_ms) + "] ms";
}

// Why `stuck` cannot take effect on `value` (the caller knows it cannot).
std::string why_not(const Operation& stuck, const Value& value) {
  const std::string held = "the register holds " + format_value(value);
  if (stuck.kind == OpKind::read) {
    return "it returned " + format_value(stuck.observed) + " while " + held;
  }
  if (stuck.kind == OpKind::cas && stuck.cas_result == CasResult::succeeded) {
    return "it succeeded comparing against " + format_value(stuck.expected) + " while " + held;
  }
  if (stuck.kind == OpKind::cas) {
    return "its compare against " + format_value(stuck.expected) + " failed while " + held;
  }
  return "it cannot follow " + held;  // writes and deletes always can; kept for completeness
}

// The value `op` looked for: what a read returned, or what a cas compared against.
std::optional<Value> looked_for(const Operation& op) {
  if (op.kind == OpKind::read) return op.observed;
  if (op.kind == OpKind::cas) return op.expected;
  return std::nullopt;
}

// Whether `op`, if it took effect, left `value` (the search only holds operations that may
// have taken effect).
bool may_leave(const Operation& op, const Value& value) {
  if (op.kind == OpKind::delete_key) return !value;
  if (op.kind == OpKind::write) return value && op.written == *value;
  if (op.kind == OpKind::cas) {
    const bool may_succeed = op.outcome != Outcome::ok || op.cas_result == CasResult::succeeded;
    return may_succeed && value && op.written == *value;
  }
  return false;
}

// Whether `op`'s interval overlaps `stuck`'s. An unknown operation's interval ends when its
// client stopped waiting (it may take effect later still; those are counted, not listed).
bool overlaps(const Operation& op, const Operation& stuck) {
  if (op.invoke_ms > *stuck.response_ms) return false;
  if (!op.response_ms) return op.invoke_ms >= stuck.invoke_ms;
  return *op.response_ms >= stuck.invoke_ms;
}

bool listed(const std::vector<const Operation*>& list, const Operation* op) {
  return std::find(list.begin(), list.end(), op) != list.end();
}

std::string omitted_line(size_t concurrent, size_t earlier_unknown) {
  std::string line = "(+";
  if (concurrent > 0) line += std::to_string(concurrent) + " more concurrent operations";
  if (concurrent > 0 && earlier_unknown > 0) line += " and ";
  if (earlier_unknown > 0) {
    line += std::to_string(earlier_unknown) +
            " earlier operations of unknown outcome, which may take effect at any time";
  }
  return line + ", not shown)";
}

}  // namespace

std::string format_value(const Value& value) {
  if (!value) return "absent";
  std::string out = "\"";
  for (size_t i = 0; i < value->size() && i < kValueBytesShown; ++i) {
    const unsigned char byte = static_cast<unsigned char>((*value)[i]);
    if (byte == '"' || byte == '\\') {
      out += '\\';
      out += static_cast<char>(byte);
    } else if (byte < 0x20 || byte >= 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\x%02x", byte);
      out += escaped;
    } else {
      out += static_cast<char>(byte);
    }
  }
  out += '"';
  if (value->size() > kValueBytesShown) out += "...";
  return out;
}

std::string format_operation(const Operation& op) {
  std::string line = "client " + std::to_string(op.client) + " ";
  const std::string key = format_value(op.key);
  std::string result;
  switch (op.kind) {
    case OpKind::read:
      line += "read " + key;
      result = format_value(op.observed);
      break;
    case OpKind::write:
      line += "write " + key + " = " + format_value(op.written);
      result = "ok";
      break;
    case OpKind::cas:
      line += "cas " + key + " from " + format_value(op.expected) + " to " +
              format_value(op.written);
      result = op.cas_result == CasResult::succeeded ? "succeeded" : "failed compare";
      break;
    case OpKind::delete_key:
      line += "delete " + key;
      result = "ok";
      break;
  }
  if (op.outcome == Outcome::fail) result = "fail";
  if (op.outcome == Outcome::unknown) result = "unknown";
  line += " -> " + result + " [" + std::to_string(op.invoke_ms) + ", " +
          (op.response_ms ? std::to_string(*op.response_ms) : std::string("?")) + "] ms";
  return line;
}

ViolationReport describe_violation(const std::string& key, const StuckPoint& stuck,
                                   const std::vector<const Operation*>& key_operations,
                                   size_t max_slice_lines) {
  CONCLAVE_CHECK(stuck.stuck != nullptr && stuck.stuck->outcome == Outcome::ok,
                 "a violation names the acknowledged operation that got stuck");
  const Operation& op = *stuck.stuck;
  const std::optional<Value> wanted = looked_for(op);

  // Everything that may have left the value `op` looked for, nearest to `op` first.
  std::vector<const Operation*> writers;
  bool written_before_response = false;
  if (wanted) {
    for (const Operation* other : key_operations) {
      if (other == &op || !may_leave(*other, *wanted)) continue;
      writers.push_back(other);
      if (other->invoke_ms <= *op.response_ms) written_before_response = true;
    }
  }
  std::stable_sort(writers.begin(), writers.end(), [&](const Operation* a, const Operation* b) {
    return std::llabs(a->invoke_ms - op.invoke_ms) < std::llabs(b->invoke_ms - op.invoke_ms);
  });

  ViolationReport report;
  const size_t unknown_placed = stuck.placed_total - stuck.acknowledged_placed;
  report.explanation =
      "key " + format_value(key) + " is not linearizable: no order of its operations explains "
      "what the clients saw. The longest partial linearization found places " +
      std::to_string(stuck.acknowledged_placed) + " of " +
      std::to_string(stuck.acknowledged_total) + " acknowledged operations" +
      (unknown_placed > 0 ? " (and " + std::to_string(unknown_placed) + " of unknown outcome)"
                          : std::string()) +
      "; after it the register holds " + format_value(stuck.register_value) + ". Next, " +
      who(op) + " must take effect before its response, but " +
      (stuck.stuck_fits_value ? std::string("every order of the operations after it was "
                                            "already ruled out")
                              : why_not(op, stuck.register_value)) +
      ", and no other pending operation can be placed first to change that.";
  if (wanted && *wanted && writers.empty()) {
    report.explanation += " No operation that may have taken effect wrote " +
                          format_value(*wanted) + ".";
  } else if (wanted && *wanted && !written_before_response) {
    report.explanation += " Every operation that wrote " + format_value(*wanted) +
                          " was invoked after that response.";
  }

  // The lines each part gets: the stuck operation first, then the operations placed last,
  // what wrote the value `op` looked for, and the concurrent ones with what is left.
  const size_t max_lines = std::max<size_t>(max_slice_lines, 1);
  size_t room = max_lines - 1;
  const size_t writers_room = std::min<size_t>(2, room / 4);
  room -= writers_room;

  // The operation that last changed the register (if older), then the last ones placed.
  std::vector<PlacedOperation> placed;
  const size_t placed_room = room / 2;
  if (stuck.last_change_before && placed_room >= 2) placed.push_back(*stuck.last_change_before);
  const size_t last_shown = std::min(stuck.placed_last.size(), placed_room - placed.size());
  placed.insert(placed.end(), stuck.placed_last.end() - last_shown, stuck.placed_last.end());
  room -= placed.size();
  std::vector<const Operation*> shown;
  for (const PlacedOperation& p : placed) shown.push_back(p.op);

  std::erase_if(writers, [&](const Operation* writer) { return listed(shown, writer); });
  if (writers.size() > writers_room) writers.resize(writers_room);
  room += writers_room - writers.size();
  shown.insert(shown.end(), writers.begin(), writers.end());
  std::stable_sort(writers.begin(), writers.end(), [](const Operation* a, const Operation* b) {
    return a->invoke_ms < b->invoke_ms;
  });

  // Concurrent: acknowledged ones first, each group nearest to `op` first.
  std::vector<const Operation*> concurrent;
  size_t earlier_unknown = 0;
  for (int acknowledged = 1; acknowledged >= 0; --acknowledged) {
    std::vector<const Operation*> group;
    for (const Operation* other : key_operations) {
      if ((other->outcome == Outcome::ok) != (acknowledged == 1)) continue;
      if (other == &op || listed(shown, other)) continue;
      if (overlaps(*other, op)) {
        group.push_back(other);
      } else if (!acknowledged && other->invoke_ms <= *op.response_ms) {
        ++earlier_unknown;
      }
    }
    std::stable_sort(group.begin(), group.end(), [&](const Operation* a, const Operation* b) {
      return std::llabs(a->invoke_ms - op.invoke_ms) < std::llabs(b->invoke_ms - op.invoke_ms);
    });
    concurrent.insert(concurrent.end(), group.begin(), group.end());
  }
  const bool summary = earlier_unknown > 0 || concurrent.size() > room;
  const size_t concurrent_room = summary && room > 0 ? room - 1 : room;
  const size_t concurrent_hidden = concurrent.size() - std::min(concurrent.size(), concurrent_room);
  concurrent.resize(concurrent.size() - concurrent_hidden);
  std::stable_sort(concurrent.begin(), concurrent.end(),
                   [](const Operation* a, const Operation* b) {
                     return a->invoke_ms < b->invoke_ms;
                   });

  for (const Operation* writer : writers) {
    report.slice.push_back(label("wrote it") + format_operation(*writer));
  }
  for (const PlacedOperation& p : placed) {
    report.slice.push_back(label("placed #" + std::to_string(p.position)) +
                           format_operation(*p.op));
  }
  report.slice.push_back(label("STUCK") + format_operation(op));
  for (const Operation* other : concurrent) {
    report.slice.push_back(label("concurrent") + format_operation(*other));
  }
  if (summary && report.slice.size() < max_lines) {
    report.slice.push_back(label("...") + omitted_line(concurrent_hidden, earlier_unknown));
  }
  return report;
}

std::string describe_budget_exhausted(const std::string& key, uint64_t max_steps,
                                      size_t most_acknowledged_placed,
                                      size_t acknowledged_total) {
  return "key " + format_value(key) + " is inconclusive: the search used its budget of " +
         std::to_string(max_steps) + " steps (CheckConfig::max_steps_per_key) and placed at most " +
         std::to_string(most_acknowledged_placed) + " of " + std::to_string(acknowledged_total) +
         " acknowledged operations; it neither found a linearization nor ruled one out. Raise "
         "the budget or check a shorter history.";
}

}  // namespace conclave::check
