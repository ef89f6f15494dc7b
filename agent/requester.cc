#include "agent/requester.h"

#include <algorithm>
#include <type_traits>

namespace conclave::agent {

bool is_write(const wire::ClientRequestBody& body) {
  return std::visit(
      [](const auto& value) {
        using T = std::decay_t<decltype(value)>;
        return std::is_same_v<T, wire::KvPutRequest> || std::is_same_v<T, wire::KvDeleteRequest> ||
               std::is_same_v<T, wire::KvTxnRequest> ||
               std::is_same_v<T, wire::SessionCreateRequest> ||
               std::is_same_v<T, wire::SessionDestroyRequest> ||
               std::is_same_v<T, wire::SessionRenewRequest> ||
               std::is_same_v<T, wire::LockAcquireRequest> ||
               std::is_same_v<T, wire::LockReleaseRequest> ||
               std::is_same_v<T, wire::LockCancelRequest>;
      },
      body);
}

Requester::Requester(RequesterOptions options) : options_(options) {}

void Requester::submit(ReplyTo reply_to, wire::ClientRequest request, int64_t deadline_ms,
                       int64_t now_ms) {
  if (outstanding_.size() >= options_.max_outstanding || outstanding_.count(reply_to) != 0) {
    wire::ClientResponse refused;
    refused.request_id = reply_to.request_id;
    refused.error_code = ErrorCode::unavailable;
    refused.error_message =
        outstanding_.count(reply_to) != 0
            ? "request id " + std::to_string(reply_to.request_id) +
                  " is already in flight on this connection; use a new id"
            : "this agent has " + std::to_string(outstanding_.size()) +
                  " requests in flight (its limit); retry shortly";
    answers_.push_back(Answer{reply_to, std::move(refused), 0, false});
    return;
  }
  Outstanding item;
  item.reply_to = reply_to;
  item.sequence = is_write(request.body) ? next_sequence_++ : 0;
  item.request = std::move(request);
  item.deadline_ms = deadline_ms;
  auto [it, inserted] = outstanding_.emplace(reply_to, std::move(item));
  send(it->second, now_ms);
}

void Requester::abandon(const ReplyTo& reply_to) {
  auto found = outstanding_.find(reply_to);
  if (found == outstanding_.end()) return;
  std::erase_if(by_forward_id_, [&](const auto& entry) { return entry.second.reply_to == reply_to; });
  outstanding_.erase(found);
}

void Requester::abandon_connection(uint64_t connection_id) {
  std::vector<ReplyTo> gone;
  for (const auto& [reply_to, item] : outstanding_) {
    if (reply_to.connection_id == connection_id) gone.push_back(reply_to);
  }
  for (const ReplyTo& reply_to : gone) abandon(reply_to);
}

int64_t Requester::resend_after_ms(const wire::ClientRequest& request) const {
  // A watch is parked on the leader for up to its wait: an answer is not late before that.
  if (const auto* watch = std::get_if<wire::KvWatchRequest>(&request.body)) {
    return options_.resend_after_ms + std::min<int64_t>(watch->wait_ms, wire::kMaxWatchWaitMs);
  }
  return options_.resend_after_ms;
}

uint64_t Requester::ack_below() const {
  uint64_t lowest = next_sequence_;
  for (const auto& [reply_to, item] : outstanding_) {
    if (item.sequence != 0) lowest = std::min(lowest, item.sequence);
  }
  return lowest;
}

std::string Requester::choose_target(int64_t now_ms, bool spread) {
  auto avoided = [&](const std::string& name) {
    auto found = avoid_until_ms_.find(name);
    return found != avoid_until_ms_.end() && found->second > now_ms;
  };
  if (!leader_.empty() && !avoided(leader_) && (!spread || servers_.empty())) return leader_;
  for (size_t tried = 0; tried < servers_.size(); ++tried) {
    const std::string& candidate = servers_[next_server_++ % servers_.size()];
    if (!avoided(candidate)) return candidate;
  }
  return servers_.empty() ? std::string() : servers_[next_server_++ % servers_.size()];
}

void Requester::send(Outstanding& item, int64_t now_ms) {
  const auto* get = std::get_if<wire::KvGetRequest>(&item.request.body);
  const bool first_read_attempt = get != nullptr && !get->stale && item.target.empty();
  const std::string target = choose_target(now_ms, first_read_attempt);
  if (target.empty()) {
    item.sent_at_ms = -1;  // no server known yet: tick() tries again
    item.send_after_ms = now_ms + options_.no_leader_backoff_ms;
    return;
  }
  wire::ForwardRequest forward;
  forward.forward_id = next_forward_id_++;
  forward.client_id = options_.client_id;
  forward.sequence = item.sequence;
  forward.ack_below = ack_below();
  forward.timeout_ms = static_cast<uint32_t>(std::max<int64_t>(0, item.deadline_ms - now_ms));
  forward.request = item.request;
  item.target = target;
  item.sent_at_ms = now_ms;
  item.forward_id = forward.forward_id;
  by_forward_id_[forward.forward_id] = Attempt{item.reply_to, now_ms};
  sends_.push_back(Send{target, std::move(forward)});
}

void Requester::send_later(Outstanding& item, int64_t now_ms) {
  item.sent_at_ms = -1;
  item.send_after_ms = now_ms + options_.no_leader_backoff_ms;
}

void Requester::finish(std::map<ReplyTo, Outstanding>::iterator it, wire::ClientResponse response,
                       bool confirmed, int64_t sent_at_ms) {
  const ReplyTo reply_to = it->first;
  response.request_id = reply_to.request_id;
  answers_.push_back(Answer{reply_to, std::move(response), sent_at_ms, confirmed});
  std::erase_if(by_forward_id_, [&](const auto& entry) { return entry.second.reply_to == reply_to; });
  outstanding_.erase(it);
}

void Requester::on_response(const std::string& from, const wire::ForwardResponse& response,
                            int64_t now_ms) {
  auto attempt = by_forward_id_.find(response.forward_id);
  if (attempt == by_forward_id_.end()) return;  // answered already, or abandoned
  auto it = outstanding_.find(attempt->second.reply_to);
  if (it == outstanding_.end()) return;
  const int64_t attempt_sent_at_ms = attempt->second.sent_at_ms;
  const ErrorCode code = response.response.error_code;
  if (code == ErrorCode::not_leader || code == ErrorCode::no_leader) {
    by_forward_id_.erase(attempt);
    Outstanding& item = it->second;
    if (!response.leader.empty() && response.leader != from) {
      // A redirect: this request goes there (at once, unless servers that disagree about the
      // leader keep bouncing it: then paced, until they agree).
      leader_ = response.leader;
      avoid_until_ms_.erase(leader_);
      if (++item.redirects <= options_.max_immediate_redirects) {
        send(item, now_ms);
      } else {
        send_later(item, now_ms);
      }
      return;
    }
    if (leader_ == from) leader_.clear();
    // No leader yet (an election): try again shortly, there or elsewhere.
    send_later(item, now_ms);
    return;
  }
  // An ok answer names the leader as the answering server knows it: itself when it leads, or
  // the leader a follower read (or a `-stale` read) was served under. Only the leader's own
  // answer confirms contact with it.
  const bool from_leader = code == ErrorCode::ok && response.leader == from;
  if (code == ErrorCode::ok && !response.leader.empty()) leader_ = response.leader;
  finish(it, response.response, from_leader, attempt_sent_at_ms);
}

void Requester::on_unreachable(const std::string& name, int64_t now_ms) {
  // Everything aimed at it was re-routed at the first notice; the notices of those same
  // attempts must not re-route everything again (each would multiply the traffic).
  if (auto avoided = avoid_until_ms_.find(name);
      avoided != avoid_until_ms_.end() && avoided->second > now_ms) {
    return;
  }
  avoid_until_ms_[name] = now_ms + options_.unreachable_backoff_ms;
  if (leader_ == name) leader_.clear();
  for (auto& [reply_to, item] : outstanding_) {
    if (item.target == name && item.sent_at_ms >= 0) {
      ++resends_;
      send(item, now_ms);
    }
  }
}

void Requester::set_leader(const std::string& name, int64_t now_ms) {
  if (name == leader_) return;
  leader_ = name;
  if (leader_.empty()) return;
  avoid_until_ms_.erase(leader_);
  // A new leader: whatever went to the old one may be lost with it. Sequence numbers make the
  // re-sent writes take effect once.
  for (auto& [reply_to, item] : outstanding_) {
    if (item.target != leader_ || item.sent_at_ms < 0) {
      if (item.sent_at_ms >= 0) ++resends_;
      send(item, now_ms);
    }
  }
}

void Requester::set_servers(std::vector<std::string> names) { servers_ = std::move(names); }

void Requester::tick(int64_t now_ms) {
  for (auto it = outstanding_.begin(); it != outstanding_.end();) {
    Outstanding& item = it->second;
    if (now_ms >= item.deadline_ms) {
      wire::ClientResponse timed_out;
      timed_out.error_code = ErrorCode::timed_out;
      timed_out.error_message =
          "no answer before the deadline: the request was not committed in time (" +
          (leader_.empty() ? std::string("no leader is known; the cluster may be electing or "
                                         "may have lost its quorum")
                           : "leader is " + leader_) +
          ")" + (item.sequence != 0 ? "; the write may still be applied later" : "");
      auto next = std::next(it);
      finish(it, std::move(timed_out), false, it->second.sent_at_ms);
      it = next;
      continue;
    }
    if (item.sent_at_ms < 0) {
      if (now_ms >= item.send_after_ms) {
        item.redirects = 0;
        send(item, now_ms);
      }
    } else if (now_ms - item.sent_at_ms >= resend_after_ms(item.request)) {
      ++resends_;
      send(item, now_ms);
    }
    ++it;
  }
  std::erase_if(avoid_until_ms_, [&](const auto& entry) { return entry.second <= now_ms; });
}

std::vector<Requester::Send> Requester::take_sends() { return std::exchange(sends_, {}); }

std::vector<Requester::Answer> Requester::take_answers() { return std::exchange(answers_, {}); }

}  // namespace conclave::agent
