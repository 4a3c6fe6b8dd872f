#include "db/cancel.hpp"

#include <libpq-fe.h>
#include <pthread.h>

#include <system_error>
#include <thread>

namespace authd::db {

void cancel_in_background(pg_conn* connection) {
  PGcancel* cancel = PQgetCancel(connection);
  if (cancel == nullptr) return;
  try {
    std::thread([cancel] {
      (void)::pthread_setname_np(::pthread_self(), "authd-pgcancel");
      char error[256];
      (void)PQcancel(cancel, error, sizeof(error));
      PQfreeCancel(cancel);
    }).detach();
  } catch (const std::system_error&) {
    PQfreeCancel(cancel);  // no thread: closing the connection ends the statement soon enough
  }
}

}  // namespace authd::db
