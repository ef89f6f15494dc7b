// AccessPolicy on its own: the most specific matching rule decides, denials name the rule (or
// the default), admin needs root, the agent's user or an admin rule, and root always passes.
#include <catch2/catch.hpp>

#include "agent/access_policy.h"

using namespace conclave;
using namespace conclave::agent;

namespace {

Credentials user(uint32_t uid, uint32_t gid, std::vector<uint32_t> groups = {}) {
  Credentials who;
  who.known = true;
  who.uid = uid;
  who.gid = gid;
  who.groups = std::move(groups);
  who.user_name = "u" + std::to_string(uid);
  return who;
}

AccessRule rule(std::optional<uint32_t> uid, std::optional<uint32_t> gid,
                std::optional<std::string> kv, std::optional<std::string> lock,
                std::set<Permission> allow) {
  AccessRule out;
  out.uid = uid;
  out.gid = gid;
  out.who = uid ? "uid " + std::to_string(*uid) : "gid " + std::to_string(*gid);
  out.kv_prefix = std::move(kv);
  out.lock_prefix = std::move(lock);
  out.allow = std::move(allow);
  return out;
}

wire::ClientRequestBody put(std::string key) { return wire::KvPutRequest{std::move(key), "v", "", 0}; }
wire::ClientRequestBody get(std::string key) { return wire::KvGetRequest{std::move(key)}; }

}  // namespace

TEST_CASE("access: the matching rule with the longest prefix decides, and a denial names it") {
  AccessPolicy policy({rule(1001, std::nullopt, "app/", std::nullopt,
                            {Permission::read, Permission::write}),
                       rule(1001, std::nullopt, "app/secrets/", std::nullopt, {Permission::read})},
                      /*default_allow=*/false, /*agent_uid=*/999);
  const Credentials alice = user(1001, 1001);
  CHECK(policy.authorize(alice, put("app/color")).allowed);
  CHECK(policy.authorize(alice, get("app/secrets/db")).allowed);
  const AccessDecision denied = policy.authorize(alice, put("app/secrets/db"));
  CHECK_FALSE(denied.allowed);
  CHECK(denied.reason ==
        "permission denied: user u1001 (uid 1001) needs \"write\" on kv key \"app/secrets/db\", "
        "and acl rule 2 (uid 1001, kv_prefix \"app/secrets/\") allows only [read]");
  const AccessDecision unmatched = policy.authorize(alice, get("other/x"));
  CHECK_FALSE(unmatched.allowed);
  CHECK(unmatched.reason.find("acl_default is \"deny\"") != std::string::npos);
  // Root and the agent's own user pass whatever the rules say.
  CHECK(policy.authorize(user(0, 0), put("other/x")).allowed);
  CHECK(policy.authorize(user(999, 999), put("other/x")).allowed);
  // A process the kernel did not identify matches no rule.
  CHECK_FALSE(policy.authorize(Credentials{}, get("app/color")).allowed);
}

TEST_CASE("access: groups match the primary and supplementary groups; defaults allow") {
  AccessPolicy policy({rule(std::nullopt, 50, std::nullopt, "jobs/", {Permission::lock})},
                      /*default_allow=*/true, 999);
  wire::LockAcquireRequest acquire;
  acquire.name = "jobs/nightly";
  CHECK(policy.authorize(user(1002, 1002, {50}), acquire).allowed);
  CHECK(policy.authorize(user(1003, 50), acquire).allowed);
  // A lock list under the rule's prefix needs "read", which the rule does not give.
  CHECK_FALSE(policy.authorize(user(1003, 50), wire::LockListRequest{"jobs/"}).allowed);
  // Outside every rule the default (allow) decides.
  CHECK(policy.authorize(user(1004, 1004), put("anything")).allowed);
}

TEST_CASE("access: transactions need read on compared keys and write on written ones") {
  AccessPolicy policy({rule(1001, std::nullopt, "app/", std::nullopt, {Permission::read})},
                      false, 999);
  wire::KvTxnRequest txn;
  txn.compares.push_back(wire::TxnCompare{"app/a", wire::TxnTarget::value,
                                          wire::TxnCompareOp::equal, "1", 0});
  txn.success.push_back(wire::TxnOp{wire::TxnOpType::get, "app/b", "", false});
  CHECK(policy.authorize(user(1001, 1001), txn).allowed);
  txn.failure.push_back(wire::TxnOp{wire::TxnOpType::put, "app/c", "x", false});
  const AccessDecision denied = policy.authorize(user(1001, 1001), txn);
  CHECK_FALSE(denied.allowed);
  CHECK(denied.reason.find("\"write\" on kv key \"app/c\"") != std::string::npos);
}

TEST_CASE("access: admin commands need root, the agent's user or an admin rule") {
  AccessPolicy open_policy({}, /*default_allow=*/true, 999);
  const AccessDecision leave = open_policy.authorize(user(1001, 1001), wire::LeaveRequest{});
  CHECK_FALSE(leave.allowed);
  CHECK(leave.reason.find("admin") != std::string::npos);
  CHECK_FALSE(open_policy.authorize(user(1001, 1001), wire::KeyringRequest{}).allowed);
  CHECK_FALSE(open_policy
                  .authorize(user(1001, 1001),
                             wire::RaftAdminRequest{wire::RaftAdminOp::remove_peer, "x"})
                  .allowed);
  CHECK(open_policy.authorize(user(1001, 1001), wire::RaftAdminRequest{}).allowed);  // peers
  CHECK(open_policy.authorize(user(1001, 1001), wire::StatusRequest{}).allowed);
  AccessPolicy with_admin({rule(std::nullopt, 10, std::nullopt, std::nullopt,
                                {Permission::admin})},
                          false, 999);
  CHECK(with_admin.authorize(user(1001, 1001, {10}), wire::LeaveRequest{}).allowed);
  CHECK(with_admin.authorize(user(1001, 1001), wire::SessionCreateRequest{}).allowed);
}
