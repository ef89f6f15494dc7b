// KeyringStore: this agent's cluster keys (crypto/keyring.h), persisted so that a key rotation
// (`conclave keyring ...`) survives a restart, in a small SQLite database of their own,
// `<data-dir>/keyring.db`, readable by its owner only (mode 0600).
//
// Apart from conclave.db on purpose: keys change rarely, from the event loop, and must neither
// wait for nor mix with the Raft batches written on the worker thread. Each save is one
// transaction (WAL, synchronous=FULL): after save() returns, a crash keeps the new keys.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

struct sqlite3;

namespace conclave::store {

class KeyringStore {
 public:
  // Opens (creating if needed) the database at `path`. Errors name the path and the cause.
  static Result<std::unique_ptr<KeyringStore>> open(const std::string& path);
  ~KeyringStore();
  KeyringStore(const KeyringStore&) = delete;
  KeyringStore& operator=(const KeyringStore&) = delete;

  // The saved keys (base64), primary first; empty when none were ever saved.
  Result<std::vector<std::string>> load();
  // Replaces the saved keys.
  Status save(const std::vector<std::string>& keys);

 private:
  KeyringStore(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Status exec(const char* sql);

  sqlite3* db_;
  std::string path_;
};

}  // namespace conclave::store
