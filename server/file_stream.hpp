#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>

#include "server/http.hpp"
#include "server/wire.hpp"

// File bodies (backup downloads): read off the event loop, sent in chunks, never whole in memory.
namespace authd::server {

// pread() on one of the readers' threads, so a disk slow to answer never stalls an event loop;
// resumes on the caller's executor with the byte count (-1 on an error).
boost::asio::awaitable<ssize_t> read_elsewhere(boost::asio::thread_pool& readers, int fd,
                                               char* data, std::size_t length, off_t offset);

// Appends the head of response.file to out, then the file chunk by chunk, calling flush to send
// out after each chunk; a HEAD answer (head.head_only) gets the head alone. A file that has gone
// becomes a 410 in response and out. False when the connection cannot go on: flush failed or
// the file shrank under us.
boost::asio::awaitable<bool> send_file(boost::asio::thread_pool& readers, std::string& out,
                                       Response& response, const WireHead& head,
                                       const std::function<boost::asio::awaitable<bool>()>& flush);

}  // namespace authd::server
