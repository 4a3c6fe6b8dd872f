#pragma once

#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

namespace authd::test {

// Runs one coroutine to its end on io; exceptions come out of get() here, on the test's thread
// (Catch2 asserts on that thread only).
template <class T>
T run_one(boost::asio::io_context& io, boost::asio::awaitable<T> coroutine) {
  io.restart();
  auto future = boost::asio::co_spawn(io, std::move(coroutine), boost::asio::use_future);
  io.run();
  return future.get();
}

}  // namespace authd::test
