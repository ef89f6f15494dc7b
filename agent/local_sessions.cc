#include "agent/local_sessions.h"

#include <algorithm>
#include <type_traits>

#include "agent/lock_timing.h"

namespace conclave::agent {
namespace {

// Answers for requests a client waits on come within its own timeout; this is the default.
constexpr int64_t kDefaultRequestTimeoutMs = 5000;
// Internal cleanups (ending a session whose connection closed, releasing a lost lock) are
// retried for this long; after that the cluster ends the session when it sees this agent fail.
constexpr int64_t kCleanupRetryMs = 5 * 60 * 1000;
// A renewed event at most this often per hold (the validity moves with every keepalive).
constexpr int64_t kRenewEveryMs = 100;

int64_t timeout_of(const wire::ClientRequest& request) {
  return request.timeout_ms == 0 ? kDefaultRequestTimeoutMs
                                 : static_cast<int64_t>(request.timeout_ms);
}

}  // namespace

bool LocalSessions::handles(const wire::ClientRequestBody& body) {
  return std::visit(
      [](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        return std::is_same_v<T, wire::SessionCreateRequest> ||
               std::is_same_v<T, wire::SessionDestroyRequest> ||
               std::is_same_v<T, wire::SessionRenewRequest> ||
               std::is_same_v<T, wire::SessionListRequest> ||
               std::is_same_v<T, wire::LockAcquireRequest> ||
               std::is_same_v<T, wire::LockReleaseRequest> ||
               std::is_same_v<T, wire::LockListRequest> ||
               std::is_same_v<T, wire::SessionKeepaliveRequest> ||
               std::is_same_v<T, wire::LockCancelRequest>;
      },
      body);
}

void LocalSessions::reply(uint64_t connection_id, uint64_t request_id, ErrorCode code,
                          std::string message, wire::ClientResponseBody body, bool more) {
  if (connection_id == 0) return;
  replies_.push_back(LocalClientReply{
      connection_id,
      wire::ClientResponse{request_id, code, std::move(message), more, std::move(body)}});
}

uint64_t LocalSessions::submit(Op op, wire::ClientRequestBody body, int64_t deadline_ms,
                               int64_t now_ms, Requester& requester) {
  const uint64_t token = next_token_++;
  op.sent_at_ms = now_ms;
  ops_[token] = std::move(op);
  wire::ClientRequest request;
  request.request_id = token;
  request.timeout_ms = static_cast<uint32_t>(std::max<int64_t>(0, deadline_ms - now_ms));
  request.body = std::move(body);
  requester.submit(ReplyTo{0, token}, std::move(request), deadline_ms, now_ms);
  return token;
}

void LocalSessions::on_request(uint64_t connection_id, const wire::ClientRequest& request,
                               int64_t now_ms, Requester& requester) {
  const uint64_t request_id = request.request_id;
  const int64_t deadline_ms = now_ms + timeout_of(request);
  Op op;
  op.connection_id = connection_id;
  op.request_id = request_id;
  std::visit(
      [&](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, wire::SessionCreateRequest>) {
          op.kind = OpKind::create_session;
          op.bind = value.bind_to_connection;
          op.ttl_ms = static_cast<int64_t>(value.ttl_ms);
          if (!value.bind_to_connection && value.ttl_ms == 0) {
            return reply(connection_id, request_id, ErrorCode::invalid_argument,
                         "a session not bound to its connection needs a TTL (-ttl), or it "
                         "would outlive every client that could release it");
          }
          if (value.bind_to_connection) {
            // Bounded per connection (creates in flight count too): one client cannot take
            // every session the cluster allows this agent.
            size_t bound = 0;
            for (const auto& [id, session] : sessions_) bound += session.connection_id == connection_id;
            for (const auto& [token, pending] : ops_) {
              bound += pending.kind == OpKind::create_session && pending.bind &&
                       pending.connection_id == connection_id;
            }
            if (bound >= kMaxSessionsPerConnection) {
              return reply(connection_id, request_id, ErrorCode::too_large,
                           "this connection already has " +
                               std::to_string(kMaxSessionsPerConnection) +
                               " sessions; end some (or use another connection)");
            }
          }
          submit(op, value, deadline_ms, now_ms, requester);
        } else if constexpr (std::is_same_v<T, wire::SessionDestroyRequest> ||
                             std::is_same_v<T, wire::SessionRenewRequest>) {
          op.kind = std::is_same_v<T, wire::SessionDestroyRequest> ? OpKind::destroy_session
                                                                   : OpKind::renew_session;
          op.session = value.session;
          submit(op, value, deadline_ms, now_ms, requester);
        } else if constexpr (std::is_same_v<T, wire::SessionListRequest> ||
                             std::is_same_v<T, wire::LockListRequest>) {
          op.kind = OpKind::list;
          submit(op, value, deadline_ms, now_ms, requester);
        } else if constexpr (std::is_same_v<T, wire::LockAcquireRequest>) {
          if (sessions_.count(value.session) == 0) {
            return reply(connection_id, request_id, ErrorCode::not_found,
                         "session " + std::to_string(value.session) +
                             " is not a session of this agent: create one first (a session is "
                             "used only through the agent that created it)");
          }
          if (auto held = holds_.find({value.session, value.name}); held != holds_.end()) {
            return reply(connection_id, request_id, ErrorCode::invalid_argument,
                         "session " + std::to_string(value.session) + " already holds lock '" +
                             value.name + "' (token " + std::to_string(held->second.token) + ")");
          }
          op.kind = OpKind::acquire;
          op.session = value.session;
          op.lock = value.name;
          op.lock_delay_ms =
              value.lock_delay_ms < 0 ? kDefaultLockDelayMs : value.lock_delay_ms;
          if (value.wait_ms > 0) op.wait_until_ms = now_ms + value.wait_ms;
          submit(op, value, deadline_ms + value.wait_ms, now_ms, requester);
        } else if constexpr (std::is_same_v<T, wire::LockReleaseRequest>) {
          op.kind = OpKind::release;
          op.session = value.session;
          op.lock = value.name;
          // Released as the hold this agent knows, by its token: if this request is applied
          // late (the client timed out and took the lock again), it cannot end the newer hold.
          wire::LockReleaseRequest release = value;
          if (auto held = holds_.find({value.session, value.name});
              held != holds_.end() && release.token == 0) {
            release.token = held->second.token;
          }
          submit(op, release, deadline_ms, now_ms, requester);
        } else {
          reply(connection_id, request_id, ErrorCode::invalid_argument,
                "keepalives and wait cancellations are sent by agents, not by clients");
        }
      },
      request.body);
}

void LocalSessions::release_in_background(uint64_t session, const std::string& lock,
                                          uint64_t token, int64_t now_ms, Requester& requester) {
  Op cleanup;
  cleanup.kind = OpKind::cleanup_release;
  cleanup.session = session;
  cleanup.lock = lock;
  cleanup.token = token;
  cleanup.give_up_ms = now_ms + kCleanupRetryMs;
  submit(cleanup, wire::LockReleaseRequest{lock, session, token},
         now_ms + kDefaultRequestTimeoutMs, now_ms, requester);
}

int64_t LocalSessions::valid_until(const HoldKey& key, const Hold& hold) const {
  const int64_t by_contact = lock_valid_until_ms(confirmed_contact_ms_, hold.lock_delay_ms);
  auto session = sessions_.find(key.first);
  if (session == sessions_.end() || session->second.ttl_ms == 0) return by_contact;
  return std::min(by_contact, ttl_lock_valid_until_ms(session->second.renewed_send_ms,
                                                      session->second.ttl_ms,
                                                      hold.lock_delay_ms));
}

bool LocalSessions::ttl_bound(const HoldKey& key, const Hold& hold) const {
  return valid_until(key, hold) < lock_valid_until_ms(confirmed_contact_ms_, hold.lock_delay_ms);
}

void LocalSessions::event(const HoldKey& key, Hold& hold, wire::LockEventKind kind,
                          std::string message, bool more) {
  wire::LockEvent event;
  event.name = key.second;
  event.session = key.first;
  event.token = hold.token;
  event.kind = kind;
  event.valid_until_ms = valid_until(key, hold);
  event.message = std::move(message);
  hold.valid_until_sent_ms = event.valid_until_ms;
  reply(hold.connection_id, hold.request_id, ErrorCode::ok, "", event, more);
}

void LocalSessions::grant(const Op& acquire, uint64_t token, int64_t now_ms) {
  const HoldKey key{acquire.session, acquire.lock};
  Hold hold;
  hold.connection_id = acquire.connection_id;
  hold.request_id = acquire.request_id;
  hold.token = token;
  hold.lock_delay_ms = acquire.lock_delay_ms;
  Hold& stored = holds_[key] = hold;
  ++counters_.locks_granted;
  if (now_ms >= valid_until(key, stored)) {
    // Granted after a long silence: already past its validity. Never hand it out.
    event(key, stored, wire::LockEventKind::lost,
          "granted, but this agent has had no confirmed contact with the servers since; "
          "consider it lost",
          false);
    holds_.erase(key);
    ++counters_.locks_lost;
    return;
  }
  event(key, stored, wire::LockEventKind::granted, "", true);
}

void LocalSessions::lose(const HoldKey& key, const std::string& why, int64_t now_ms,
                         Requester& requester, bool release_in_cluster) {
  auto found = holds_.find(key);
  if (found == holds_.end()) return;
  event(key, found->second, wire::LockEventKind::lost, why, false);
  ++counters_.locks_lost;
  const uint64_t token = found->second.token;
  holds_.erase(found);
  if (release_in_cluster && sessions_.count(key.first) != 0) {
    // The holder stopped using it; give it back once the cluster is reachable again.
    release_in_background(key.first, key.second, token, now_ms, requester);
  }
}

void LocalSessions::on_contact_confirmed(int64_t sent_at_ms) {
  confirmed_contact_ms_ = std::max(confirmed_contact_ms_, sent_at_ms);
}

void LocalSessions::on_answer(const Requester::Answer& answer, int64_t now_ms,
                              Requester& requester) {
  auto found = ops_.find(answer.reply_to.request_id);
  if (found == ops_.end()) return;
  Op op = std::move(found->second);
  ops_.erase(found);
  const wire::ClientResponse& response = answer.response;
  const bool ok = response.error_code == ErrorCode::ok;
  switch (op.kind) {
    case OpKind::create_session: {
      if (!ok) {
        return reply(op.connection_id, op.request_id, response.error_code,
                     response.error_message);
      }
      const auto* created = std::get_if<wire::SessionCreateResponse>(&response.body);
      if (created == nullptr) return;
      if (op.bind && op.connection_id == 0) {
        // Its connection closed while the session was being created: end it now.
        Op cleanup;
        cleanup.kind = OpKind::cleanup_destroy;
        cleanup.session = created->session;
        cleanup.give_up_ms = now_ms + kCleanupRetryMs;
        submit(cleanup, wire::SessionDestroyRequest{created->session},
               now_ms + kDefaultRequestTimeoutMs, now_ms, requester);
        return;
      }
      sessions_[created->session] =
          LocalSession{op.bind ? op.connection_id : 0, now_ms, op.ttl_ms, answer.sent_at_ms};
      return reply(op.connection_id, op.request_id, ErrorCode::ok, "", *created);
    }
    case OpKind::destroy_session:
      if (ok || response.error_code == ErrorCode::not_found) {
        for (auto it = holds_.begin(); it != holds_.end();) {
          if (it->first.first == op.session) {
            event(it->first, it->second, wire::LockEventKind::released, "its session ended",
                  false);
            it = holds_.erase(it);
          } else {
            ++it;
          }
        }
        sessions_.erase(op.session);
      }
      return reply(op.connection_id, op.request_id, response.error_code,
                   response.error_message);
    case OpKind::renew_session:
      if (ok && answer.confirmed) {
        if (auto session = sessions_.find(op.session); session != sessions_.end()) {
          session->second.renewed_send_ms =
              std::max(session->second.renewed_send_ms, answer.sent_at_ms);
        }
      }
      return reply(op.connection_id, op.request_id, response.error_code, response.error_message,
                   response.body);
    case OpKind::list:
      return reply(op.connection_id, op.request_id, response.error_code, response.error_message,
                   response.body);
    case OpKind::acquire: {
      if (op.cancel_token != 0) {
        // A cancel is on its way; whichever answer arrives first settles it.
        if (auto cancel = ops_.find(op.cancel_token); cancel != ops_.end()) {
          cancel->second.acquire_token = 0;
        }
      }
      if (op.client_answered) {
        // The client was told "timed out" already: a late grant is given back.
        if (const auto* event = std::get_if<wire::LockEvent>(&response.body); ok && event) {
          release_in_background(op.session, op.lock, event->token, now_ms, requester);
        }
        return;
      }
      const auto* event = std::get_if<wire::LockEvent>(&response.body);
      if (!ok || event == nullptr) {
        return reply(op.connection_id, op.request_id, response.error_code,
                     response.error_message);
      }
      return grant(op, event->token, now_ms);
    }
    case OpKind::cancel_wait: {
      auto acquire = ops_.find(op.acquire_token);
      if (acquire == ops_.end()) return;  // the acquire was answered first
      Op& waiting = acquire->second;
      const auto* cancel = std::get_if<wire::LockCancelResponse>(&response.body);
      if (ok && cancel != nullptr && cancel->granted) {
        // Granted while we gave up: the grant stands.
        requester.abandon(ReplyTo{0, op.acquire_token});
        Op granted = waiting;
        ops_.erase(acquire);
        return grant(granted, cancel->token, now_ms);
      }
      reply(waiting.connection_id, waiting.request_id, ErrorCode::timed_out,
            "waited " + std::to_string(waiting.wait_until_ms - waiting.sent_at_ms) +
                " ms for lock '" + waiting.lock + "' without getting it" +
                (ok ? std::string()
                    : "; the cancellation did not reach the servers, so a late grant will be "
                      "released"));
      if (ok) {
        requester.abandon(ReplyTo{0, op.acquire_token});
        ops_.erase(acquire);
      } else {
        waiting.client_answered = true;  // keep waiting for its answer, to give a grant back
      }
      return;
    }
    case OpKind::release:
      if (ok) {
        auto held = holds_.find({op.session, op.lock});
        if (held != holds_.end()) {
          event(held->first, held->second, wire::LockEventKind::released, "", false);
          holds_.erase(held);
        }
      }
      return reply(op.connection_id, op.request_id, response.error_code,
                   response.error_message);
    case OpKind::keepalive: {
      const auto* alive = std::get_if<wire::SessionKeepaliveResponse>(&response.body);
      if (!ok || alive == nullptr) return;
      const std::set<uint64_t> live(alive->sessions.begin(), alive->sessions.end());
      std::vector<uint64_t> ended;
      for (const auto& [id, session] : sessions_) {
        // Only sessions known before the keepalive was sent can be judged by its answer.
        if (session.known_since_ms < op.sent_at_ms && live.count(id) == 0) ended.push_back(id);
      }
      for (uint64_t id : ended) {
        ++counters_.sessions_ended_by_cluster;
        std::vector<HoldKey> keys;
        for (const auto& [key, hold] : holds_) {
          if (key.first == id) keys.push_back(key);
        }
        for (const HoldKey& key : keys) {
          lose(key,
               "the cluster ended session " + std::to_string(id) +
                   " (its agent was seen failed or restarted, or its TTL expired)",
               now_ms, requester, false);
        }
        sessions_.erase(id);
      }
      return;
    }
    case OpKind::cleanup_release:
    case OpKind::cleanup_destroy: {
      const bool done = ok || response.error_code == ErrorCode::not_found ||
                        response.error_code == ErrorCode::invalid_argument;
      if (op.kind == OpKind::cleanup_destroy && done) sessions_.erase(op.session);
      if (done || now_ms >= op.give_up_ms) return;
      // Not reachable yet: try again (the Requester already re-sent it until its deadline).
      wire::ClientRequestBody body =
          op.kind == OpKind::cleanup_release
              ? wire::ClientRequestBody(wire::LockReleaseRequest{op.lock, op.session, op.token})
              : wire::ClientRequestBody(wire::SessionDestroyRequest{op.session});
      submit(op, std::move(body), now_ms + kDefaultRequestTimeoutMs, now_ms, requester);
      return;
    }
  }
}

void LocalSessions::connection_closed(uint64_t connection_id, int64_t now_ms,
                                      Requester& requester) {
  // Its holders exited: end the sessions bound to it at once, with no lock-delay.
  std::vector<uint64_t> bound;
  for (const auto& [id, session] : sessions_) {
    if (session.connection_id == connection_id) bound.push_back(id);
  }
  for (auto it = holds_.begin(); it != holds_.end();) {
    it = it->second.connection_id == connection_id ? holds_.erase(it) : std::next(it);
  }
  for (uint64_t id : bound) {
    sessions_[id].connection_id = 0;
    Op cleanup;
    cleanup.kind = OpKind::cleanup_destroy;
    cleanup.session = id;
    cleanup.give_up_ms = now_ms + kCleanupRetryMs;
    submit(cleanup, wire::SessionDestroyRequest{id}, now_ms + kDefaultRequestTimeoutMs, now_ms,
           requester);
  }
  // Its pending operations have no one to answer; a session being created is ended on arrival.
  for (auto& [token, op] : ops_) {
    if (op.connection_id != connection_id) continue;
    op.connection_id = 0;
    op.client_answered = op.kind == OpKind::acquire;  // a late grant is given back
  }
}

void LocalSessions::tick(int64_t now_ms, Requester& requester) {
  if (!sessions_.empty() && now_ms >= next_keepalive_ms_) {
    next_keepalive_ms_ = now_ms + kKeepaliveIntervalMs;
    Op keepalive;
    keepalive.kind = OpKind::keepalive;
    ++counters_.keepalives_sent;
    submit(keepalive, wire::SessionKeepaliveRequest{}, now_ms + 3 * kKeepaliveIntervalMs,
           now_ms, requester);
  }
  // Waits that ran out: cancel them in the cluster.
  std::vector<uint64_t> expired_waits;
  for (const auto& [token, op] : ops_) {
    if (op.kind == OpKind::acquire && op.wait_until_ms >= 0 && now_ms >= op.wait_until_ms &&
        op.cancel_token == 0 && !op.client_answered) {
      expired_waits.push_back(token);
    }
  }
  for (uint64_t token : expired_waits) {
    Op& acquire = ops_.at(token);
    Op cancel;
    cancel.kind = OpKind::cancel_wait;
    cancel.acquire_token = token;
    const std::string lock = acquire.lock;
    const uint64_t session = acquire.session;
    const uint64_t cancel_token =
        submit(cancel, wire::LockCancelRequest{lock, session}, now_ms + kDefaultRequestTimeoutMs,
               now_ms, requester);
    ops_.at(token).cancel_token = cancel_token;
  }
  // Every held lock: lost when its validity runs out, jeopardy before, renewed as it moves.
  std::vector<HoldKey> lost;
  for (auto& [key, hold] : holds_) {
    const int64_t until = valid_until(key, hold);
    if (now_ms >= until) {
      lost.push_back(key);
    } else if (now_ms - confirmed_contact_ms_ >= kJeopardyAfterMs) {
      if (!hold.jeopardy) {
        hold.jeopardy = true;
        ++counters_.jeopardy_events;
        event(key, hold, wire::LockEventKind::jeopardy,
              "no confirmed contact with the servers for " +
                  std::to_string(now_ms - confirmed_contact_ms_) +
                  " ms; the lock is lost at valid_until_ms unless contact returns",
              true);
      }
    } else if (hold.jeopardy || until - hold.valid_until_sent_ms >= kRenewEveryMs) {
      hold.jeopardy = false;
      event(key, hold, wire::LockEventKind::renewed, "", true);
    }
  }
  for (const HoldKey& key : lost) {
    const bool by_ttl = ttl_bound(key, holds_.at(key));
    lose(key,
         by_ttl ? "its TTL session was not renewed in time: the cluster may end the session "
                  "and grant this lock to another holder soon"
                : "no confirmed contact with the servers since " +
                      std::to_string(now_ms - confirmed_contact_ms_) +
                      " ms ago: the cluster may grant this lock to another holder soon",
         now_ms, requester, true);
  }
}

}  // namespace conclave::agent
