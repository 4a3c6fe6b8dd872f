#include <catch2/catch.hpp>

#include <chrono>
#include <future>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>

#include "auth/coalesce.hpp"

namespace net = boost::asio;
using namespace std::chrono_literals;
using Coalescer = authd::auth::Coalescer<std::size_t>;

namespace {

// What a batch's statement saw: how many requests it did.
struct Runs {
  std::vector<std::size_t> sizes;
  bool fail = false;
};

// A request: joins key, its "statement" takes a moment and records its size.
net::awaitable<Coalescer::Share> request(Coalescer& coalescer, Runs& runs, std::string key) {
  auto run = [&runs](std::size_t n) -> net::awaitable<std::size_t> {
    net::steady_timer pause(co_await net::this_coro::executor, 5ms);
    co_await pause.async_wait(net::use_awaitable);
    runs.sizes.push_back(n);
    if (runs.fail) throw std::runtime_error("the statement failed");
    co_return n * 100;
  };
  co_return co_await coalescer.join(std::move(key), run);
}

}  // namespace

TEST_CASE("requests arriving while one runs are carried out by one statement, each in its place",
          "[coalesce]") {
  net::io_context io;
  Coalescer coalescer;
  Runs runs;
  std::vector<std::future<Coalescer::Share>> shares;
  for (int i = 0; i < 10; ++i) {
    shares.push_back(net::co_spawn(io, request(coalescer, runs, "k"), net::use_future));
  }
  shares.push_back(net::co_spawn(io, request(coalescer, runs, "other"), net::use_future));
  io.run();
  // The first of "k" alone, the nine that came while it ran together; "other" apart.
  REQUIRE(runs.sizes.size() == 3);
  std::vector<bool> place(9, false);
  for (int i = 0; i < 10; ++i) {
    const auto share = shares[i].get();
    if (i == 0) {
      CHECK(share.size == 1);
      CHECK(share.position == 0);
      CHECK(*share.result == 100);
    } else {
      CHECK(share.size == 9);
      REQUIRE(share.position < 9);
      CHECK_FALSE(place[share.position]);
      place[share.position] = true;
      CHECK(*share.result == 900);
    }
  }
  CHECK(shares[10].get().size == 1);

  // Idle again: the next request runs at once, alone.
  runs.sizes.clear();
  auto later = net::co_spawn(io, request(coalescer, runs, "k"), net::use_future);
  io.restart();
  io.run();
  CHECK(later.get().size == 1);
  CHECK(runs.sizes == std::vector<std::size_t>{1});
}

TEST_CASE("a failed statement fails every request it carried, and the key is usable after",
          "[coalesce]") {
  net::io_context io;
  Coalescer coalescer;
  Runs runs;
  runs.fail = true;
  std::vector<std::future<Coalescer::Share>> shares;
  for (int i = 0; i < 4; ++i) {
    shares.push_back(net::co_spawn(io, request(coalescer, runs, "k"), net::use_future));
  }
  io.run();
  for (auto& s : shares) CHECK_THROWS_AS(s.get(), std::runtime_error);
  runs.fail = false;
  auto again = net::co_spawn(io, request(coalescer, runs, "k"), net::use_future);
  io.restart();
  io.run();
  CHECK(*again.get().result == 100);
}
