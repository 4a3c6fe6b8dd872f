#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace authd::test {

// A new, empty directory under /tmp named prefix + random suffix; the caller owns it.
std::string make_temp_dir(std::string_view prefix);

// A temporary directory removed with everything in it when this goes.
class TempDir {
 public:
  explicit TempDir(std::string_view prefix = "authd-test-");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Every entry's name, hidden ones (a ".name.tmp" being written) included.
  std::vector<std::string> entries() const;

 private:
  std::string path_;
};

}  // namespace authd::test
