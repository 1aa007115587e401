#include "cli/exit_codes.hpp"

#include <gtest/gtest.h>

#include "cli/backup_watch.hpp"
#include "cli/check_config.hpp"

namespace rtjobs::cli {
namespace {

TEST(ExitCodeForStatus, EachKindOfAnswerHasItsCode) {
  EXPECT_EQ(exit_code_for_status(200), kOk);
  EXPECT_EQ(exit_code_for_status(202), kOk);
  EXPECT_EQ(exit_code_for_status(400), kUsage);
  EXPECT_EQ(exit_code_for_status(422), kUsage);
  EXPECT_EQ(exit_code_for_status(401), kAuth);
  EXPECT_EQ(exit_code_for_status(403), kAuth);
  EXPECT_EQ(exit_code_for_status(404), kNotFound);
  EXPECT_EQ(exit_code_for_status(405), kNotFound);
  EXPECT_EQ(exit_code_for_status(409), kConflict);
  EXPECT_EQ(exit_code_for_status(500), kUnavailable);
  EXPECT_EQ(exit_code_for_status(503), kUnavailable);
  EXPECT_EQ(exit_code_for_status(302), kUnavailable);  // not the API's answer
}

TEST(ExitCodes, AreDistinctAndStable) {
  // Scripts rely on these numbers (README, Operator CLI).
  EXPECT_EQ(kOk, 0);
  EXPECT_EQ(kFailed, 1);
  EXPECT_EQ(kUsage, 2);
  EXPECT_EQ(kNotFound, 3);
  EXPECT_EQ(kConflict, 4);
  EXPECT_EQ(kAuth, 5);
  EXPECT_EQ(kUnavailable, 6);
}

TEST(DescribeHttpError, NamesStatusCodeMessageAndField) {
  EXPECT_EQ(describe_http_error(
                409, R"({"error":{"code":"job_not_failed","message":"the job is not FAILED"}})"),
            "the server answered HTTP 409 job_not_failed: the job is not FAILED");
  EXPECT_EQ(describe_http_error(
                400, R"({"error":{"code":"invalid_argument","message":"bad","field":"id"}})"),
            "the server answered HTTP 400 invalid_argument: bad (id)");
}

TEST(DescribeHttpError, A401SaysWhereTheTokenComesFrom) {
  EXPECT_EQ(describe_http_error(
                401, R"({"error":{"code":"unauthorized","message":"missing or invalid token"}})"),
            "the server answered HTTP 401 unauthorized: missing or invalid token (check "
            "RT_API_TOKEN or --token)");
}

TEST(DescribeHttpError, AForeignBodyIsQuotedOnOneShortLine) {
  std::string html = "<html>\n<body>bad gateway</body>\n</html>" + std::string(300, 'x');
  std::string line = describe_http_error(502, html);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_TRUE(line.starts_with("the server answered HTTP 502: <html> <body>bad gateway"));
  EXPECT_TRUE(line.ends_with("..."));
  EXPECT_LT(line.size(), 200u);
  EXPECT_EQ(describe_http_error(503, ""), "the server answered HTTP 503");
}

TEST(JudgeProbe, CredentialsAcceptedRefusedOrUnconfirmed) {
  EXPECT_TRUE(judge_probe({}).ok);  // nothing to probe (the sandbox)
  EXPECT_EQ(judge_probe({}).text, "not probed (no remote API)");
  ProbeVerdict v = judge_probe({true, 404, {}});
  EXPECT_TRUE(v.ok);
  EXPECT_EQ(v.text, "reachable, credentials accepted (HTTP 404)");
  EXPECT_TRUE(judge_probe({true, 200, {}}).ok);
  v = judge_probe({true, 401, {}});
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.text, "reachable, credentials refused (HTTP 401)");
  EXPECT_FALSE(judge_probe({true, 403, {}}).ok);
  EXPECT_FALSE(judge_probe({true, 500, {}}).ok);
  v = judge_probe({true, std::nullopt, "Connection refused"});
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.text, "unreachable: Connection refused");
}

TEST(UrlOrigin, DropsUserInformationAndPath) {
  EXPECT_EQ(url_origin("https://user:secret@bank.example:8443/v1/x?k=1"),
            "https://bank.example:8443");
  EXPECT_EQ(url_origin("http://127.0.0.1:4000"), "http://127.0.0.1:4000");
}

TEST(BackupProgress, BarFollowsThePhasesAndTheDeletedShare) {
  nlohmann::json run = {{"status", "running"},
                        {"phase", "starting"},
                        {"progress", {{"job_rows", 0}, {"deleted_job_rows", 0}}}};
  EXPECT_EQ(progress_bar(run, 12), "[------------]");
  run["phase"] = "upload";
  EXPECT_EQ(progress_bar(run, 12), "[####--------]");
  run["phase"] = "delete";
  run["progress"] = {{"job_rows", 100}, {"deleted_job_rows", 50}};
  EXPECT_EQ(progress_bar(run, 12), "[#########---]");
  run["status"] = "succeeded";
  run["phase"] = "done";
  EXPECT_EQ(progress_bar(run, 12), "[############]");
  EXPECT_EQ(progress_text(run),
            "done: 100 job rows, 0 provider statuses, 0 B uploaded, 50 deleted");
}

}  // namespace
}  // namespace rtjobs::cli
