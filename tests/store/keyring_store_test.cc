// KeyringStore: the saved keys come back in order after reopening, a save replaces them, and
// the file is readable by its owner only.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "store/keyring_store.h"

using namespace conclave;
using conclave::store::KeyringStore;

TEST_CASE("keyring store: keys survive reopening, in order; a save replaces them") {
  char pattern[] = "/tmp/conclave-keyring-test-XXXXXX";
  const std::filesystem::path folder = mkdtemp(pattern);
  const std::string path = (folder / "keyring.db").string();
  {
    auto store = KeyringStore::open(path);
    REQUIRE(store.ok());
    CHECK(store.value()->load().value().empty());
    REQUIRE(store.value()->save({"primary", "older"}).ok());
  }
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0600);
  {
    auto store = KeyringStore::open(path);
    REQUIRE(store.ok());
    CHECK(store.value()->load().value() == std::vector<std::string>{"primary", "older"});
    REQUIRE(store.value()->save({"only"}).ok());
    CHECK(store.value()->load().value() == std::vector<std::string>{"only"});
  }
  auto refused = KeyringStore::open((folder / "missing-folder" / "keyring.db").string());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("missing-folder") != std::string::npos);
  std::filesystem::remove_all(folder);
}
