// From the config's local-access settings (socket_mode, socket_group, [[acl]], acl_default) to
// what the runtime enforces: user and group names resolved to ids through the system's user
// database, once, at start. Errors name the setting and the rule.
#pragma once

#include <cstdint>

#include "agent/access_policy.h"
#include "agent/client_server.h"
#include "agent/config.h"
#include "common/result.h"

namespace conclave::agent {

Result<SocketAccess> socket_access_from(const AgentConfig& config);
// `agent_uid`: the agent's own user (always allowed).
Result<AccessPolicy> access_policy_from(const AgentConfig& config, uint32_t agent_uid);

}  // namespace conclave::agent
