// AccessPolicy: which local users may do what through the agent's Unix socket.
//
// Two gates. First the socket file itself (mode 0660 and a group, agent/client_server.h): only
// its owner, its group and root can connect at all. Then, per request, the rules of the config
// (`[[acl]]`), applied to the connecting process's uid and groups as the kernel reports them
// (SO_PEERCRED; supplementary groups from the user database):
//
//   [[acl]]
//   user = "backup"              # or uid = 1001, group = "ops", gid = 50 (exactly one)
//   kv_prefix = "backup/"        # the keys it covers (and/or lock_prefix for lock names)
//   allow = ["read", "write"]    # read, write, lock, admin
//
// For each thing a request touches (a key, a listed or watched prefix, a lock name), the rule
// that matches the user and has the longest prefix of it decides; without one, `acl_default`
// ("allow" unless configured) decides. A denial names the rule (or the default) that denied
// it. Root and the agent's own user may do everything; admin requests (leave, raft
// transfer-leader / remove-peer, keyring) need one of them or a rule allowing "admin",
// whatever acl_default says. Sessions, members and status need nothing.
//
// Pure: no I/O; names are resolved to ids when the config is read (agent/main.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "wire/client_messages.h"

namespace conclave::agent {

enum class Permission : uint8_t { read, write, lock, admin };
const char* permission_name(Permission permission);

// Who is on the other end of a client connection.
struct Credentials {
  bool known = false;  // false: the kernel did not say (treated as an unknown user)
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> groups;  // supplementary, as the user database lists them
  std::string user_name;         // for messages ("" if the uid has no name)
};

struct AccessRule {
  // Exactly one of uid / gid.
  std::optional<uint32_t> uid;
  std::optional<uint32_t> gid;
  std::string who;  // as written in the config: `user "backup"`, `gid 50`, ...
  std::optional<std::string> kv_prefix;
  std::optional<std::string> lock_prefix;
  std::set<Permission> allow;
};

struct AccessDecision {
  bool allowed = true;
  std::string reason;  // set when denied: names the rule or the default
};

class AccessPolicy {
 public:
  // `agent_uid`: the agent process's own user, always allowed.
  AccessPolicy(std::vector<AccessRule> rules = {}, bool default_allow = true,
               uint32_t agent_uid = 0);

  AccessDecision authorize(const Credentials& who, const wire::ClientRequestBody& body) const;

  size_t rule_count() const { return rules_.size(); }
  bool default_allow() const { return default_allow_; }

 private:
  enum class Resource : uint8_t { kv, lock };
  AccessDecision check(const Credentials& who, Permission permission, Resource resource,
                       const std::string& name) const;
  AccessDecision check_admin(const Credentials& who) const;
  bool applies_to(const AccessRule& rule, const Credentials& who) const;
  std::string describe(const Credentials& who) const;

  std::vector<AccessRule> rules_;
  bool default_allow_;
  uint32_t agent_uid_;
};

}  // namespace conclave::agent
