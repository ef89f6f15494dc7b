#include "sim/lock_clients.h"

namespace conclave::sim {
namespace {

struct LockKind {
  const char* name;
  uint32_t limit;
};
constexpr LockKind kLocks[] = {{"lock-a", 1}, {"lock-b", 1}, {"semaphore", 2}};

}  // namespace

LockClients::LockClients(int count, LockClientsHost host, Prng& prng)
    : host_(std::move(host)), prng_(prng) {
  for (int i = 0; i < count; ++i) {
    Program program;
    program.id = i;
    programs_.push_back(program);
  }
}

void LockClients::send(Program& program, wire::ClientRequestBody body, int64_t now_ms) {
  (void)now_ms;
  wire::ClientRequest request;
  request.request_id = ++program.request_id;
  request.timeout_ms = 2000;
  request.body = std::move(body);
  host_.send(program.machine, program.connection, request);
}

void LockClients::close(Program& program, int64_t next_action_ms) {
  if (program.phase != Phase::idle && host_.alive(program.machine)) {
    host_.disconnect(program.machine, program.connection);  // its session ends at once
  }
  program.phase = Phase::idle;
  program.using_slot = false;
  program.paused = false;
  program.next_action_ms = next_action_ms;
}

void LockClients::start_round(Program& program, int64_t now_ms) {
  const int machine = static_cast<int>(prng_.below(static_cast<uint64_t>(host_.machine_count)));
  if (!host_.alive(machine)) {
    program.next_action_ms = now_ms + 50;
    return;
  }
  const LockKind& kind = kLocks[prng_.below(std::size(kLocks))];
  program.machine = machine;
  program.lock = kind.name;
  program.limit = kind.limit;
  program.generation += 1;
  program.connection = kFirstConnection + static_cast<uint64_t>(program.id) * 100000 +
                       program.generation;
  program.phase = Phase::creating;
  send(program, wire::SessionCreateRequest{0, "sim program " + std::to_string(program.id), true},
       now_ms);
}

void LockClients::stop_using(Program& program, const std::string& why, int64_t now_ms) {
  if (!program.using_slot) return;
  program.using_slot = false;
  host_.narrate("program " + std::to_string(program.id) + " stops using " + program.lock +
                " (token " + std::to_string(program.token) + "): " + why + " at " +
                std::to_string(now_ms));
}

void LockClients::write(Program& program, int64_t now_ms, bool stale) {
  program.next_write_ms = now_ms + static_cast<int64_t>(prng_.between(20, 200));
  // One fencing counter protects a resource behind a mutex; the holders of a semaphore's
  // slots legitimately write side by side with different tokens.
  if (program.limit != 1) return;
  uint64_t& highest = resource_token_[program.lock];
  if (program.token < highest) {
    // Fencing at work: a newer holder has written; the old token is refused.
    ++stats_.stale_writes_refused;
    host_.narrate("resource " + program.lock + " refuses token " +
                  std::to_string(program.token) + " (it has seen " + std::to_string(highest) +
                  ")" + (stale ? " from a paused program" : ""));
    return;
  }
  highest = program.token;
  ++stats_.fenced_writes;
}

void LockClients::granted(Program& program, const wire::LockEvent& event, int64_t now_ms) {
  // Mutual exclusion as the holders see it: fewer than `limit` others still use the lock.
  int others = 0;
  std::string users;
  for (const Program& other : programs_) {
    if (&other == &program || other.lock != program.lock || !other.using_slot || other.paused ||
        now_ms >= other.valid_until_ms) {
      continue;
    }
    ++others;
    users += " program " + std::to_string(other.id) + " (token " + std::to_string(other.token) +
             ", valid until " + std::to_string(other.valid_until_ms) + ")";
  }
  if (others >= static_cast<int>(program.limit)) {
    host_.violation("program " + std::to_string(program.id) + " was granted " + program.lock +
                    " (token " + std::to_string(event.token) + ") at " +
                    std::to_string(now_ms) + " while" + users + " still use it");
  }
  ++stats_.grants;
  program.phase = Phase::holding;
  program.token = event.token;
  program.using_slot = true;
  program.valid_until_ms = event.valid_until_ms;
  program.hold_until_ms = now_ms + static_cast<int64_t>(prng_.between(50, 2500));
  program.next_write_ms = now_ms;
  host_.narrate("program " + std::to_string(program.id) + " holds " + program.lock + " (token " +
                std::to_string(event.token) + ", valid until " +
                std::to_string(event.valid_until_ms) + ")");
}

bool LockClients::on_reply(uint64_t connection, const wire::ClientResponse& response,
                           int64_t now_ms) {
  if (connection < kFirstConnection) return false;
  for (Program& program : programs_) {
    if (program.connection != connection || program.phase == Phase::idle) continue;
    const bool ok = response.error_code == ErrorCode::ok;
    switch (program.phase) {
      case Phase::creating:
        if (const auto* created = std::get_if<wire::SessionCreateResponse>(&response.body);
            ok && created != nullptr) {
          program.session = created->session;
          program.phase = Phase::acquiring;
          program.acquire_request = program.request_id + 1;
          send(program,
               wire::LockAcquireRequest{program.lock, program.session, program.limit,
                                        static_cast<uint32_t>(prng_.between(100, 3000)), -1},
               now_ms);
        } else {
          close(program, now_ms + 100);
        }
        break;
      case Phase::acquiring:
        if (response.request_id != program.acquire_request) break;
        if (const auto* event = std::get_if<wire::LockEvent>(&response.body);
            ok && event != nullptr && event->kind == wire::LockEventKind::granted) {
          granted(program, *event, now_ms);
        } else {
          close(program, now_ms + static_cast<int64_t>(prng_.between(10, 300)));
        }
        break;
      case Phase::holding:
      case Phase::releasing:
        if (response.request_id == program.acquire_request) {
          if (program.paused) break;  // a paused program reads nothing
          const auto* event = std::get_if<wire::LockEvent>(&response.body);
          if (event == nullptr) break;
          switch (event->kind) {
            case wire::LockEventKind::renewed:
            case wire::LockEventKind::jeopardy:
            case wire::LockEventKind::granted:
              program.valid_until_ms = event->valid_until_ms;
              break;
            case wire::LockEventKind::lost:
              ++stats_.lost;
              stop_using(program, "lost: " + event->message, now_ms);
              close(program, now_ms + 100);
              break;
            case wire::LockEventKind::released:
              stop_using(program, "released", now_ms);
              break;
          }
        } else if (program.phase == Phase::releasing) {
          if (ok) ++stats_.releases;
          close(program, now_ms + static_cast<int64_t>(prng_.between(10, 300)));
        }
        break;
      case Phase::idle:
        break;
    }
    return true;
  }
  return true;  // an earlier connection of one of ours: nobody listens any more
}

void LockClients::machine_crashed(int machine, int64_t now_ms) {
  for (Program& program : programs_) {
    if (program.machine != machine || program.phase == Phase::idle) continue;
    // `conclave lock` treats a broken agent connection as a lost lock at once.
    stop_using(program, "its agent's connection broke", now_ms);
    program.phase = Phase::idle;
    program.using_slot = false;
    program.paused = false;
    program.next_action_ms = now_ms + 200;
  }
}

void LockClients::step(int64_t now_ms, bool may_start) {
  for (Program& program : programs_) {
    switch (program.phase) {
      case Phase::idle:
        if (may_start && now_ms >= program.next_action_ms) start_round(program, now_ms);
        break;
      case Phase::holding:
        if (program.paused) {
          if (now_ms < program.pause_until_ms) break;
          // Wakes up and writes with its old token, without checking anything first.
          program.paused = false;
          write(program, now_ms, /*stale=*/true);
          if (now_ms >= program.valid_until_ms) {
            ++stats_.lost;
            stop_using(program, "woke up past its validity", now_ms);
            close(program, now_ms + 100);
          }
          break;
        }
        if (now_ms >= program.valid_until_ms) {
          ++stats_.lost;
          stop_using(program, "its validity ran out", now_ms);
          close(program, now_ms + 100);
          break;
        }
        if (prng_.chance(0.0005)) {
          ++stats_.pauses;
          program.paused = true;
          program.pause_until_ms = now_ms + static_cast<int64_t>(prng_.between(500, 3000));
          host_.narrate("program " + std::to_string(program.id) + " pauses (GC) holding " +
                        program.lock);
          break;
        }
        if (now_ms >= program.next_write_ms) write(program, now_ms, false);
        if (now_ms >= program.hold_until_ms) {
          stop_using(program, "releasing", now_ms);
          program.phase = Phase::releasing;
          send(program, wire::LockReleaseRequest{program.lock, program.session}, now_ms);
        }
        break;
      case Phase::creating:
      case Phase::acquiring:
      case Phase::releasing:
        break;
    }
  }
}

}  // namespace conclave::sim
