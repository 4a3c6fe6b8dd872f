#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "auth/imported_hash.hpp"
#include "auth/password.hpp"

using namespace authd::auth;

namespace {

// Made once with the reference implementations (werkzeug 2.2's generate_password_hash, hashlib
// for werkzeug 3's scrypt layout and Django's, python3-bcrypt, the argon2 command), password
// "correct horse" unless said otherwise.
const std::string kPassword = "correct horse";
const std::string kUnicodePassword = "pässwörd ünïcode 密码";

struct Vector {
  std::string hash;
  ImportedFormat format;
};

const std::vector<Vector> kVectors = {
    {"pbkdf2:sha256:1000$ecemtlJ76jAv3e3d$"
     "db157834d198e32c3c6c8d18571536b1193d235ee66434f8a63631663dfc32a1",
     ImportedFormat::werkzeug_pbkdf2},
    {"pbkdf2:sha512:1000$nxwFN7F7PU8NtfIC$"
     "68788aa306c1cae33d1de7992e2957fd413d7103d4bce02cfc886eda3ebbc78f79e71a78ba49ff127276f0d54d50"
     "f85ebebf0562014e3ec8713158d67ca30739",
     ImportedFormat::werkzeug_pbkdf2},
    {"pbkdf2:sha1:1000$cXWRTeH0G6Ys4oGc$c0768bd2a958c38da63d0c56d9b65cb7a98cf15a",
     ImportedFormat::werkzeug_pbkdf2},
    {"pbkdf2:sha256:260000$IrUrGFxmbk2wVN1a$"
     "e9909ed92ab327bfcb2f32317e7dd292af28a42501ef3fbe78bc95da9657092d",
     ImportedFormat::werkzeug_pbkdf2},
    // No count: werkzeug's default, 260000.
    {"pbkdf2:sha256$NaClsaltsalt1234$"
     "5c9ad8e020b54809e481e0d9fe59e456fb79baa3a614916bb7b1acdc78a79265",
     ImportedFormat::werkzeug_pbkdf2},
    {"scrypt:1024:8:1$NaClsaltsalt1234$"
     "1f13d8761432c2fde6ae9ca8553d199eac16883bdf937e33a3d4a1bb4a1d391c9941f48b4f97b089391a27d92208"
     "6a216bd054e8ed717822248c4c364bb868b7",
     ImportedFormat::werkzeug_scrypt},
    {"scrypt:16:1:16$NaClsaltsalt1234$"
     "50203a2e6c253e6dc7173992bc6036f0cfb64446a268eb93aef60ed1de860cabadb1baa48cf25e0e88dd098e89a5"
     "53286649a11463cd313bc3a09eeb4db89c11",
     ImportedFormat::werkzeug_scrypt},
    // No parameters: werkzeug's defaults, 32768:8:1.
    {"scrypt$NaClsaltsalt1234$"
     "f595f7228e3b437fe78412ad8a66e6df1487784c9285847407d0d2cbca5b157c1152addc61c66bf8d2df41687876"
     "83562a313920775e8cceaa32b8e3f5d38ecc",
     ImportedFormat::werkzeug_scrypt},
    {"pbkdf2_sha256$1000$djangosalt12$r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=",
     ImportedFormat::django_pbkdf2},
    {"pbkdf2_sha1$1000$djangosalt12$B9bjaGy/kjhwJt7upVjra6fYndE=", ImportedFormat::django_pbkdf2},
    {"$2b$04$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq", ImportedFormat::bcrypt},
    {"$2a$04$B63XiDqaK9ICqUaRDX74xec1cP9Ey4Al9lePS.C11CfIqqKXLN/Pe", ImportedFormat::bcrypt},
    {"$2y$04$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq", ImportedFormat::bcrypt},
    {"$argon2id$v=19$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$"
     "q8F0X2843XgHHBJHM+xjee0WFaiJEBtcRij4bL1xsv8",
     ImportedFormat::argon2id},
    {"$argon2i$v=19$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$"
     "hs8KYiYJQ8F1l0dfJxecDT0RMngzo55oIVwF6IYnE3g",
     ImportedFormat::argon2i},
    {"$argon2d$v=19$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$"
     "4o+w5uKl4Vlj/2dBynaO8E0DCTW0hvQhFO6pDUF2eLs",
     ImportedFormat::argon2d},
    // Version 16 (argon2 -v 10).
    {"$argon2i$v=16$m=1024,t=2,p=1$c2FsdHNhbHRzYWx0MTZieQ$"
     "lFsy+kx4I3CuI0c2oQvBNawWbUnZaHI4k0mS3D2d5mY",
     ImportedFormat::argon2i},
};

const std::vector<std::string> kUnicodeVectors = {
    "pbkdf2:sha256:1000$x7GwcOYhKAJUGQmJ$"
    "01b3c946a061b97d8fbb7471c4289049e5b4f8b044f0716ed4c85da10e759cbc",
    "$2b$04$wbnudF5S5OGdtBvzg7tgy.CPfbys9M9nMYC3mvfPcmZ.zZ9skSole",
    "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0MTZieQ$"
    "jKNmtjDF6blD+wmS0L4hAMnfhNX3elGckOmLFYGIzU0",
};

ImportedHash parsed(const std::string& text) {
  auto result = parse_imported(text);
  INFO(text);
  if (auto* reason = std::get_if<std::string>(&result)) FAIL(*reason);
  return std::get<ImportedHash>(result);
}

// The reason a text is refused, or "" when it parses.
std::string refusal(const std::string& text) {
  auto result = parse_imported(text);
  if (auto* reason = std::get_if<std::string>(&result)) return *reason;
  return "";
}

}  // namespace

TEST_CASE("imported hashes of every format verify the right password only", "[auth][import]") {
  for (const auto& vector : kVectors) {
    INFO(vector.hash);
    const ImportedHash hash = parsed(vector.hash);
    CHECK(hash.format == vector.format);
    CHECK(verify_imported(kPassword, hash));
    CHECK_FALSE(verify_imported("correct horsf", hash));
    CHECK_FALSE(verify_imported("", hash));
    CHECK_FALSE(verify_imported(kPassword + " ", hash));
  }
}

TEST_CASE("imported hashes of Unicode passwords verify their UTF-8 bytes", "[auth][import]") {
  for (const auto& text : kUnicodeVectors) {
    INFO(text);
    const ImportedHash hash = parsed(text);
    CHECK(verify_imported(kUnicodePassword, hash));
    CHECK_FALSE(verify_imported(kPassword, hash));
  }
}

TEST_CASE("a password with a NUL never matches an imported hash", "[auth][import]") {
  // bcrypt would read only "correct horse" from "correct horse\0x".
  const ImportedHash bcrypt = parsed(kVectors[10].hash);
  CHECK_FALSE(verify_imported(std::string("correct horse\0x", 15), bcrypt));
}

TEST_CASE("werkzeug parameters are read as werkzeug reads them", "[auth][import]") {
  const auto pbkdf2 = std::get<DerivedKeyHash>(parsed(kVectors[4].hash).params);
  CHECK(pbkdf2.digest == "sha256");
  CHECK(pbkdf2.cost == kWerkzeugDefaultIterations);
  CHECK(pbkdf2.salt == "NaClsaltsalt1234");
  CHECK(pbkdf2.key.size() == 32);
  const auto scrypt = std::get<DerivedKeyHash>(parsed(kVectors[7].hash).params);
  CHECK(scrypt.cost == 32768);
  CHECK(scrypt.r == 8);
  CHECK(scrypt.p == 1);
  const auto argon2 = std::get<Argon2Hash>(parsed(kVectors[13].hash).params);
  CHECK(argon2.memory_kib == 1024);
  CHECK(argon2.passes == 2);
  CHECK(argon2.lanes == 2);
  CHECK(argon2.version == 19);
  CHECK(std::get<BcryptHash>(parsed(kVectors[10].hash).params).cost == 4);
}

TEST_CASE("imported hashes at their bounds parse, past them they are refused", "[auth][import]") {
  const std::string key32(64, 'a');
  const std::string key64(128, 'a');
  CHECK(refusal("pbkdf2:sha256:10000000$salt$" + key32).empty());
  CHECK(refusal("pbkdf2:sha256:10000001$salt$" + key32) ==
        "werkzeug pbkdf2: iterations exceed 10,000,000");
  CHECK(refusal("pbkdf2:sha512:99999999999$salt$" + key64) ==
        "werkzeug pbkdf2: iterations exceed 10,000,000");

  CHECK(refusal("scrypt:1048576:16:16$salt$" + key64).empty());
  CHECK(refusal("scrypt:2097152:8:1$salt$" + key64) == "werkzeug scrypt: N exceeds 2^20");
  CHECK(refusal("scrypt:32768:17:1$salt$" + key64) == "werkzeug scrypt: r is not between 1 and 16");
  CHECK(refusal("scrypt:32768:8:17$salt$" + key64) == "werkzeug scrypt: p is not between 1 and 16");

  const std::string django_key = "r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=";
  CHECK(refusal("pbkdf2_sha256$10000000$salt$" + django_key).empty());
  CHECK(refusal("pbkdf2_sha256$10000001$salt$" + django_key) ==
        "django pbkdf2: iterations exceed 10,000,000");

  const std::string bcrypt_tail = "ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq";
  CHECK(refusal("$2b$15$" + bcrypt_tail).empty());
  CHECK(refusal("$2b$16$" + bcrypt_tail) == "bcrypt: the cost exceeds 15");
  CHECK(refusal("$2a$31$" + bcrypt_tail) == "bcrypt: the cost exceeds 15");

  const std::string argon2_tail =
      "$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+xjee0WFaiJEBtcRij4bL1xsv8";
  CHECK(refusal("$argon2id$v=19$m=262144,t=10,p=16" + argon2_tail).empty());
  CHECK(refusal("$argon2id$v=19$m=262145,t=3,p=4" + argon2_tail) ==
        "argon2: memory exceeds 262144 KiB");
  CHECK(refusal("$argon2i$v=19$m=65536,t=11,p=4" + argon2_tail) == "argon2: t exceeds 10");
  CHECK(refusal("$argon2d$v=19$m=65536,t=3,p=17" + argon2_tail) == "argon2: p exceeds 16");
}

TEST_CASE("malformed imported hashes are refused without repeating them", "[auth][import]") {
  const std::string key32(64, 'a');
  const std::vector<std::string> malformed = {
      "", "md5$salt$abc",
      "sha256$salt$" + key32,  // werkzeug's salted HMAC: not a password hash
      "plain$$secret", "pbkdf2$salt$" + key32, "pbkdf2:md5:1000$salt$" + std::string(32, 'a'),
      "pbkdf2:sha256:1000:5$salt$" + key32,
      "pbkdf2:sha256:$salt$" + key32,  // werkzeug: int('' or 0), which hashlib refuses
      "pbkdf2:sha256:0$salt$" + key32, "pbkdf2:sha256:-5$salt$" + key32,
      "pbkdf2:sha256:1e3$salt$" + key32,
      "pbkdf2:sha256:1000$$" + key32,  // no salt
      "pbkdf2:sha256:1000$salt$" + std::string(62, 'a'),
      "pbkdf2:sha256:1000$salt$" + std::string(64, 'A'),  // werkzeug compares lower-case text
      "pbkdf2:sha256:1000$salt$" + std::string(63, 'a') + "g",
      "pbkdf2:sha256:1000$salt$" + key32 + "$",
      "pbkdf2:sha256:1000$" + std::string(257, 's') + "$" + key32, "pbkdf2:sha256:1000$salt",
      "scrypt:1000:8:1$salt$" + std::string(128, 'a'),  // N not a power of 2
      "scrypt:1:8:1$salt$" + std::string(128, 'a'), "scrypt:16384:8$salt$" + std::string(128, 'a'),
      "scrypt:16384:0:1$salt$" + std::string(128, 'a'), "scrypt:16384:8:1$salt$" + key32,
      "pbkdf2_sha256$1000$salt$r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0",  // unpadded
      "pbkdf2_sha256$1000$salt$B9bjaGy/kjhwJt7upVjra6fYndE=",                 // a SHA-1 length
      "pbkdf2_sha256$1000$$r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=",
      "pbkdf2_sha256$abc$salt$r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=",
      "pbkdf2_sha256$0$salt$r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=",
      "pbkdf2_md5$1000$salt$r7D3MJNv9d92uxJe5RWAsOYbCmlIWkq7qbCiR092rl0=",
      "pbkdf2_sha256$1000$salt",
      "$2b$04$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgY",  // one short
      "$2b$04$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq!",
      "$2b$03$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq",
      "$2b$4$$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq",
      "$2b$04$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRs$Yq",
      "$2x$04$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq",
      "$argon2id$v=19$m=1024,t=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "$argon2id$v=19$t=2,m=1024,p=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "$argon2id$v=18$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "$argon2id$v=19$m=1024,t=0,p=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "$argon2id$v=19$m=8,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "$argon2id$v=19$m=1024,t=2,p=2$c2FsdA$q8F0X2843XgHHBJHM+xjee0WFaiJEBtcRij4bL1xsv8",  // 4-byte
                                                                                           // salt
      "$argon2id$v=19$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ==$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "$argon2id$v=19$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8$x",
      "$argon2id$v=19$m=1024,t=2,p=2,keyid=abc$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM",
      "$argon2x$v=19$m=1024,t=2,p=2$c2FsdHNhbHRzYWx0MTZieQ$q8F0X2843XgHHBJHM+"
      "xjee0WFaiJEBtcRij4bL1xsv8",
      "pbkdf2:sha256:1000$sa\nlt$" + key32, std::string("pbkdf2:sha256:1000$sa\0lt$", 25) + key32,
      "pbkdf2:sha256:1000$salt$" + std::string(600, 'a'),
      "$pbkdf2-sha256$i=1000$AAECAwQFBgcICQoLDA0ODw$AAECAwQFBgcICQoLDA0ODw",  // authd's own
  };
  for (const auto& text : malformed) {
    INFO(text);
    const std::string reason = refusal(text);
    CHECK_FALSE(reason.empty());
    if (text.size() > 8) CHECK(reason.find(text) == std::string::npos);
  }
}

TEST_CASE("stored hashes: authd's own or an imported one, else none", "[auth][import]") {
  const std::string own = hash_password(kPassword, 1000);
  const auto stored_own = parse_stored_hash(own);
  REQUIRE(stored_own);
  CHECK(std::holds_alternative<PasswordHash>(*stored_own));
  const auto stored_foreign = parse_stored_hash(kVectors[0].hash);
  REQUIRE(stored_foreign);
  CHECK(std::holds_alternative<ImportedHash>(*stored_foreign));
  CHECK_FALSE(parse_stored_hash("$2b$16$ax6OgIzXB3uoE6NfKIVTlupQeBpa9Ma5VtP7i7Dst1r4VqqNRsgYq"));
  CHECK_FALSE(parse_stored_hash("$pbkdf2-sha256$i=10000001$AAECAwQFBgcICQoLDA0ODw$" +
                                std::string(43, 'A')));
  CHECK_FALSE(parse_stored_hash("nonsense"));

  CHECK_FALSE(importable_hash_problem(own));
  CHECK_FALSE(importable_hash_problem(kVectors[13].hash));
  CHECK(
      importable_hash_problem("$pbkdf2-sha256$i=0$AAECAwQFBgcICQoLDA0ODw$AAECAwQFBgcICQoLDA0ODw"));
  CHECK(*importable_hash_problem("nonsense") == "not a known password hash format");
}
