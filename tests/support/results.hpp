#pragma once

#include <variant>

#include <catch2/catch.hpp>

#include "auth/error.hpp"

// Reading a domain Result in a test: the refusal, or the value (a refusal is named in the failure).
namespace authd::test {

template <class T>
const auth::Error& error_of(const auth::Result<T>& outcome) {
  REQUIRE(std::holds_alternative<auth::Error>(outcome));
  return std::get<auth::Error>(outcome);
}

template <class T>
auth::ErrorKind kind_of(const auth::Result<T>& outcome) {
  return error_of(outcome).kind;
}

template <class T>
const T& value_of(const auth::Result<T>& outcome) {
  if (const auto* error = std::get_if<auth::Error>(&outcome)) {
    FAIL_CHECK("unexpected " << static_cast<int>(error->kind) << " " << error->code);
  }
  REQUIRE(std::holds_alternative<T>(outcome));
  return std::get<T>(outcome);
}

}  // namespace authd::test
