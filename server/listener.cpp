#include "server/listener.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <list>
#include <optional>
#include <random>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "auth/hash_pool.hpp"
#include "server/problem.hpp"
#include "server/routes.hpp"
#include "server/wire.hpp"

namespace authd::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Sockets bound to their worker's concrete executor: no type-erased executor on the hot path.
using Socket = net::basic_stream_socket<tcp, net::io_context::executor_type>;
using TlsStream = net::ssl::stream<Socket>;

constexpr std::size_t kHeaderLimit = 8 * 1024;
constexpr std::size_t kBodyLimit = 16 * 1024;
constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kFlushAt = 64 * 1024;  // pipelined answers are sent at least this often
constexpr std::size_t kFileChunk = 64 * 1024;
constexpr auto kHeaderTimeout = 10s;
constexpr auto kIdleTimeout = 60s;
constexpr auto kWriteTimeout = 30s;
constexpr auto kTlsShutdownTimeout = 1s;
// How often each worker looks for connections past their deadline: a deadline is a plain
// time stamp per connection, so a request costs no timer operation at all.
constexpr auto kSweepInterval = 250ms;

// What the worker's sweeper and drain() need to reach a connection. Touched only on the
// connection's own worker thread.
struct ConnectionState {
  Socket* socket = nullptr;
  Clock::time_point deadline = Clock::time_point::max();
  bool idle = true;
};

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

class FileHandle {
 public:
  explicit FileHandle(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {}
  ~FileHandle() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }

 private:
  int fd_;
};

std::string make_request_id() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  constexpr char kHex[] = "0123456789abcdef";
  std::uint64_t value = random();
  std::string id(16, '0');
  for (int i = 15; i >= 0; --i, value >>= 4) id[static_cast<std::size_t>(i)] = kHex[value & 15];
  return id;
}

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Request base_request(const tcp::endpoint& peer, bool tls) {
  Request base;
  const auto address = peer.address();
  if (address.is_v4()) {
    const auto bytes = address.to_v4().to_bytes();
    base.peer[10] = base.peer[11] = 0xff;
    std::copy(bytes.begin(), bytes.end(), base.peer.begin() + 12);
  } else {
    const auto bytes = address.to_v6().to_bytes();
    std::copy(bytes.begin(), bytes.end(), base.peer.begin());
  }
  base.peer_text = address.to_string();
  base.tls = tls;
  return base;
}

template <class Stream>
net::awaitable<bool> flush(Stream& stream, ConnectionState& state, std::string& out) {
  state.deadline = Clock::now() + kWriteTimeout;
  auto [ec, n] =
      co_await net::async_write(stream, net::buffer(out), net::as_tuple(net::use_awaitable));
  out.clear();
  co_return !ec;
}

// Answers a request that could not be read, after what is already waiting in out; the caller
// then closes the connection.
template <class Stream>
net::awaitable<void> refuse(Stream& stream, ConnectionState& state, std::string& out, int status,
                            std::string_view code, std::string_view detail) {
  append_response(out, problem(status, code, detail), WireHead{{}, true});
  co_await flush(stream, state, out);
}

// pread() on the file-read threads, so a disk slow to answer never stalls an event loop; the
// coroutine resumes on its own thread with the byte count (-1 on an error).
net::awaitable<ssize_t> read_elsewhere(net::thread_pool& readers, int fd, char* data,
                                       std::size_t length, off_t offset) {
  auto initiation = [&readers, fd, data, length, offset](auto handler) {
    auto work = net::make_work_guard(net::get_associated_executor(handler));
    net::post(readers, [handler = std::move(handler), work = std::move(work), fd, data, length,
                        offset]() mutable {
      const ssize_t n = ::pread(fd, data, length, offset);
      net::dispatch(work.get_executor(),
                    [handler = std::move(handler), n]() mutable { std::move(handler)(n); });
    });
  };
  co_return co_await net::async_initiate<decltype(net::use_awaitable), void(ssize_t)>(
      initiation, net::use_awaitable);
}

// A backup CSV: the head, then the file in chunks, never whole in memory. False when the
// connection cannot go on (the client left, or the file shrank under us).
template <class Stream>
net::awaitable<bool> send_file(Stream& stream, ConnectionState& state, std::string& out,
                               Response& response, const WireHead& head,
                               net::thread_pool& readers) {
  const FileHandle file(response.file->path);
  struct stat info {};
  if (file.fd() < 0 || ::fstat(file.fd(), &info) != 0 || !S_ISREG(info.st_mode)) {
    response = problem(410, "backup_file_missing", "The backup's file is no longer there.");
    append_response(out, response, head);
    co_return true;
  }
  const auto size = static_cast<std::size_t>(info.st_size);
  append_head(out, response, head, size,
              "Content-Disposition: attachment; filename=\"" + response.file->download_name + "\"");
  // Each chunk is read straight into the output buffer, behind the head the first time.
  std::size_t sent = 0;
  while (sent < size) {
    const std::size_t queued = out.size();
    out.resize(queued + std::min(kFileChunk, size - sent));
    const ssize_t n = co_await read_elsewhere(readers, file.fd(), out.data() + queued,
                                              out.size() - queued, static_cast<off_t>(sent));
    if (n <= 0) co_return false;
    out.resize(queued + static_cast<std::size_t>(n));
    sent += static_cast<std::size_t>(n);
    if (!co_await flush(stream, state, out)) co_return false;
  }
  co_return true;
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
  net::awaitable<void> serve_plain(std::shared_ptr<Worker> worker, Socket socket);
  net::awaitable<void> serve_tls(std::shared_ptr<Worker> worker, Socket socket);
  template <class Stream>
  net::awaitable<void> run_connection(Stream& stream, ConnectionState& state, const Request& base);
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

net::awaitable<void> Listener::Impl::accept_loop(tcp::acceptor& acceptor) {
  auto self = shared_from_this();
  for (;;) {
    const std::shared_ptr<Worker>& worker = workers[next_worker++ % workers.size()];
    auto [ec, socket] = co_await acceptor.async_accept(worker->io.get_executor(),
                                                       net::as_tuple(net::use_awaitable));
    if (ec == net::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors and the like: pause instead of spinning.
      net::steady_timer pause(acceptor.get_executor(), 50ms);
      co_await pause.async_wait(net::use_awaitable);
      continue;
    }
    socket.set_option(tcp::no_delay(true), ec);
    ++live;
    auto on_done = [self](std::exception_ptr error) {
      if (error) self->app.log.event("error", "a connection ended with an unexpected exception");
      --self->live;
    };
    if (tls != nullptr) {
      auto session = serve_tls(worker, std::move(socket));
      net::co_spawn(worker->io, std::move(session), on_done);
    } else {
      auto session = serve_plain(worker, std::move(socket));
      net::co_spawn(worker->io, std::move(session), on_done);
    }
  }
}

net::awaitable<void> Listener::Impl::serve_plain(std::shared_ptr<Worker> worker, Socket socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  ConnectionState state;
  const Registration registration(worker, state);
  state.socket = &socket;
  const Request base = base_request(peer, false);
  co_await run_connection(socket, state, base);
  state.socket = nullptr;
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

net::awaitable<void> Listener::Impl::serve_tls(std::shared_ptr<Worker> worker, Socket socket) {
  boost::system::error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  if (ec) co_return;
  TlsStream stream(std::move(socket), *tls);
  ConnectionState state;
  const Registration registration(worker, state);
  state.socket = &stream.next_layer();
  state.deadline = Clock::now() + kHeaderTimeout;
  auto [hs_ec] = co_await stream.async_handshake(net::ssl::stream_base::server,
                                                 net::as_tuple(net::use_awaitable));
  if (!hs_ec) {
    const Request base = base_request(peer, true);
    co_await run_connection(stream, state, base);
    if (!app.draining && state.socket != nullptr) {
      state.deadline = Clock::now() + kTlsShutdownTimeout;
      co_await stream.async_shutdown(net::as_tuple(net::use_awaitable));
    }
  }
  state.socket = nullptr;
  stream.next_layer().shutdown(tcp::socket::shutdown_send, ec);
}

template <class Stream>
net::awaitable<void> Listener::Impl::run_connection(Stream& stream, ConnectionState& state,
                                                    const Request& base) {
  beast::flat_buffer buffer;
  std::string out;  // answers not yet written: pipelined ones leave together

  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(kBodyLimit);
    parser.eager(true);
    bool header_handled = false;
    Clock::time_point started{};
    bool begun = false;  // bytes of this request have arrived: its 10 s have started
    Clock::time_point request_deadline{};

    // Parse what has arrived; read more only when it is not a whole request yet.
    while (!parser.is_done()) {
      if (buffer.size() > 0) {
        if (!begun) {
          begun = true;
          started = Clock::now();
          state.idle = false;
          request_deadline = started + kHeaderTimeout;
          state.deadline = request_deadline;
        }
        beast::error_code ec;
        const std::size_t used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == http::error::header_limit) {
          co_await refuse(stream, state, out, 431, "headers_too_large",
                          "Request line and headers exceed 8 KiB.");
          co_return;
        }
        if (ec == http::error::body_limit) {
          co_await refuse(stream, state, out, 413, "body_too_large",
                          "Request bodies are limited to 16 KiB.");
          co_return;
        }
        if (ec && ec != http::error::need_more) {
          co_await refuse(stream, state, out, 400, "malformed_request",
                          "The request is not valid HTTP/1.1.");
          co_return;
        }
        if (parser.is_header_done() && !header_handled) {
          header_handled = true;
          // The body gets 10 s of its own, however slowly it trickles in.
          request_deadline = Clock::now() + kHeaderTimeout;
          state.deadline = request_deadline;
          if (!parser.is_done() &&
              beast::iequals(parser.get()[http::field::expect], "100-continue")) {
            out.append("HTTP/1.1 100 Continue\r\n\r\n");
          }
        }
        if (parser.is_done()) break;
        if (!ec && used > 0 && buffer.size() > 0) continue;
      }
      // Waiting for the client: first send what is ready.
      if (!out.empty() && !co_await flush(stream, state, out)) co_return;
      if (!begun) {
        state.idle = true;
        if (app.draining) co_return;
        state.deadline = Clock::now() + kIdleTimeout;
      } else {
        state.deadline = request_deadline;  // a flush above set the write deadline
      }
      // Errors end the connection: the client left, the sweeper closed it at its deadline,
      // or drain() cancelled an idle read.
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(kReadChunk),
                                                     net::as_tuple(net::use_awaitable));
      if (ec) co_return;
      buffer.commit(n);
    }

    auto& message = parser.get();
    Request request = base;
    request.method = std::string(message.method_string());
    const std::string_view target = message.target();
    request.path = std::string(target.substr(0, target.find('?')));
    request.headers.reserve(8);
    for (const auto& field : message) {
      request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    const auto given_id = request.header("x-request-id");
    request.request_id =
        given_id && acceptable_request_id(*given_id) ? std::string(*given_id) : make_request_id();
    const bool keep_alive = message.keep_alive();
    const bool http10 = message.version() == 10;

    // No deadline while the handler runs: hashing and SQL bound their own waits.
    state.deadline = Clock::time_point::max();
    app.hashes.note_activity();
    Handled handled = co_await handle_request(app, request);
    Response& response = handled.response;
    const bool close = response.close || !keep_alive || app.draining;
    const WireHead head{request.request_id, close, http10 && !close};

    if (response.file) {
      if (!co_await send_file(stream, state, out, response, head, app.file_readers)) co_return;
    } else {
      append_response(out, response, head);
    }
    const auto elapsed = Clock::now() - started;
    app.metrics.observe(handled.route, response.status, elapsed);
    app.log.request({request.request_id, request.method, handled.name, response.status, elapsed,
                     request.peer_text});

    if (close) {
      co_await flush(stream, state, out);
      co_return;
    }
    if (out.size() >= kFlushAt && !co_await flush(stream, state, out)) co_return;
  }
}

}  // namespace authd::server
