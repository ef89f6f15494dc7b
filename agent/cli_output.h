// How the `conclave` command prints what the agent answers: a table for people (the default)
// or JSON for scripts (-format json). JSON field names are stable and snake_case.
#pragma once

#include <string>
#include <vector>

#include "client/kv_watch.h"
#include "wire/client_messages.h"

namespace conclave::agent {

void print_members(const wire::MembersResponse& members, bool json);
// `members -watch`: one line per member of the snapshot ("member") and per change after it:
// "TYPE NAME ADDRESS STATUS ROLE TAGS"; JSON: one object per line, the member's fields as in
// `members -format json` plus "type".
void print_member_event(const std::string& type, const wire::MemberInfo& member, bool json);
void print_status(const wire::StatusResponse& status, bool json);
void print_sessions(const wire::SessionListResponse& sessions, bool json);
void print_locks(const wire::LockListResponse& locks, bool json);
void print_raft_peers(const wire::RaftPeersResponse& peers, bool json);
// One key as JSON: {"key", "value", "create_revision", "mod_revision", "version"}. Values
// that are not UTF-8 text are printed with U+FFFD for the bytes JSON cannot carry (plain
// `kv get` prints the exact bytes).
std::string kv_entry_json(const wire::KvEntry& entry);
// `kv txn`: SUCCESS or FAILURE, then one line per operation ("OK revision N", "deleted N",
// a get's value or "(not found)"); JSON: {"succeeded", "revision", "results": [{"type":
// "put", "revision"} | {"type": "delete", "deleted"} | {"type": "get", "found", and the key's
// fields when found}]}.
void print_txn(const wire::KvTxnResponse& response, bool json);
// `kv watch`: one line per change, "PUT KEY VALUE" or "DELETE KEY" (with the revision: "PUT
// KEY VALUE (rev N)"); JSON: one object per line, the key's fields plus "type": "put" or
// "delete" (a delete: value empty, version and create_revision 0, mod_revision the delete's
// revision), so every event has the same fields.
void print_kv_event(const wire::KvEvent& event, bool json);
// A watch that fell behind the cluster's history (client/kv_watch.h): "FELL_BEHIND ..." naming
// the revisions lost and the one it resumes from; JSON: {"type": "fell_behind",
// "missed_from_revision", "resume_revision"}.
// `keyring ...`: each key with the agents holding it and using it as primary. JSON:
// {"keys": [{"key", "agents", "primary"}], "agents": N, "failed": [{"name", "error"}]}. Every
// agent that failed is also named on stderr, with why. Returns false when some agent failed.
bool print_keyring(const wire::KeyringResponse& response, bool json);
void print_watch_fell_behind(const client::FellBehind& behind, bool json);
// `kv ls`: keys one per line; with `values`, "KEY<TAB>VALUE"; JSON: an array of keys as above.
void print_kv_list(const std::vector<wire::KvEntry>& entries, bool values, bool json);

}  // namespace conclave::agent
