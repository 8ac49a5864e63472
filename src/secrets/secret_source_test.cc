#include "secrets/secret_source.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

namespace ramp::secrets {
namespace {

namespace fs = std::filesystem;

class SecretSourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "ramp-secrets-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  void Write(const std::string& name, const std::string& key, const std::string& value) {
    fs::create_directories(fs::path(dir_) / name);
    std::ofstream(fs::path(dir_) / name / key, std::ios::binary) << value;
  }
  SecretSourceOptions Options(bool with_dir = true) {
    SecretSourceOptions o;
    if (with_dir) o.secrets_dir = dir_;
    o.getenv = [this](const std::string& n) -> std::optional<std::string> {
      auto it = env_.find(n);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
    return o;
  }
  std::string dir_;
  std::map<std::string, std::string> env_;
};

TEST_F(SecretSourceTest, EnvName) {
  EXPECT_EQ(SecretEnvName("db", "password"), "RAMP_SECRET_DB_PASSWORD");
  EXPECT_EQ(SecretEnvName("my-db.prod", "api.key-1"), "RAMP_SECRET_MY_DB_PROD_API_KEY_1");
}

TEST_F(SecretSourceTest, DirectoryHitIsByteExact) {
  Write("db", "password", "s3cret\n");
  auto lookup = NewSecretLookup(Options());
  auto v = lookup("db", "password");
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(*v, "s3cret\n");
}

TEST_F(SecretSourceTest, EnvironmentHit) {
  env_["RAMP_SECRET_DB_PASSWORD"] = "from-env";
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(*v, "from-env");
}

TEST_F(SecretSourceTest, EnvironmentOnlyWithoutDirectory) {
  env_["RAMP_SECRET_DB_PASSWORD"] = "from-env";
  auto v = NewSecretLookup(Options(false))("db", "password");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "from-env");
}

TEST_F(SecretSourceTest, DirectoryWinsOverEnvironment) {
  Write("db", "password", "from-file");
  env_["RAMP_SECRET_DB_PASSWORD"] = "from-env";
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v, "from-file");
}

TEST_F(SecretSourceTest, MissingNamesBothPlaces) {
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kNotFound);
  EXPECT_EQ(v.error().message(), "secret \"db\" key \"password\" not found: no file " + dir_ +
                                     "/db/password and no environment variable "
                                     "RAMP_SECRET_DB_PASSWORD");
  auto w = NewSecretLookup(Options(false))("db", "password");
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message().find("no secrets directory configured"), std::string::npos);
  EXPECT_NE(w.error().message().find("RAMP_SECRET_DB_PASSWORD"), std::string::npos);
}

TEST_F(SecretSourceTest, TraversalRefused) {
  Write("db", "password", "x");
  auto lookup = NewSecretLookup(Options());
  for (auto [name, key] : std::vector<std::pair<std::string, std::string>>{{"..", "password"},
                                                                           {"db", ".."},
                                                                           {"../db", "password"},
                                                                           {"db", "../db/password"},
                                                                           {"a/b", "c"},
                                                                           {"", "k"},
                                                                           {"db", ""},
                                                                           {".", "password"}}) {
    auto v = lookup(name, key);
    ASSERT_FALSE(v.has_value()) << name << " " << key;
    EXPECT_EQ(v.error().code(), StatusCode::kInvalidArgument) << name << " " << key;
  }
}

TEST_F(SecretSourceTest, UnreadableFileIsAnErrorNotAFallback) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads any file";
  Write("db", "password", "x");
  env_["RAMP_SECRET_DB_PASSWORD"] = "from-env";
  fs::permissions(fs::path(dir_) / "db" / "password", fs::perms::none);
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(v.error().message().find("cannot read secret file"), std::string::npos);
  EXPECT_EQ(v.error().message().find("from-env"), std::string::npos);
}

TEST_F(SecretSourceTest, DirectoryInsteadOfFileIsAnError) {
  fs::create_directories(fs::path(dir_) / "db" / "password");
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kInternal);
}

TEST_F(SecretSourceTest, FifoIsRefusedWithoutBlocking) {
  fs::create_directories(fs::path(dir_) / "db");
  ASSERT_EQ(::mkfifo((fs::path(dir_) / "db" / "password").c_str(), 0600), 0);
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_FALSE(v.has_value());
  EXPECT_EQ(v.error().code(), StatusCode::kInternal);
  EXPECT_NE(v.error().message().find("not a regular file"), std::string::npos);
}

TEST_F(SecretSourceTest, EmptyValuesAreValues) {
  Write("db", "password", "");
  env_["RAMP_SECRET_DB_USER"] = "";
  auto lookup = NewSecretLookup(Options());
  auto p = lookup("db", "password");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, "");
  auto u = lookup("db", "user");
  ASSERT_TRUE(u.has_value());
  EXPECT_EQ(*u, "");
}

TEST_F(SecretSourceTest, SymlinkedKeyAsInKubernetesVolumes) {
  Write("db", "..data_password", "linked");
  fs::create_symlink("..data_password", fs::path(dir_) / "db" / "password");
  auto v = NewSecretLookup(Options())("db", "password");
  ASSERT_TRUE(v.has_value()) << v.error().ToString();
  EXPECT_EQ(*v, "linked");
}

}  // namespace
}  // namespace ramp::secrets
