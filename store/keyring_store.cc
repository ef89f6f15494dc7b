#include "store/keyring_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

namespace conclave::store {

Result<std::unique_ptr<KeyringStore>> KeyringStore::open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return make_error(ErrorCode::storage, "cannot open the keyring " + path + ": " + why);
  }
  // The keys are secrets: only the agent's user may read them.
  ::chmod(path.c_str(), 0600);
  std::unique_ptr<KeyringStore> store(new KeyringStore(db, path));
  for (const char* sql : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                          "CREATE TABLE IF NOT EXISTS cluster_keys (position INTEGER PRIMARY "
                          "KEY, key TEXT NOT NULL)"}) {
    if (Status status = store->exec(sql); !status.ok()) return status.error();
  }
  return store;
}

KeyringStore::~KeyringStore() { sqlite3_close(db_); }

Status KeyringStore::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string why = message ? message : sqlite3_errmsg(db_);
    sqlite3_free(message);
    return make_error(ErrorCode::storage, "keyring " + path_ + ": " + why);
  }
  return Status();
}

Result<std::vector<std::string>> KeyringStore::load() {
  sqlite3_stmt* statement = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT key FROM cluster_keys ORDER BY position", -1, &statement,
                         nullptr) != SQLITE_OK) {
    return make_error(ErrorCode::storage, "keyring " + path_ + ": " + sqlite3_errmsg(db_));
  }
  std::vector<std::string> keys;
  int rc;
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) {
    const auto* text = sqlite3_column_text(statement, 0);
    keys.emplace_back(text ? reinterpret_cast<const char*>(text) : "");
  }
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) {
    return make_error(ErrorCode::storage, "keyring " + path_ + ": " + sqlite3_errmsg(db_));
  }
  return keys;
}

Status KeyringStore::save(const std::vector<std::string>& keys) {
  if (Status status = exec("BEGIN IMMEDIATE"); !status.ok()) return status;
  Status status = exec("DELETE FROM cluster_keys");
  sqlite3_stmt* statement = nullptr;
  if (status.ok() && sqlite3_prepare_v2(db_, "INSERT INTO cluster_keys (position, key) VALUES "
                                             "(?, ?)",
                                        -1, &statement, nullptr) != SQLITE_OK) {
    status = make_error(ErrorCode::storage, "keyring " + path_ + ": " + sqlite3_errmsg(db_));
  }
  for (size_t i = 0; status.ok() && i < keys.size(); ++i) {
    sqlite3_bind_int64(statement, 1, static_cast<sqlite3_int64>(i));
    sqlite3_bind_text(statement, 2, keys[i].c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(statement) != SQLITE_DONE) {
      status = make_error(ErrorCode::storage, "keyring " + path_ + ": " + sqlite3_errmsg(db_));
    }
    sqlite3_reset(statement);
  }
  sqlite3_finalize(statement);
  if (!status.ok()) {
    (void)exec("ROLLBACK");
    return status;
  }
  return exec("COMMIT");
}

}  // namespace conclave::store
