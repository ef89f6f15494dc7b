#include <catch2/catch.hpp>

#include "sim/history_checker.h"

using conclave::sim::check_history;
using conclave::sim::Operation;

namespace {

Operation put(int client, std::string key, std::string value, int64_t invoke, int64_t response,
              uint64_t revision, bool ok = true) {
  Operation op;
  op.client = client;
  op.is_put = true;
  op.key = std::move(key);
  op.value = std::move(value);
  op.invoke_ms = invoke;
  op.response_ms = response;
  op.ok = ok;
  op.revision = revision;
  return op;
}

Operation get(int client, std::string key, std::string value, int64_t invoke, int64_t response,
              uint64_t revision, bool found = true) {
  Operation op;
  op.client = client;
  op.key = std::move(key);
  op.value = std::move(value);
  op.invoke_ms = invoke;
  op.response_ms = response;
  op.ok = true;
  op.found = found;
  op.revision = revision;
  return op;
}

}  // namespace

TEST_CASE("a consistent history passes") {
  std::vector<Operation> history = {
      get(0, "a", "", 0, 5, 0, false),
      put(0, "a", "v1", 10, 20, 1),
      get(1, "a", "v1", 15, 25, 1),  // concurrent with the put: may see it
      put(1, "a", "v2", 30, 40, 2),
      get(0, "a", "v2", 41, 50, 2),
  };
  CHECK(check_history(history).empty());
}

TEST_CASE("a stale read is reported") {
  std::vector<Operation> history = {
      put(0, "a", "v1", 10, 20, 1),
      put(0, "a", "v2", 30, 40, 2),
      get(1, "a", "v1", 50, 60, 1),  // v2 finished before this get started
  };
  auto violations = check_history(history);
  REQUIRE(violations.size() == 1);
  CHECK(violations[0].find("stale read") != std::string::npos);
}

TEST_CASE("a missing key after an acknowledged put is a stale read") {
  std::vector<Operation> history = {
      put(0, "a", "v1", 10, 20, 1),
      get(1, "a", "", 30, 40, 0, false),
  };
  REQUIRE(check_history(history).size() == 1);
}

TEST_CASE("a value nobody wrote is a phantom read") {
  std::vector<Operation> history = {get(1, "a", "ghost", 30, 40, 3)};
  auto violations = check_history(history);
  REQUIRE(violations.size() == 1);
  CHECK(violations[0].find("phantom") != std::string::npos);
}

TEST_CASE("puts in real-time order must get increasing revisions") {
  std::vector<Operation> history = {
      put(0, "a", "v1", 10, 20, 5),
      put(1, "b", "v2", 30, 40, 4),
  };
  auto violations = check_history(history);
  REQUIRE(violations.size() == 1);
  CHECK(violations[0].find("revision order") != std::string::npos);
}

TEST_CASE("an unacknowledged put may or may not be seen") {
  std::vector<Operation> history = {
      put(0, "a", "v1", 10, 2000, 0, /*ok=*/false),
      get(1, "a", "v1", 3000, 3010, 1),
      get(1, "a", "", 5, 8, 0, false),
  };
  CHECK(check_history(history).empty());
}
