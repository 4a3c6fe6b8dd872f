#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include <pqxx/nontransaction>

#include "backup/backups.hpp"
#include "tests/support/pg.hpp"
#include "tests/support/temp_dir.hpp"

using namespace authd;
namespace fs = std::filesystem;

namespace {

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t backup_rows(pqxx::connection& c) {
  pqxx::nontransaction tx(c);
  return tx.exec("SELECT count(*) FROM backups")[0][0].as<std::size_t>();
}

}  // namespace

TEST_CASE("a backup never writes through a symbolic link planted at its temporary or final name",
          "[pg][backup][backup_limits]") {
  const std::string url = test::fresh_database_url();
  const test::TempDir dir("authd-test-links-");
  const test::TempDir elsewhere("authd-test-victim-");
  const std::string victim = elsewhere.file("victim");
  std::ofstream(victim) << "keep me";
  backup::BackupService service(url, dir.path(), {30, std::chrono::seconds(60), [] {
                                                    return std::string("users-fixed.csv");
                                                  }});
  pqxx::connection metadata(url);

  for (const std::string planted : {".users-fixed.csv.tmp", "users-fixed.csv"}) {
    INFO(planted);
    REQUIRE(::symlink(victim.c_str(), dir.file(planted).c_str()) == 0);
    CHECK_THROWS(service.create(metadata));
    CHECK(read_whole(victim) == "keep me");
    CHECK(fs::is_symlink(dir.file(planted)));  // left as it was, not replaced
    CHECK(dir.entries() == std::vector<std::string>{planted});
    CHECK(backup_rows(metadata) == 0);
    REQUIRE(::unlink(dir.file(planted).c_str()) == 0);
  }

  // With the way clear, the same name is written, owner-only.
  const auto info = service.create(metadata);
  CHECK(info.file == "users-fixed.csv");
  struct stat file {};
  REQUIRE(::lstat(dir.file("users-fixed.csv").c_str(), &file) == 0);
  CHECK(S_ISREG(file.st_mode));
  CHECK((file.st_mode & 07777) == 0600);
  CHECK(read_whole(victim) == "keep me");
  CHECK(backup_rows(metadata) == 1);
}
