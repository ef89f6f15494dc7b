#include "agent/access_policy.h"

#include <algorithm>
#include <type_traits>

namespace conclave::agent {

const char* permission_name(Permission permission) {
  switch (permission) {
    case Permission::read: return "read";
    case Permission::write: return "write";
    case Permission::lock: return "lock";
    case Permission::admin: return "admin";
  }
  return "unknown";
}

AccessPolicy::AccessPolicy(std::vector<AccessRule> rules, bool default_allow, uint32_t agent_uid)
    : rules_(std::move(rules)), default_allow_(default_allow), agent_uid_(agent_uid) {}

bool AccessPolicy::applies_to(const AccessRule& rule, const Credentials& who) const {
  if (!who.known) return false;
  if (rule.uid) return *rule.uid == who.uid;
  if (rule.gid) {
    return *rule.gid == who.gid ||
           std::find(who.groups.begin(), who.groups.end(), *rule.gid) != who.groups.end();
  }
  return false;
}

std::string AccessPolicy::describe(const Credentials& who) const {
  if (!who.known) return "an unidentified local process";
  return (who.user_name.empty() ? std::string("uid ") + std::to_string(who.uid)
                                : "user " + who.user_name + " (uid " + std::to_string(who.uid) +
                                      ")");
}

AccessDecision AccessPolicy::check(const Credentials& who, Permission permission,
                                   Resource resource, const std::string& name) const {
  const AccessRule* best = nullptr;
  size_t best_number = 0;
  for (size_t i = 0; i < rules_.size(); ++i) {
    const AccessRule& rule = rules_[i];
    const std::optional<std::string>& prefix =
        resource == Resource::kv ? rule.kv_prefix : rule.lock_prefix;
    if (!prefix || !applies_to(rule, who) || name.compare(0, prefix->size(), *prefix) != 0) {
      continue;
    }
    // The most specific prefix decides; among equals, the first rule.
    const std::optional<std::string>& best_prefix =
        best == nullptr ? prefix : (resource == Resource::kv ? best->kv_prefix : best->lock_prefix);
    if (best == nullptr || prefix->size() > best_prefix->size()) {
      best = &rule;
      best_number = i + 1;
    }
  }
  const std::string what = std::string(resource == Resource::kv ? "kv key " : "lock ") + "\"" +
                           name + "\"";
  if (best != nullptr) {
    if (best->allow.count(permission) > 0) return AccessDecision{};
    std::string allowed;
    for (Permission each : best->allow) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(permission_name(each));
    }
    const std::string prefix =
        resource == Resource::kv ? *best->kv_prefix : *best->lock_prefix;
    return AccessDecision{
        false, "permission denied: " + describe(who) + " needs \"" + permission_name(permission) +
                   "\" on " + what + ", and acl rule " + std::to_string(best_number) + " (" +
                   best->who + ", " + (resource == Resource::kv ? "kv_prefix" : "lock_prefix") +
                   " \"" + prefix + "\") allows only [" + allowed + "]"};
  }
  if (default_allow_) return AccessDecision{};
  return AccessDecision{false, "permission denied: no acl rule gives " + describe(who) + " \"" +
                                   permission_name(permission) + "\" on " + what +
                                   ", and acl_default is \"deny\""};
}

AccessDecision AccessPolicy::check_admin(const Credentials& who) const {
  for (size_t i = 0; i < rules_.size(); ++i) {
    if (rules_[i].allow.count(Permission::admin) > 0 && applies_to(rules_[i], who)) {
      return AccessDecision{};
    }
  }
  return AccessDecision{false, "permission denied: " + describe(who) +
                                   " may not run admin commands (leave, raft changes, keyring): "
                                   "only root, the agent's own user, or an acl rule allowing "
                                   "\"admin\""};
}

AccessDecision AccessPolicy::authorize(const Credentials& who,
                                       const wire::ClientRequestBody& body) const {
  if (who.known && (who.uid == 0 || who.uid == agent_uid_)) return AccessDecision{};
  return std::visit(
      [&](const auto& request) -> AccessDecision {
        using T = std::decay_t<decltype(request)>;
        if constexpr (std::is_same_v<T, wire::KvGetRequest>) {
          return check(who, Permission::read, Resource::kv, request.key);
        } else if constexpr (std::is_same_v<T, wire::KvListRequest>) {
          return check(who, Permission::read, Resource::kv, request.prefix);
        } else if constexpr (std::is_same_v<T, wire::KvWatchRequest>) {
          return check(who, Permission::read, Resource::kv, request.key);
        } else if constexpr (std::is_same_v<T, wire::KvPutRequest>) {
          return check(who, Permission::write, Resource::kv, request.key);
        } else if constexpr (std::is_same_v<T, wire::KvDeleteRequest>) {
          return check(who, Permission::write, Resource::kv, request.key);
        } else if constexpr (std::is_same_v<T, wire::KvTxnRequest>) {
          for (const wire::TxnCompare& compare : request.compares) {
            if (auto d = check(who, Permission::read, Resource::kv, compare.key); !d.allowed) {
              return d;
            }
          }
          for (const auto* branch : {&request.success, &request.failure}) {
            for (const wire::TxnOp& op : *branch) {
              const Permission needed =
                  op.type == wire::TxnOpType::get ? Permission::read : Permission::write;
              if (auto d = check(who, needed, Resource::kv, op.key); !d.allowed) return d;
            }
          }
          return AccessDecision{};
        } else if constexpr (std::is_same_v<T, wire::LockAcquireRequest> ||
                             std::is_same_v<T, wire::LockReleaseRequest> ||
                             std::is_same_v<T, wire::LockCancelRequest>) {
          return check(who, Permission::lock, Resource::lock, request.name);
        } else if constexpr (std::is_same_v<T, wire::LockListRequest>) {
          return check(who, Permission::read, Resource::lock, request.prefix);
        } else if constexpr (std::is_same_v<T, wire::RaftAdminRequest>) {
          return request.op == wire::RaftAdminOp::peers ? AccessDecision{} : check_admin(who);
        } else if constexpr (std::is_same_v<T, wire::LeaveRequest> ||
                             std::is_same_v<T, wire::KeyringRequest>) {
          return check_admin(who);
        } else {
          // Sessions, members, status: nothing to protect beyond the socket itself.
          return AccessDecision{};
        }
      },
      body);
}

}  // namespace conclave::agent
