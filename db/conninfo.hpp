#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

struct pg_conn;

namespace authd::db {

using ConnSettings = std::vector<std::pair<std::string, std::string>>;

// What authd adds to every connection string that does not set it: TCP keepalives and a TCP
// user timeout (a server that vanished without closing its sockets is noticed within seconds),
// and a read-write server (with several hosts libpq skips a standby or a demoted primary).
const ConnSettings& default_conn_settings();

// The keywords a connection string (a postgresql:// URL or "host=... dbname=...") sets, as
// libpq parses it, followed by the defaults above that it leaves unset. Empty when libpq cannot
// parse it.
std::optional<ConnSettings> conn_settings(const std::string& conninfo);

// The same as one keyword string (values quoted as libpq reads them), for libpqxx; the string
// itself when libpq cannot parse it, so connecting fails as it would have.
std::string conninfo_with_defaults(const std::string& conninfo);

// PQconnectdbParams with those settings (blocking). Never null.
pg_conn* connect_with_defaults(const std::string& conninfo);

}  // namespace authd::db
