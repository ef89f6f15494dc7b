#include "agent/keyring_service.h"

#include "crypto/keyring.h"

namespace conclave::agent {

KeyringService::KeyringService(std::string self_name, TrafficKeys& keys, Save save)
    : self_name_(std::move(self_name)), keys_(keys), save_(std::move(save)) {}

wire::AgentKeyring KeyringService::result(ErrorCode code, std::string message) const {
  wire::AgentKeyring out;
  out.name = self_name_;
  out.error_code = code;
  out.error_message = std::move(message);
  for (const crypto::Key& key : keys_.keyring.keys()) out.keys.push_back(crypto::encode_key(key));
  return out;
}

wire::AgentKeyring KeyringService::apply(const wire::KeyringRequest& request) {
  if (request.op == wire::KeyringOp::list) return result(ErrorCode::ok, "");
  if (!keys_.enabled()) {
    return result(ErrorCode::unavailable,
                  "encryption is off on this agent: start every agent with the cluster key "
                  "(-encrypt) before using the keyring (docs/security.md)");
  }
  auto key = crypto::parse_key(request.key);
  if (!key.ok()) return result(ErrorCode::invalid_argument, key.error().message);
  crypto::Keyring changed = keys_.keyring;
  Status status;
  switch (request.op) {
    case wire::KeyringOp::install: status = changed.install(key.value()); break;
    case wire::KeyringOp::use: status = changed.use(key.value()); break;
    case wire::KeyringOp::remove: status = changed.remove(key.value()); break;
    case wire::KeyringOp::list: break;
  }
  if (!status.ok()) return result(status.error().code, status.error().message);
  if (changed.keys() != keys_.keyring.keys()) {
    std::vector<std::string> encoded;
    for (const crypto::Key& each : changed.keys()) encoded.push_back(crypto::encode_key(each));
    // Saved before it is used: an agent never runs on keys it would lose at a restart.
    if (Status saved = save_(encoded); !saved.ok()) {
      return result(saved.error().code, saved.error().message);
    }
    keys_.keyring = std::move(changed);
    keys_changed_ = true;
  }
  return result(ErrorCode::ok, "");
}

void KeyringService::on_client_request(uint64_t connection_id, uint64_t request_id,
                                       const wire::KeyringRequest& request,
                                       const std::vector<std::string>& peers, int64_t now_ms) {
  if (pending_.size() >= kMaxPendingRequests) {
    replies_.push_back(Reply{connection_id,
                             wire::ClientResponse{request_id, ErrorCode::unavailable,
                                                  "too many keyring requests at once; try "
                                                  "again in a few seconds",
                                                  false, std::monostate{}}});
    return;
  }
  const uint64_t id = next_id_++;
  Pending& pending = pending_[id];
  pending.connection_id = connection_id;
  pending.request_id = request_id;
  pending.answer_by_ms = now_ms + kAnswerWithinMs;
  pending.results.push_back(apply(request));
  // Asked of the others even when it failed here (list, say, or a key this agent already
  // removed): the answer shows every agent's state either way.
  for (const std::string& peer : peers) {
    if (peer == self_name_ || pending.waiting.count(peer) > 0) continue;
    wire::AgentKeyring unanswered;
    unanswered.name = peer;
    unanswered.error_code = ErrorCode::timed_out;
    unanswered.error_message = "did not answer within " +
                               std::to_string(kAnswerWithinMs / 1000) +
                               " s (down, or not holding a key this agent sends under?)";
    pending.waiting[peer] = pending.results.size();
    pending.results.push_back(std::move(unanswered));
    peer_sends_.push_back(PeerSend{peer, wire::KeyringPeerRequest{id, request}});
  }
  if (pending.waiting.empty()) finish(id);
}

void KeyringService::on_peer_request(const std::string& from,
                                     const wire::KeyringPeerRequest& request) {
  peer_sends_.push_back(
      PeerSend{from, wire::KeyringPeerResponse{request.request_id, apply(request.request)}});
}

void KeyringService::on_peer_response(const std::string& from,
                                      const wire::KeyringPeerResponse& response) {
  auto it = pending_.find(response.request_id);
  if (it == pending_.end()) return;  // answered already (late), or not ours
  auto waiting = it->second.waiting.find(from);
  if (waiting == it->second.waiting.end()) return;
  wire::AgentKeyring result = response.result;
  result.name = from;  // as the transport knows it, whatever it claims
  it->second.results[waiting->second] = std::move(result);
  it->second.waiting.erase(waiting);
  if (it->second.waiting.empty()) finish(it->first);
}

void KeyringService::tick(int64_t now_ms) {
  std::vector<uint64_t> due;
  for (const auto& [id, pending] : pending_) {
    if (now_ms >= pending.answer_by_ms) due.push_back(id);
  }
  for (uint64_t id : due) finish(id);
}

void KeyringService::finish(uint64_t id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  wire::KeyringResponse answer;
  answer.agents = std::move(it->second.results);
  replies_.push_back(Reply{it->second.connection_id,
                           wire::ClientResponse{it->second.request_id, ErrorCode::ok, "", false,
                                                std::move(answer)}});
  pending_.erase(it);
}

}  // namespace conclave::agent
