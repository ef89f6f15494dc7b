#include "agent/access_config.h"

#include <grp.h>
#include <pwd.h>

#include <cstdlib>

namespace conclave::agent {
namespace {

Result<uint32_t> group_id(const std::string& name, const std::string& setting) {
  group entry{};
  group* found = nullptr;
  char buffer[16384];
  if (::getgrnam_r(name.c_str(), &entry, buffer, sizeof buffer, &found) != 0 || found == nullptr) {
    return make_error(ErrorCode::invalid_argument,
                      setting + ": there is no group named \"" + name + "\" on this host");
  }
  return static_cast<uint32_t>(found->gr_gid);
}

Result<uint32_t> user_id(const std::string& name, const std::string& setting) {
  passwd entry{};
  passwd* found = nullptr;
  char buffer[16384];
  if (::getpwnam_r(name.c_str(), &entry, buffer, sizeof buffer, &found) != 0 || found == nullptr) {
    return make_error(ErrorCode::invalid_argument,
                      setting + ": there is no user named \"" + name + "\" on this host");
  }
  return static_cast<uint32_t>(found->pw_uid);
}

}  // namespace

Result<SocketAccess> socket_access_from(const AgentConfig& config) {
  SocketAccess access;
  if (config.socket_mode) {
    const std::string& text = *config.socket_mode;
    char* end = nullptr;
    const unsigned long mode = std::strtoul(text.c_str(), &end, 8);
    if (text.empty() || *end != '\0' || mode > 0777) {
      return make_error(ErrorCode::invalid_argument,
                        "socket_mode: \"" + text + "\" is not an octal mode such as \"0660\"");
    }
    access.mode = static_cast<uint32_t>(mode);
  }
  if (config.socket_group) {
    auto gid = group_id(*config.socket_group, "socket_group");
    if (!gid.ok()) return gid.error();
    access.gid = gid.value();
  }
  return access;
}

Result<AccessPolicy> access_policy_from(const AgentConfig& config, uint32_t agent_uid) {
  std::vector<AccessRule> rules;
  const std::vector<AclRuleConfig> written = config.acl.value_or(std::vector<AclRuleConfig>{});
  for (size_t i = 0; i < written.size(); ++i) {
    const AclRuleConfig& rule_config = written[i];
    const std::string setting = "acl rule " + std::to_string(i + 1);
    AccessRule rule;
    if (rule_config.user) {
      auto uid = user_id(*rule_config.user, setting);
      if (!uid.ok()) return uid.error();
      rule.uid = uid.value();
      rule.who = "user " + *rule_config.user;
    } else if (rule_config.uid) {
      rule.uid = static_cast<uint32_t>(*rule_config.uid);
      rule.who = "uid " + std::to_string(*rule_config.uid);
    } else if (rule_config.group) {
      auto gid = group_id(*rule_config.group, setting);
      if (!gid.ok()) return gid.error();
      rule.gid = gid.value();
      rule.who = "group " + *rule_config.group;
    } else if (rule_config.gid) {
      rule.gid = static_cast<uint32_t>(*rule_config.gid);
      rule.who = "gid " + std::to_string(*rule_config.gid);
    }
    rule.kv_prefix = rule_config.kv_prefix;
    rule.lock_prefix = rule_config.lock_prefix;
    for (const std::string& word : rule_config.allow) {
      rule.allow.insert(word == "read"    ? Permission::read
                        : word == "write" ? Permission::write
                        : word == "lock"  ? Permission::lock
                                          : Permission::admin);
    }
    rules.push_back(std::move(rule));
  }
  return AccessPolicy(std::move(rules), config.acl_default.value_or("allow") == "allow",
                      agent_uid);
}

}  // namespace conclave::agent
