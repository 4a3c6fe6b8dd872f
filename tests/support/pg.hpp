#pragma once

#include <string>

namespace authd::test {

// The server URL scripts/test exported (AUTHD_TEST_DATABASE_URL); the test fails without it.
std::string server_database_url();

// Creates an empty database with a unique name on that server and returns its URL. Dropped
// when the test process exits. With migrated, the schema is applied.
std::string fresh_database_url(bool migrated = true);

// The same URL with another database name.
std::string with_database(const std::string& url, const std::string& database);

}  // namespace authd::test
