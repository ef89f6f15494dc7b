// shrink_violation (check/history_shrink.h): a long rejected history shrinks to the few
// operations that show the bug, still rejected; a linearizable one is left alone.
#include <catch2/catch.hpp>

#include "check/history_shrink.h"

using namespace conclave::check;

namespace {

Operation write(int client, const std::string& value, int64_t invoke_ms, int64_t response_ms) {
  Operation op;
  op.client = client;
  op.kind = OpKind::write;
  op.key = "k";
  op.written = value;
  op.invoke_ms = invoke_ms;
  op.response_ms = response_ms;
  return op;
}

Operation read(int client, Value seen, int64_t invoke_ms, int64_t response_ms) {
  Operation op;
  op.client = client;
  op.kind = OpKind::read;
  op.key = "k";
  op.observed = std::move(seen);
  op.invoke_ms = invoke_ms;
  op.response_ms = response_ms;
  return op;
}

bool rejected(const std::vector<Operation>& history) {
  auto verdict = check_linearizable(history);
  return verdict.ok() && verdict.value().overall() == Verdict::violation;
}

}  // namespace

TEST_CASE("a stale read among 600 operations shrinks to the three that prove it") {
  std::vector<Operation> history;
  int64_t t = 0;
  for (int i = 1; i <= 200; ++i) {
    history.push_back(write(1, "v" + std::to_string(i), t, t + 2));
    history.push_back(read(2, "v" + std::to_string(i), t + 3, t + 4));
    history.push_back(read(3, "v" + std::to_string(i), t + 3, t + 5));
    t += 10;
  }
  // The bug: a read long after v200 was written sees v5.
  history.push_back(read(4, std::string("v5"), t + 5, t + 6));
  auto verdict = check_linearizable(history);
  REQUIRE(verdict.ok());
  const KeyVerdict* key = verdict.value().find("k");
  REQUIRE(key != nullptr);
  REQUIRE(key->verdict == Verdict::violation);
  REQUIRE(key->stuck_response_ms.has_value());

  ShrinkResult shrunk = shrink_violation(history, key->stuck_response_ms);
  INFO("trials " << shrunk.trials);
  CHECK(rejected(shrunk.operations));
  // write v5, a later write, the stale read.
  CHECK(shrunk.operations.size() == 3);
  CHECK(shrunk.operations.back().observed == Value("v5"));
}

TEST_CASE("a lost compare-and-set race shrinks too, and a legal history is left alone") {
  // Two CAS from the same value both succeed: only one can.
  std::vector<Operation> history;
  for (int i = 0; i < 50; ++i) history.push_back(read(5, std::nullopt, i, i + 1));
  history.push_back(write(1, "a", 100, 101));
  Operation first;
  first.client = 2;
  first.kind = OpKind::cas;
  first.key = "k";
  first.expected = "a";
  first.written = "b";
  first.invoke_ms = 110;
  first.response_ms = 111;
  Operation second = first;
  second.client = 3;
  second.written = "c";
  second.invoke_ms = 120;
  second.response_ms = 121;
  history.push_back(first);
  history.push_back(second);
  REQUIRE(rejected(history));
  ShrinkResult shrunk = shrink_violation(history, std::nullopt);
  CHECK(rejected(shrunk.operations));
  CHECK(shrunk.operations.size() == 3);

  std::vector<Operation> legal = {write(1, "a", 0, 5), read(2, std::string("a"), 6, 7)};
  REQUIRE_FALSE(rejected(legal));
  CHECK(shrink_violation(legal, std::nullopt).operations.size() == 2);
}
