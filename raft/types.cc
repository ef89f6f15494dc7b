#include "raft/types.h"

#include <algorithm>

namespace conclave::raft {

bool Membership::is_voter(NodeId node) const {
  return std::find(voters.begin(), voters.end(), node) != voters.end();
}

bool Membership::is_learner(NodeId node) const {
  return std::find(learners.begin(), learners.end(), node) != learners.end();
}

bool may_send_before_persist(const Message& message) {
  // None of these promises anything about this node's disk: a pre-vote changes no term or
  // vote, and timeout_now only asks the recipient to campaign.
  switch (message.type) {
    case MessageType::append_request:
    case MessageType::propose:
    case MessageType::pre_vote_request:
    case MessageType::pre_vote_response:
    case MessageType::timeout_now:
    case MessageType::snapshot:
    case MessageType::snapshot_response:  // acknowledges bytes held in memory, nothing durable
    case MessageType::read_index_request:
    case MessageType::read_index_response:
      return true;
    case MessageType::vote_request:
    case MessageType::vote_response:
    case MessageType::append_response:
      return false;
  }
  return false;
}

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::vote_request: return "vote_request";
    case MessageType::vote_response: return "vote_response";
    case MessageType::append_request: return "append_request";
    case MessageType::append_response: return "append_response";
    case MessageType::propose: return "propose";
    case MessageType::pre_vote_request: return "pre_vote_request";
    case MessageType::pre_vote_response: return "pre_vote_response";
    case MessageType::timeout_now: return "timeout_now";
    case MessageType::snapshot: return "snapshot";
    case MessageType::snapshot_response: return "snapshot_response";
    case MessageType::read_index_request: return "read_index_request";
    case MessageType::read_index_response: return "read_index_response";
  }
  return "unknown";
}

const char* role_name(Role role) {
  switch (role) {
    case Role::follower: return "follower";
    case Role::candidate: return "candidate";
    case Role::leader: return "leader";
    case Role::pre_candidate: return "pre-candidate";
  }
  return "unknown";
}

}  // namespace conclave::raft
