#include "server/listener.hpp"

#include <atomic>
#include <list>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/connection.hpp"

namespace authd::server {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// How often each worker looks for connections past their deadline: a deadline is a plain
// time stamp per connection, so a request costs no timer operation at all.
constexpr auto kSweepInterval = 250ms;
// Accepting again after running out of descriptors: first soon, then less and less often.
constexpr auto kFirstAcceptPause = 10ms;
constexpr auto kLongestAcceptPause = 1s;

struct Worker {
  explicit Worker(net::io_context& context) : io(context), sweeper(std::in_place, context) {}
  net::io_context& io;
  std::list<ConnectionState*> connections;  // this worker's, on its thread only
  // Reset by ~Listener: a worker can outlive the io_contexts (open connections keep it), its
  // timer must not.
  std::optional<net::steady_timer> sweeper;
};

// Keeps a connection in its worker's list for as long as it runs, and the worker alive: when
// authd stops with connections still open, their coroutine frames are destroyed with the
// io_contexts, after the listener.
class Registration {
 public:
  Registration(std::shared_ptr<Worker> worker, ConnectionState& state)
      : worker_(std::move(worker)),
        place_(worker_->connections.insert(worker_->connections.end(), &state)) {}
  ~Registration() { worker_->connections.erase(place_); }
  Registration(const Registration&) = delete;
  Registration& operator=(const Registration&) = delete;

 private:
  std::shared_ptr<Worker> worker_;
  std::list<ConnectionState*>::iterator place_;
};

void sweep(Worker& worker) {
  worker.sweeper->expires_after(kSweepInterval);
  worker.sweeper->async_wait([&worker](boost::system::error_code ec) {
    if (ec) return;
    const auto now = Clock::now();
    for (ConnectionState* state : worker.connections) {
      if (state->socket != nullptr && now >= state->deadline) {
        boost::system::error_code ignored;
        state->socket->close(ignored);
        state->socket = nullptr;
      }
    }
    sweep(worker);
  });
}

}  // namespace

struct Listener::Impl : std::enable_shared_from_this<Listener::Impl> {
  Impl(App& a, const std::vector<net::io_context*>& contexts, net::ssl::context* t)
      : app(a), tls(t) {
    for (auto* context : contexts) workers.push_back(std::make_shared<Worker>(*context));
  }

  App& app;
  net::ssl::context* tls;
  std::vector<std::shared_ptr<Worker>> workers;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::atomic<std::size_t> live{0};
  std::size_t next_worker = 0;

  net::awaitable<void> accept_loop(tcp::acceptor& acceptor);
  net::awaitable<void> session(std::shared_ptr<Worker> worker, Socket socket);
};

Listener::Listener(App& app, std::vector<net::io_context*> workers, net::ssl::context* tls)
    : impl_(std::make_shared<Impl>(app, workers, tls)) {}

Listener::~Listener() {
  // The io_contexts have stopped, and are destroyed after this: I/O objects go now. The rest of
  // Impl may live on in the handlers of connections cut at the drain deadline.
  impl_->acceptors.clear();
  for (auto& worker : impl_->workers) worker->sweeper.reset();
}

void Listener::start() {
  auto& io = impl_->workers.front()->io;
  const auto address = net::ip::make_address(impl_->app.config.listen_host);
  const tcp::endpoint endpoint(address, impl_->app.config.listen_port);
  auto acceptor = std::make_unique<tcp::acceptor>(io);
  acceptor->open(endpoint.protocol());
  acceptor->set_option(net::socket_base::reuse_address(true));
  if (address.is_v6()) acceptor->set_option(net::ip::v6_only(false));
  acceptor->bind(endpoint);
  acceptor->listen(net::socket_base::max_listen_connections);
  auto& ref = *acceptor;
  impl_->acceptors.push_back(std::move(acceptor));
  for (auto& worker : impl_->workers) {
    net::post(worker->io, [w = worker.get()] { sweep(*w); });
  }
  auto loop = impl_->accept_loop(ref);
  net::co_spawn(io, std::move(loop), [app = &impl_->app](std::exception_ptr error) {
    if (error) app->log.event("error", "accept loop stopped unexpectedly");
  });
}

unsigned short Listener::port() const {
  return impl_->acceptors.empty() ? 0 : impl_->acceptors.front()->local_endpoint().port();
}

std::size_t Listener::connections() const {
  return impl_->live.load();
}

void Listener::drain(std::chrono::milliseconds deadline,
                     std::function<void(std::size_t left)> done) {
  auto impl = impl_;
  net::post(impl->workers.front()->io, [impl, deadline, done = std::move(done)]() mutable {
    impl->app.draining = true;
    for (auto& acceptor : impl->acceptors) {
      boost::system::error_code ignored;
      acceptor->close(ignored);
    }
    // Idle keep-alive connections close now; busy ones see `draining` after their answer.
    for (auto& worker : impl->workers) {
      net::post(worker->io, [w = worker.get()] {
        for (ConnectionState* state : w->connections) {
          if (state->idle && state->socket != nullptr) {
            boost::system::error_code ignored;
            state->socket->cancel(ignored);
          }
        }
      });
    }
    // Poll until the last busy connection has answered, or the deadline passes.
    auto timer = std::make_shared<net::steady_timer>(impl->workers.front()->io);
    auto until = Clock::now() + deadline;
    auto check = std::make_shared<std::function<void()>>();
    *check = [impl, timer, until, done, check] {
      const std::size_t left = impl->live.load();
      if (left == 0 || Clock::now() >= until) {
        done(left);
        *check = nullptr;  // breaks the self-reference
        return;
      }
      timer->expires_after(20ms);
      timer->async_wait([check](boost::system::error_code) {
        if (*check) (*check)();
      });
    };
    (*check)();
  });
}

namespace {

// Errors that say the process or the system is short of resources: the next accept would fail
// the same way at once, so it waits.
bool out_of_resources(const boost::system::error_code& ec) {
  return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
         ec == net::error::no_memory || ec == boost::system::errc::too_many_files_open_in_system;
}

}  // namespace

net::awaitable<void> Listener::Impl::accept_loop(tcp::acceptor& acceptor) {
  auto self = shared_from_this();
  auto pause = kFirstAcceptPause;
  bool paused = false;    // out of descriptors: said once, until an accept works again
  bool at_limit = false;  // at AUTHD_MAX_CONNECTIONS: said once, until there is room again
  for (;;) {
    const std::shared_ptr<Worker>& worker = workers[next_worker % workers.size()];
    auto [ec, socket] = co_await acceptor.async_accept(worker->io.get_executor(),
                                                       net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // A connection reset before it was accepted costs nothing; anything else (out of
      // descriptors above all) waits and tries again, longer each time, instead of spinning.
      if (ec == net::error::connection_aborted) continue;
      if (!paused && out_of_resources(ec)) {
        app.log.event("warn", "cannot accept (" + ec.message() +
                                  "): serving the open connections, accepting again later");
      }
      paused = paused || out_of_resources(ec);
      net::steady_timer timer(acceptor.get_executor(), pause);
      co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      pause = std::min<std::chrono::milliseconds>(pause * 2, kLongestAcceptPause);
      continue;
    }
    if (paused) app.log.event("info", "accepting connections again");
    paused = false;
    pause = kFirstAcceptPause;
    if (live.load() >= app.config.max_connections) {
      if (!at_limit) {
        app.log.event("warn", "AUTHD_MAX_CONNECTIONS (" +
                                  std::to_string(app.config.max_connections) +
                                  ") open: closing new connections at once");
      }
      at_limit = true;
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    at_limit = false;
    ++next_worker;
    socket.set_option(tcp::no_delay(true), ec);
    ++live;
    auto on_done = [self](std::exception_ptr error) {
      if (error) self->app.log.event("error", "a connection ended with an unexpected exception");
      --self->live;
    };
    auto connection = session(worker, std::move(socket));
    net::co_spawn(worker->io, std::move(connection), on_done);
  }
}

net::awaitable<void> Listener::Impl::session(std::shared_ptr<Worker> worker, Socket socket) {
  ConnectionState state;
  const Registration registration(worker, state);
  co_await run_connection(app, std::move(socket), state, tls);
}

}  // namespace authd::server
