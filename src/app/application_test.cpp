#include "app/application.hpp"

#include <gtest/gtest.h>

namespace rtjobs {
namespace {

TEST(CheckExposure, LoopbackNeedsNoToken) {
  Config c;
  c.listen_host = "127.0.0.1";
  EXPECT_TRUE(check_exposure(c));
  c.listen_host = "::1";
  EXPECT_TRUE(check_exposure(c));
  c.listen_host = "localhost";
  EXPECT_TRUE(check_exposure(c));
}

TEST(CheckExposure, OtherAddressesNeedAToken) {
  Config c;
  c.listen_host = "0.0.0.0";
  auto r = check_exposure(c);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "RT_API_TOKEN");
  EXPECT_NE(r.error().message.find("RT_LISTEN"), std::string::npos);
  c.api_token = std::string("t");  // not = "t": GCC bug 105329 (-Wrestrict) at -O3
  EXPECT_TRUE(check_exposure(c));
}

TEST(Application, ServesOnAnEphemeralPortAndStops) {
  Config c;
  c.database_url = "sqlite://" + ::testing::TempDir() + "/rtjobs-app-test.db";
  c.backup_url = "file://" + ::testing::TempDir() + "/rtjobs-app-test-backups";
  c.listen_port = 0;
  auto app = Application::start(c);
  ASSERT_TRUE(app) << app.error().message;
  EXPECT_NE((*app)->port(), 0);
  (*app)->stop(std::chrono::milliseconds(500));
}

TEST(Application, ReportsAnUnopenableDatabase) {
  Config c;
  c.database_url = "sqlite:///nonexistent/dir/x.db";
  c.listen_port = 0;
  auto app = Application::start(c);
  ASSERT_FALSE(app);
  EXPECT_NE(app.error().message.find("database"), std::string::npos);
}

}  // namespace
}  // namespace rtjobs
