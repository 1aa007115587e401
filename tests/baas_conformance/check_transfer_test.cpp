// Provider::check_transfer, run when a transfer is created: what each bank's rail needs in
// provider_options, named by field (SPEC section 8: 400 with field provider_options.<name>).
#include "conformance.hpp"

namespace rtjobs::baas_conformance {
namespace {

TEST_P(BankConformance, ValidTransfersPassTheCheck) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    const TransferRequest t = request(r);
    const auto checked = provider_->check_transfer(spec(t));
    EXPECT_TRUE(checked) << checked.error().field << ": " << checked.error().message;
  }
}

TEST_P(BankConformance, AnAchWithoutItsRequiredOptionIsRefusedNamingIt) {
  TransferRequest t = request(Rail::kAch);
  t.provider_options.clear();
  // Longer than an ACH company entry description (10), which Unit would otherwise use.
  t.description = "monthly rent payment";
  const auto checked = provider_->check_transfer(spec(t));
  ASSERT_FALSE(checked);
  EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(checked.error().field, bank().missing_ach_option) << checked.error().message;
}

TEST_P(BankConformance, AnUnknownOptionIsRefusedNamingIt) {
  for (Rail r : kRails) {
    SCOPED_TRACE(std::string(to_string(r)));
    TransferRequest t = request(r);
    json options = t.provider_options.empty() ? json::object() : json::parse(t.provider_options);
    options["colour"] = "blue";
    t.provider_options = options.dump();
    const auto checked = provider_->check_transfer(spec(t));
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().code, ErrorCode::kInvalidArgument);
    EXPECT_EQ(checked.error().field, "provider_options.colour") << checked.error().message;
  }
}

}  // namespace
}  // namespace rtjobs::baas_conformance
