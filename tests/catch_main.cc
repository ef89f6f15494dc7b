// The one translation unit that compiles Catch2's runner (it is heavy; every test file only
// includes the declarations).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
