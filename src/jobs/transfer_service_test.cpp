#include "jobs/transfer_service.hpp"

#include <gtest/gtest.h>

#include "baas/sandbox_provider.hpp"
#include "jobs/test_fixture.hpp"

namespace rtjobs::jobs_test {
namespace {

// A bank adapter that records what it was asked to check and refuses with `refusal`, if set.
class CheckingProvider final : public Provider {
 public:
  std::string_view name() const override { return "bank"; }
  std::chrono::milliseconds timeout() const override { return std::chrono::seconds(1); }
  Result<void> check_transfer(const TransferSpec& spec) const override {
    ++checks;
    rail = spec.rail;
    options = std::string(spec.provider_options);
    amount = spec.amount;
    destination = std::string(spec.destination_account);
    if (refusal) return std::unexpected(*refusal);
    return {};
  }
  void execute(TransferRequest, std::function<void(TransferResult)> done) override {
    done(TransferResult{Outcome::kSucceeded, 201, "ref", {}, {}, {}});
  }

  std::optional<Error> refusal;
  mutable int checks = 0;
  mutable Rail rail = Rail::kBook;
  mutable std::string options;
  mutable int64_t amount = 0;
  mutable std::string destination;
};

// The "bank" provider above and the sandbox (whose check is the default one).
class TransferServiceTest : public JobsTest {
 protected:
  void SetUp() override {
    JobsTest::SetUp();
    bank_ = add_provider(std::make_unique<CheckingProvider>());
    add_provider(std::make_unique<SandboxProvider>("sandbox"));
    service_ = std::make_unique<TransferService>(*store_, providers_, calendars_, clock_, 2);
  }

  size_t stored_transfers() { return store_->list_transfers({}).value().data.size(); }

  CheckingProvider* bank_ = nullptr;
  std::unique_ptr<TransferService> service_;
};

TEST_F(TransferServiceTest, StoresTheRailAndProviderOptionsTheProviderAccepted) {
  auto created = service_->create(ach_transfer("bank"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(bank_->checks, 1);
  EXPECT_EQ(bank_->rail, Rail::kAch);
  EXPECT_EQ(bank_->options, R"({"sec_code":"PPD"})");
  EXPECT_EQ(bank_->amount, 5000);
  EXPECT_EQ(bank_->destination, "counterparty-1");
  auto stored = store_->get_transfer(created->transfer.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_EQ((*stored)->rail, Rail::kAch);
  EXPECT_EQ((*stored)->provider_options, R"({"sec_code":"PPD"})");
}

TEST_F(TransferServiceTest, TheProvidersRefusalComesBackUnchangedAndNothingIsStored) {
  bank_->refusal = Error{ErrorCode::kInvalidArgument,
                         "sec_code must be PPD, CCD or WEB",
                         "provider_options.sec_code",
                         {}};
  auto created = service_->create(ach_transfer("bank"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(created.error().field, "provider_options.sec_code");
  EXPECT_EQ(created.error().message, "sec_code must be PPD, CCD or WEB");
  EXPECT_EQ(stored_transfers(), 0u);
}

TEST_F(TransferServiceTest, AProviderThatCannotCarryTheRailRefusesItNamingRail) {
  NewTransfer t = ach_transfer("sandbox");  // the default check: book, no provider_options
  t.provider_options.reset();
  auto created = service_->create(t);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(created.error().field, "rail");
  t.rail = Rail::kBook;
  t.provider_options = "{}";
  created = service_->create(t);
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().field, "provider_options");
  t.provider_options.reset();
  created = service_->create(t);
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->transfer.rail, Rail::kBook);
  EXPECT_FALSE(created->transfer.provider_options);
}

TEST_F(TransferServiceTest, AnUnknownProviderIsRefusedBeforeAnyCheck) {
  auto created = service_->create(ach_transfer("nobody"));
  ASSERT_FALSE(created);
  EXPECT_EQ(created.error().field, "provider");
  EXPECT_EQ(bank_->checks, 0);
}

}  // namespace
}  // namespace rtjobs::jobs_test
