#include "server/file_stream.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

#include <boost/asio/async_result.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/problem.hpp"

namespace authd::server {

namespace net = boost::asio;

namespace {

constexpr std::size_t kFileChunk = 64 * 1024;

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

}  // namespace

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

net::awaitable<bool> send_file(net::thread_pool& readers, std::string& out, Response& response,
                               const WireHead& head,
                               const std::function<net::awaitable<bool>()>& flush) {
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
  if (head.head_only) co_return true;
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
    if (!co_await flush()) co_return false;
  }
  co_return true;
}

}  // namespace authd::server
