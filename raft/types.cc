#include "raft/types.h"

namespace conclave::raft {

bool may_send_before_persist(const Message& message) {
  return message.type == MessageType::append_request || message.type == MessageType::propose;
}

const char* message_type_name(MessageType type) {
  switch (type) {
    case MessageType::vote_request: return "vote_request";
    case MessageType::vote_response: return "vote_response";
    case MessageType::append_request: return "append_request";
    case MessageType::append_response: return "append_response";
    case MessageType::propose: return "propose";
  }
  return "unknown";
}

const char* role_name(Role role) {
  switch (role) {
    case Role::follower: return "follower";
    case Role::candidate: return "candidate";
    case Role::leader: return "leader";
  }
  return "unknown";
}

}  // namespace conclave::raft
