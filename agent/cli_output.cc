#include "agent/cli_output.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

namespace conclave::agent {

namespace {

nlohmann::json kv_entry_object(const wire::KvEntry& entry) {
  return {{"key", entry.key},
          {"value", entry.value},
          {"create_revision", entry.create_revision},
          {"mod_revision", entry.mod_revision},
          {"version", entry.version}};
}

std::string dump(const nlohmann::json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

std::string kv_entry_json(const wire::KvEntry& entry) { return dump(kv_entry_object(entry), -1); }

void print_kv_event(const wire::KvEvent& event, bool json) {
  const bool put = event.type == wire::KvEventType::put;
  if (json) {
    nlohmann::json out = kv_entry_object(event.entry);
    out["type"] = put ? "put" : "delete";
    std::cout << dump(out, -1) << std::endl;
    return;
  }
  std::cout << (put ? "PUT " : "DELETE ") << event.entry.key;
  if (put) std::cout << " " << event.entry.value;
  std::cout << " (rev " << event.entry.mod_revision << ")" << std::endl;
}

bool print_keyring(const wire::KeyringResponse& response, bool json) {
  struct Count {
    size_t holders = 0;
    size_t primary = 0;
  };
  std::map<std::string, Count> keys;
  std::vector<const wire::AgentKeyring*> failed;
  for (const wire::AgentKeyring& agent : response.agents) {
    if (agent.error_code != ErrorCode::ok) failed.push_back(&agent);
    for (size_t i = 0; i < agent.keys.size(); ++i) {
      ++keys[agent.keys[i]].holders;
      if (i == 0) ++keys[agent.keys[i]].primary;
    }
  }
  const size_t total = response.agents.size();
  if (json) {
    nlohmann::json out = {{"agents", total},
                          {"keys", nlohmann::json::array()},
                          {"failed", nlohmann::json::array()}};
    for (const auto& [key, count] : keys) {
      out["keys"].push_back({{"key", key}, {"agents", count.holders}, {"primary", count.primary}});
    }
    for (const wire::AgentKeyring* agent : failed) {
      out["failed"].push_back({{"name", agent->name}, {"error", agent->error_message}});
    }
    std::cout << dump(out, 2) << std::endl;
  } else {
    std::cout << "Key                                           Agents  Primary on" << std::endl;
    for (const auto& [key, count] : keys) {
      std::cout << key << "  " << count.holders << "/" << total << "     " << count.primary << "/"
                << total << std::endl;
    }
  }
  // Failures go to stderr in both formats (and in the JSON too).
  for (const wire::AgentKeyring* agent : failed) {
    std::cerr << "agent " << agent->name << ": " << agent->error_message << std::endl;
  }
  return failed.empty();
}

void print_watch_fell_behind(const client::FellBehind& behind, bool json) {
  if (json) {
    nlohmann::json out = {{"type", "fell_behind"},
                          {"missed_from_revision", behind.missed_from_revision},
                          {"resume_revision", behind.resume_revision}};
    std::cout << dump(out, -1) << std::endl;
    return;
  }
  std::cout << "FELL_BEHIND watch fell behind: the changes from revision "
            << behind.missed_from_revision << " to " << behind.resume_revision - 1
            << " are no longer kept; resuming from revision " << behind.resume_revision
            << " (read the keys again to catch up)" << std::endl;
}

void print_txn(const wire::KvTxnResponse& response, bool json) {
  if (json) {
    nlohmann::json results = nlohmann::json::array();
    for (const wire::TxnOpResult& result : response.results) {
      switch (result.type) {
        case wire::TxnOpType::put:
          results.push_back({{"type", "put"}, {"revision", result.revision}});
          break;
        case wire::TxnOpType::del:
          results.push_back({{"type", "delete"}, {"deleted", result.deleted}});
          break;
        case wire::TxnOpType::get: {
          nlohmann::json get =
              result.found ? kv_entry_object(result.entry) : nlohmann::json::object();
          get["type"] = "get";
          get["found"] = result.found;
          results.push_back(std::move(get));
          break;
        }
      }
    }
    const nlohmann::json out = {{"succeeded", response.succeeded},
                                {"revision", response.revision},
                                {"results", std::move(results)}};
    std::cout << dump(out, -1) << "\n";
    return;
  }
  std::printf("%s\n", response.succeeded ? "SUCCESS" : "FAILURE");
  for (const wire::TxnOpResult& result : response.results) {
    switch (result.type) {
      case wire::TxnOpType::put:
        std::printf("OK revision %llu\n", static_cast<unsigned long long>(result.revision));
        break;
      case wire::TxnOpType::del:
        std::printf("deleted %llu\n", static_cast<unsigned long long>(result.deleted));
        break;
      case wire::TxnOpType::get:
        if (result.found) {
          std::fwrite(result.entry.value.data(), 1, result.entry.value.size(), stdout);
          std::fputc('\n', stdout);
        } else {
          std::printf("(not found)\n");
        }
        break;
    }
  }
}

void print_kv_list(const std::vector<wire::KvEntry>& entries, bool values, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& entry : entries) out.push_back(kv_entry_object(entry));
    std::cout << dump(out, 2) << "\n";
    return;
  }
  for (const auto& entry : entries) {
    std::fwrite(entry.key.data(), 1, entry.key.size(), stdout);
    if (values) {
      std::fputc('\t', stdout);
      std::fwrite(entry.value.data(), 1, entry.value.size(), stdout);
    }
    std::fputc('\n', stdout);
  }
}

namespace {

nlohmann::json member_object(const wire::MemberInfo& member) {
  return {{"name", member.name},
          {"address", member.address},
          {"status", member.state},
          {"role", member.role},
          {"rpc_address", member.rpc_address},
          {"incarnation", member.incarnation},
          {"tags", member.tags}};
}

std::string tags_text(const wire::MemberInfo& member) {
  std::string text;
  for (const auto& [key, value] : member.tags) {
    text += (text.empty() ? "" : ",") + key + "=" + value;
  }
  return text;
}

}  // namespace

void print_member_event(const std::string& type, const wire::MemberInfo& member, bool json) {
  if (json) {
    nlohmann::json out = member_object(member);
    out["type"] = type;
    std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
    return;
  }
  std::cout << type << " " << member.name << " " << member.address << " " << member.state << " "
            << member.role << " " << tags_text(member) << std::endl;
}

void print_members(const wire::MembersResponse& members, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& member : members.members) out.push_back(member_object(member));
    std::cout << out.dump(2) << "\n";
    return;
  }
  size_t name_width = 4, address_width = 7;
  for (const auto& member : members.members) {
    name_width = std::max(name_width, member.name.size());
    address_width = std::max(address_width, member.address.size());
  }
  size_t rpc_width = 11;
  for (const auto& member : members.members) {
    rpc_width = std::max(rpc_width, member.rpc_address.size());
  }
  std::printf("%-*s  %-*s  %-7s  %-6s  %-*s  %s\n", static_cast<int>(name_width), "Node",
              static_cast<int>(address_width), "Address", "Status", "Role",
              static_cast<int>(rpc_width), "RPC Address", "Tags");
  for (const auto& member : members.members) {
    std::printf("%-*s  %-*s  %-7s  %-6s  %-*s  %s\n", static_cast<int>(name_width),
                member.name.c_str(), static_cast<int>(address_width), member.address.c_str(),
                member.state.c_str(), member.role.c_str(), static_cast<int>(rpc_width),
                member.rpc_address.c_str(), tags_text(member).c_str());
  }
}

void print_status(const wire::StatusResponse& status, bool json) {
  if (json) {
    nlohmann::json counters = nlohmann::json::object();
    for (const auto& counter : status.counters) counters[counter.name] = counter.value;
    nlohmann::json out = {{"node", status.node_name},
                          {"server", status.server},
                          {"raft_role", status.raft_role},
                          {"term", status.term},
                          {"leader", status.leader_name},
                          {"commit_index", status.commit_index},
                          {"applied_index", status.applied_index},
                          {"last_log_index", status.last_log_index},
                          {"voters", status.voters},
                          {"learners", status.learners},
                          {"server_id", status.server_id},
                          {"cluster_id", status.cluster_id},
                          {"raft_report", status.raft_report},
                          {"counters", counters}};
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::string voters;
  for (const auto& voter : status.voters) voters += (voters.empty() ? "" : ", ") + voter;
  std::printf("node:           %s (%s)\n", status.node_name.c_str(),
              status.server ? "server" : "client");
  std::printf("raft role:      %s\n", status.raft_role.c_str());
  std::printf("term:           %llu\n", static_cast<unsigned long long>(status.term));
  std::printf("leader:         %s\n",
              status.leader_name.empty() ? "(none known)" : status.leader_name.c_str());
  std::printf("commit index:   %llu\n", static_cast<unsigned long long>(status.commit_index));
  std::printf("applied index:  %llu\n", static_cast<unsigned long long>(status.applied_index));
  std::printf("last log index: %llu\n", static_cast<unsigned long long>(status.last_log_index));
  std::printf("voters:         %s\n", voters.empty() ? "(not bootstrapped)" : voters.c_str());
  if (!status.learners.empty()) {
    std::string learners;
    for (const auto& learner : status.learners) {
      learners += (learners.empty() ? "" : ", ") + learner;
    }
    std::printf("learners:       %s\n", learners.c_str());
  }
  if (!status.server_id.empty()) std::printf("server id:      %s\n", status.server_id.c_str());
  if (!status.cluster_id.empty()) std::printf("cluster id:     %s\n", status.cluster_id.c_str());
  if (!status.raft_report.empty()) std::printf("raft:           %s\n", status.raft_report.c_str());
  std::printf("counters:\n");
  for (const auto& counter : status.counters) {
    std::printf("  %-30s %llu\n", counter.name.c_str(),
                static_cast<unsigned long long>(counter.value));
  }
}

void print_raft_peers(const wire::RaftPeersResponse& peers, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& peer : peers.peers) {
      out.push_back({{"name", peer.name},
                     {"server_id", peer.server_id},
                     {"role", peer.voter ? "voter" : "learner"},
                     {"leader", peer.leader},
                     {"match_index", peer.match_index},
                     {"last_contact_ms", peer.last_contact_ms},
                     {"health", peer.health}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("%-16s  %-16s  %-8s  %-7s  %-11s  %-12s  %s\n", "Node", "Server id", "Role",
              "Leader", "Match index", "Last contact", "Gossip");
  for (const auto& peer : peers.peers) {
    const std::string contact =
        peer.leader ? "-" : std::to_string(peer.last_contact_ms) + " ms";
    std::printf("%-16s  %-16s  %-8s  %-7s  %-11llu  %-12s  %s\n",
                peer.name.empty() ? "(unknown)" : peer.name.c_str(), peer.server_id.c_str(),
                peer.voter ? "voter" : "learner", peer.leader ? "yes" : "no",
                static_cast<unsigned long long>(peer.match_index), contact.c_str(),
                peer.health.c_str());
  }
  std::printf("commit index %llu, last index %llu\n",
              static_cast<unsigned long long>(peers.commit_index),
              static_cast<unsigned long long>(peers.last_index));
}

void print_sessions(const wire::SessionListResponse& sessions, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& session : sessions.sessions) {
      out.push_back({{"id", session.id},
                     {"node", session.node},
                     {"ttl_ms", session.ttl_ms},
                     {"created_ms", session.created_ms},
                     {"renewed_ms", session.renewed_ms},
                     {"description", session.description},
                     {"locks", session.locks}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("%-10s  %-16s  %-8s  %-24s  %s\n", "Session", "Node", "TTL", "Locks",
              "Description");
  for (const auto& session : sessions.sessions) {
    std::string locks;
    for (const auto& lock : session.locks) locks += (locks.empty() ? "" : ",") + lock;
    const std::string ttl =
        session.ttl_ms == 0 ? "-" : std::to_string(session.ttl_ms / 1000) + "s";
    std::printf("%-10llu  %-16s  %-8s  %-24s  %s\n",
                static_cast<unsigned long long>(session.id), session.node.c_str(), ttl.c_str(),
                locks.empty() ? "-" : locks.c_str(), session.description.c_str());
  }
}

void print_locks(const wire::LockListResponse& locks, bool json) {
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& lock : locks.locks) {
      nlohmann::json holders = nlohmann::json::array();
      for (const auto& holder : lock.holders) {
        holders.push_back({{"session", holder.session},
                           {"node", holder.node},
                           {"token", holder.token},
                           {"since_ms", holder.since_ms}});
      }
      nlohmann::json waiters = nlohmann::json::array();
      for (const auto& waiter : lock.waiters) {
        waiters.push_back(
            {{"session", waiter.session}, {"node", waiter.node}, {"since_ms", waiter.since_ms}});
      }
      out.push_back({{"name", lock.name},
                     {"limit", lock.limit},
                     {"holders", holders},
                     {"waiters", waiters},
                     {"blocked_until_ms", lock.blocked_until_ms}});
    }
    std::cout << out.dump(2) << "\n";
    return;
  }
  std::printf("%-24s  %-6s  %-8s  %-10s  %-16s  %-14s  %s\n", "Lock", "Slots", "Role", "Session",
              "Node", "Token", "Since (ms)");
  for (const auto& lock : locks.locks) {
    const std::string slots =
        std::to_string(lock.holders.size()) + "/" + std::to_string(lock.limit);
    if (lock.holders.empty() && lock.waiters.empty()) {
      std::printf("%-24s  %-6s  (blocked by lock-delay until %lld ms)\n", lock.name.c_str(),
                  slots.c_str(), static_cast<long long>(lock.blocked_until_ms));
    }
    for (const auto& holder : lock.holders) {
      std::printf("%-24s  %-6s  %-8s  %-10llu  %-16s  %-14llu  %lld\n", lock.name.c_str(),
                  slots.c_str(), "holder", static_cast<unsigned long long>(holder.session),
                  holder.node.c_str(), static_cast<unsigned long long>(holder.token),
                  static_cast<long long>(holder.since_ms));
    }
    for (const auto& waiter : lock.waiters) {
      std::printf("%-24s  %-6s  %-8s  %-10llu  %-16s  %-14s  %lld\n", lock.name.c_str(),
                  slots.c_str(), "waiter", static_cast<unsigned long long>(waiter.session),
                  waiter.node.c_str(), "-", static_cast<long long>(waiter.since_ms));
    }
  }
}

}  // namespace conclave::agent
