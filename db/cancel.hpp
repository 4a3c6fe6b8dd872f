#pragma once

struct pg_conn;

namespace authd::db {

// Asks PostgreSQL to cancel what the connection is running. PQcancel blocks (it opens a
// connection of its own), so it runs on a short-lived thread of its own, never on the caller's,
// with its own copy of what it needs: the connection may be closed at once.
void cancel_in_background(pg_conn* connection);

}  // namespace authd::db
