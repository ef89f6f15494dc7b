// Test support for the state machine: a Harness that applies commands as committed Raft
// entries with consecutive indexes (starting at 1), builders for every command, and readable
// one-line descriptions of outcomes, grants and deferred answers, so that tests can compare
// exact expected values and print something useful when they differ.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "state_machine/rows.h"
#include "state_machine/state_machine.h"
#include "wire/codec.h"

namespace Catch {
template <>
struct StringMaker<conclave::ErrorCode> {
  static std::string convert(conclave::ErrorCode code) { return conclave::error_code_name(code); }
};
template <>
struct StringMaker<conclave::wire::KvEntry> {
  static std::string convert(const conclave::wire::KvEntry& e) {
    return "KvEntry{" + e.key + "=" + e.value + " create=" + std::to_string(e.create_revision) +
           " mod=" + std::to_string(e.mod_revision) + " version=" + std::to_string(e.version) +
           "}";
  }
};
template <>
struct StringMaker<conclave::wire::LockHolder> {
  static std::string convert(const conclave::wire::LockHolder& h) {
    return "LockHolder{session=" + std::to_string(h.session) + " token=" +
           std::to_string(h.token) + " since=" + std::to_string(h.since_ms) +
           " delay=" + std::to_string(h.lock_delay_ms) + "}";
  }
};
template <>
struct StringMaker<conclave::wire::LockWaiter> {
  static std::string convert(const conclave::wire::LockWaiter& w) {
    return "LockWaiter{session=" + std::to_string(w.session) + " since=" +
           std::to_string(w.since_ms) + " delay=" + std::to_string(w.lock_delay_ms) +
           " client=" + std::to_string(w.client_id) + " seq=" + std::to_string(w.sequence) + "}";
  }
};
template <>
struct StringMaker<conclave::wire::SessionInfo> {
  static std::string convert(const conclave::wire::SessionInfo& s) {
    std::string locks;
    for (const std::string& lock : s.locks) locks += (locks.empty() ? "" : ",") + lock;
    return "SessionInfo{id=" + std::to_string(s.id) + " node=" + s.node +
           " ttl=" + std::to_string(s.ttl_ms) + " created=" + std::to_string(s.created_ms) +
           " renewed=" + std::to_string(s.renewed_ms) + " description=" + s.description +
           " locks=[" + locks + "]}";
  }
};
template <>
struct StringMaker<conclave::wire::LockInfo> {
  static std::string convert(const conclave::wire::LockInfo& l) {
    std::string text = "LockInfo{" + l.name + " limit=" + std::to_string(l.limit) + " holders=[";
    for (const auto& h : l.holders) {
      text += " (session=" + std::to_string(h.session) + " node=" + h.node +
              " token=" + std::to_string(h.token) + " since=" + std::to_string(h.since_ms) + ")";
    }
    text += " ] waiters=[";
    for (const auto& w : l.waiters) {
      text += " (session=" + std::to_string(w.session) + " node=" + w.node +
              " since=" + std::to_string(w.since_ms) + ")";
    }
    return text + " ] blocked_until=" + std::to_string(l.blocked_until_ms) + "}";
  }
};
}  // namespace Catch

namespace conclave::state::testing {

// ---- Command builders (every member initialized, so -Wextra stays quiet) ----

inline wire::PutCommand put_op(const std::string& key, const std::string& value) {
  return wire::PutCommand{key, value, "", 0};
}
inline wire::PutCommand fenced_put_op(const std::string& key, const std::string& value,
                                      const std::string& lock, uint64_t token) {
  return wire::PutCommand{key, value, lock, token};
}
inline wire::PutCommand cas_put_op(const std::string& key, const std::string& value,
                                   uint64_t mod_revision) {
  return wire::PutCommand{key, value, "", 0, true, mod_revision};
}
inline wire::DeleteCommand delete_op(const std::string& key, bool prefix = false) {
  return wire::DeleteCommand{key, prefix};
}
inline wire::GetCommand get_op(const std::string& key) { return wire::GetCommand{key}; }
inline wire::TxnCommand txn_op(std::vector<wire::TxnCompare> compares,
                               std::vector<wire::TxnOp> success,
                               std::vector<wire::TxnOp> failure = {}) {
  return wire::TxnCommand{wire::KvTxnRequest{std::move(compares), std::move(success),
                                             std::move(failure)}};
}
inline wire::SessionCreateCommand create_op(const std::string& node, uint64_t boot_id = 1,
                                            uint64_t ttl_ms = 0,
                                            const std::string& description = "") {
  return wire::SessionCreateCommand{node, boot_id, ttl_ms, description};
}
inline wire::SessionDestroyCommand destroy_op(uint64_t session) {
  return wire::SessionDestroyCommand{session};
}
inline wire::SessionRenewCommand renew_op(uint64_t session) {
  return wire::SessionRenewCommand{session};
}
inline wire::InvalidateNodeCommand invalidate_op(
    const std::string& node, uint64_t boot_id,
    wire::SessionEndReason reason = wire::SessionEndReason::node_failed) {
  return wire::InvalidateNodeCommand{node, boot_id, reason};
}
inline wire::LockAcquireCommand acquire_op(const std::string& name, uint64_t session,
                                           uint32_t limit = 1, bool wait = false,
                                           uint32_t lock_delay_ms = 0) {
  return wire::LockAcquireCommand{name, session, limit, wait, lock_delay_ms};
}
// A waiting acquire (queues when no slot is free).
inline wire::LockAcquireCommand wait_op(const std::string& name, uint64_t session,
                                        uint32_t limit = 1, uint32_t lock_delay_ms = 0) {
  return acquire_op(name, session, limit, /*wait=*/true, lock_delay_ms);
}
inline wire::LockReleaseCommand release_op(const std::string& name, uint64_t session,
                                          uint64_t token = 0) {
  return wire::LockReleaseCommand{name, session, token};
}
inline wire::LockCancelCommand cancel_op(const std::string& name, uint64_t session) {
  return wire::LockCancelCommand{name, session};
}
inline wire::TickCommand tick_op() { return wire::TickCommand{}; }

// ---- Descriptions ----

// One line per outcome: "ok", "<code>: <message>", or the body ("put revision=3",
// "granted L session=2 token=4", ...).
inline std::string describe(const Outcome& outcome) {
  if (outcome.code != ErrorCode::ok) {
    return std::string(error_code_name(outcome.code)) + ": " + outcome.message;
  }
  return std::visit(
      [&](const auto& body) -> std::string {
        using T = std::decay_t<decltype(body)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return outcome.message.empty() ? "ok" : "ok (" + outcome.message + ")";
        } else if constexpr (std::is_same_v<T, wire::KvPutResponse>) {
          return "put revision=" + std::to_string(body.revision);
        } else if constexpr (std::is_same_v<T, wire::KvDeleteResponse>) {
          return "deleted " + std::to_string(body.deleted) +
                 " revision=" + std::to_string(body.revision);
        } else if constexpr (std::is_same_v<T, wire::KvGetResponse>) {
          return "get found=" + std::to_string(body.found) + " value=" + body.value +
                 " create=" + std::to_string(body.create_revision) +
                 " mod=" + std::to_string(body.mod_revision);
        } else if constexpr (std::is_same_v<T, wire::SessionCreateResponse>) {
          return "session=" + std::to_string(body.session);
        } else if constexpr (std::is_same_v<T, wire::LockEvent>) {
          return std::string(wire::lock_event_kind_name(body.kind)) + " " + body.name +
                 " session=" + std::to_string(body.session) +
                 " token=" + std::to_string(body.token) +
                 (body.valid_until_ms != 0 ? " valid_until=" + std::to_string(body.valid_until_ms)
                                           : "") +
                 (body.message.empty() ? "" : " message=" + body.message);
        } else if constexpr (std::is_same_v<T, wire::LockCancelResponse>) {
          return "cancel granted=" + std::to_string(body.granted) +
                 " token=" + std::to_string(body.token);
        } else {
          return "unexpected body";
        }
      },
      outcome.body);
}

inline std::string describe(const LockGrant& grant) {
  return grant.lock + " session=" + std::to_string(grant.session) +
         " token=" + std::to_string(grant.token) + " client=" + std::to_string(grant.client_id) +
         " seq=" + std::to_string(grant.sequence);
}

inline std::string describe(const DeferredAnswer& answer) {
  return "client=" + std::to_string(answer.client_id) + " seq=" + std::to_string(answer.sequence) +
         " " + describe(answer.outcome);
}

inline std::vector<std::string> grants(const Applied& applied) {
  std::vector<std::string> out;
  for (const LockGrant& grant : applied.grants) out.push_back(describe(grant));
  return out;
}

inline std::vector<std::string> deferred(const Applied& applied) {
  std::vector<std::string> out;
  for (const DeferredAnswer& answer : applied.deferred_answers) out.push_back(describe(answer));
  return out;
}

// Everything apply() returned, on one line (for comparing two machines).
inline std::string describe(const Applied& applied) {
  std::ostringstream out;
  out << "#" << applied.index << (applied.command ? " cmd" : " no-cmd")
      << (applied.duplicate ? " duplicate" : "") << (applied.waiting ? " waiting" : "") << " => "
      << describe(applied.outcome);
  for (const LockGrant& grant : applied.grants) out << " | grant " << describe(grant);
  for (const DeferredAnswer& answer : applied.deferred_answers) {
    out << " | answer " << describe(answer);
  }
  for (uint64_t id : applied.ended_sessions) out << " | ended " << id;
  return out.str();
}

// The body of an outcome, REQUIRE-d to be of type T.
template <typename T>
const T& body_as(const Outcome& outcome) {
  INFO("outcome: " << describe(outcome));
  REQUIRE(outcome.code == ErrorCode::ok);
  REQUIRE(std::holds_alternative<T>(outcome.body));
  return std::get<T>(outcome.body);
}

// The token of a grant answer.
inline uint64_t token_of(const Outcome& outcome) {
  const auto& event = body_as<wire::LockEvent>(outcome);
  REQUIRE(event.kind == wire::LockEventKind::granted);
  return event.token;
}

// The persisted rows, as store/ would keep them: take_changes() folded into a map keyed by
// (space, key), honoring deletes.
class RowMap {
 public:
  void absorb(const store::StateChanges& changes) {
    for (const store::StateRowKey& key : changes.deletes) rows_.erase({key.space, key.key});
    for (const store::StateRow& row : changes.upserts) rows_[{row.space, row.key}] = row.value;
    if (changes.applied_index != 0) applied_index_ = changes.applied_index;
  }
  // Sorted by (space, key), like a store load.
  std::vector<store::StateRow> rows() const {
    std::vector<store::StateRow> out;
    for (const auto& [key, value] : rows_) {
      out.push_back(store::StateRow{key.first, key.second, value});
    }
    return out;
  }
  raft::Index applied_index() const { return applied_index_; }
  size_t size() const { return rows_.size(); }
  size_t count(RowSpace space) const {
    size_t n = 0;
    for (const auto& [key, value] : rows_) n += key.first == static_cast<uint32_t>(space);
    return n;
  }

 private:
  std::map<std::pair<uint32_t, std::string>, std::string> rows_;
  raft::Index applied_index_ = 0;
};

// Records that must exist (REQUIRE-d, so a test stops instead of crashing when they do not).
inline const wire::LockRecord& lock_of(const StateMachine& sm, const std::string& name) {
  const wire::LockRecord* lock = sm.lock(name);
  INFO("lock " << name);
  REQUIRE(lock != nullptr);
  return *lock;
}
inline const wire::SessionRecord& session_of(const StateMachine& sm, uint64_t id) {
  const wire::SessionRecord* session = sm.session(id);
  INFO("session " << id);
  REQUIRE(session != nullptr);
  return *session;
}
inline wire::KvEntry entry_of(const StateMachine& sm, const std::string& key) {
  std::optional<wire::KvEntry> entry = sm.get(key);
  INFO("key " << key);
  REQUIRE(entry.has_value());
  return *entry;
}

// ---- The harness ----

// Applies commands to one StateMachine as committed entries at indexes 1, 2, 3, ... Every
// command is stamped with `now_ms` (tests move it forward, or back to show a lagging leader).
class Harness {
 public:
  StateMachine sm;
  int64_t now_ms = 10'000;
  raft::Term term = 1;
  // When set, the rows changed by every apply are folded into it (as store/ would persist them).
  RowMap* record_rows = nullptr;

  // Restores sm from rows; the next entry is then applied_index + 1.
  Status restore(const std::vector<store::StateRow>& rows, raft::Index applied_index) {
    Status status = sm.restore(rows, applied_index);
    if (status.ok()) next_index_ = applied_index + 1;
    return status;
  }

  raft::Index next_index() const { return next_index_; }
  raft::Index last_index() const { return next_index_ - 1; }

  // An entry with these bytes as its data, at the next index.
  Applied apply_data(std::string data) {
    const raft::Entry entry{term, next_index_, std::move(data)};
    ++next_index_;
    Applied applied = sm.apply(entry);
    if (record_rows != nullptr) record_rows->absorb(sm.take_changes());
    REQUIRE(applied.index == entry.index);
    REQUIRE(sm.applied_index() == entry.index);
    return applied;
  }
  Applied apply(const wire::Command& command) {
    return apply_data(wire::encode_command(command));
  }
  // A leader's own command (no client): never deduplicated.
  Applied leader(wire::CommandOp op) {
    return apply(wire::Command{now_ms, 0, 0, 0, std::move(op)});
  }
  // A client's request (exactly-once by (client_id, sequence)).
  Applied client(uint64_t client_id, uint64_t sequence, wire::CommandOp op,
                 uint64_t ack_below = 0) {
    return apply(wire::Command{now_ms, client_id, sequence, ack_below, std::move(op)});
  }
  // Moves the clock to `stamp_ms` with a TickCommand.
  Applied tick_at(int64_t stamp_ms) {
    now_ms = stamp_ms;
    return leader(tick_op());
  }

  // Shortcuts that REQUIRE success.
  uint64_t put(const std::string& key, const std::string& value) {
    Applied applied = leader(put_op(key, value));
    return body_as<wire::KvPutResponse>(applied.outcome).revision;
  }
  uint64_t create_session(const std::string& node, uint64_t boot_id = 1, uint64_t ttl_ms = 0,
                          const std::string& description = "") {
    Applied applied = leader(create_op(node, boot_id, ttl_ms, description));
    const uint64_t id = body_as<wire::SessionCreateResponse>(applied.outcome).session;
    REQUIRE(id == applied.index);
    return id;
  }
  // A try-acquire that must be granted; returns the token.
  uint64_t lock(const std::string& name, uint64_t session, uint32_t limit = 1,
                uint32_t lock_delay_ms = 0) {
    Applied applied = leader(acquire_op(name, session, limit, false, lock_delay_ms));
    return token_of(applied.outcome);
  }

 private:
  raft::Index next_index_ = 1;
};

}  // namespace conclave::state::testing
