// The text form of `conclave kv txn` (agent/txn_text.h): every construct, and errors that name
// the line.
#include <catch2/catch.hpp>

#include "agent/txn_text.h"

using namespace conclave;
using namespace conclave::agent;

TEST_CASE("txn text: comparisons and both branches, with quoting and comments") {
  auto txn = parse_txn(R"(# move the config forward only if nobody changed it
if:
  mod("config/a") = 7
  value(config/b) != "two words"   # bare keys work too
  version("k") > 0
  create("k") < 18446744073709551615
then:
  put config/a "new \"value\"\n"
  del config/tmp/ -prefix
  get config/a

else:
  get config/a
)");
  REQUIRE(txn.ok());
  const wire::KvTxnRequest& t = txn.value();
  REQUIRE(t.compares.size() == 4);
  CHECK(t.compares[0] == wire::TxnCompare{"config/a", wire::TxnTarget::mod_revision,
                                          wire::TxnCompareOp::equal, "", 7});
  CHECK(t.compares[1] == wire::TxnCompare{"config/b", wire::TxnTarget::value,
                                          wire::TxnCompareOp::not_equal, "two words", 0});
  CHECK(t.compares[2].target == wire::TxnTarget::version);
  CHECK(t.compares[2].op == wire::TxnCompareOp::greater);
  CHECK(t.compares[3].number == UINT64_MAX);
  CHECK(t.compares[3].op == wire::TxnCompareOp::less);
  REQUIRE(t.success.size() == 3);
  CHECK(t.success[0] == wire::TxnOp{wire::TxnOpType::put, "config/a", "new \"value\"\n", false});
  CHECK(t.success[1] == wire::TxnOp{wire::TxnOpType::del, "config/tmp/", "", true});
  CHECK(t.success[2] == wire::TxnOp{wire::TxnOpType::get, "config/a", "", false});
  REQUIRE(t.failure.size() == 1);
  CHECK(t.failure[0].type == wire::TxnOpType::get);
}

TEST_CASE("txn text: sections are optional but ordered") {
  auto only_then = parse_txn("then:\n put a 1\n");
  REQUIRE(only_then.ok());
  CHECK(only_then.value().compares.empty());
  CHECK(only_then.value().success.size() == 1);
  auto out_of_order = parse_txn("then:\n put a 1\nif:\n mod(a) = 1\n");
  REQUIRE_FALSE(out_of_order.ok());
  CHECK(out_of_order.error().message ==
        "transaction line 3: 'if:' again or out of order (if:, then:, else:)");
}

TEST_CASE("txn text: mistakes are refused with the line and what was expected") {
  auto expect_error = [](const char* text, const std::string& message) {
    auto txn = parse_txn(text);
    REQUIRE_FALSE(txn.ok());
    CHECK(txn.error().code == ErrorCode::invalid_argument);
    CHECK(txn.error().message == message);
  };
  expect_error("", "the transaction is empty: give if:, then: and else: sections on stdin "
                   "(see `conclave kv txn --help`)");
  expect_error("put a 1\n", "transaction line 1: expected if:, then: or else: before 'put'");
  expect_error("if:\n  age(a) = 1\n",
               "transaction line 2: 'age' is not value, version, create or mod");
  expect_error("if:\n  mod(a) => 1\n",
               "transaction line 2: expected a comparison such as mod(\"KEY\") = 7 or "
               "value(\"KEY\") != \"text\"");
  expect_error("if:\n  mod(a) = -1\n", "transaction line 2: '-1' is not a whole number");
  expect_error("if:\n  mod(a) = 99999999999999999999\n",
               "transaction line 2: '99999999999999999999' is too large");
  expect_error("then:\n  put a\n",
               "transaction line 2: expected put KEY VALUE, get KEY, or del KEY [-prefix]");
  expect_error("then:\n  put a \"open\n", "transaction line 2: a quoted word is not closed with \"");
  expect_error("then:\n  put a \"\\x\"\n",
               "transaction line 2: unknown escape \\x (use \\\" \\\\ \\n or \\t)");
  std::string many = "then:\n";
  for (size_t i = 0; i <= wire::kMaxTxnOps; ++i) many += "get k\n";
  expect_error(many.c_str(), "transaction line 130: more than 128 operations");
}
