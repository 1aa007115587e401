// decide_settlement (settlement_rules.hpp): what a bank's word about a followed transfer does to
// its job, as a table of cases, then the return rules (re-presentment, the pause on an
// account-level return) one by one.
#include "store/settlement_rules.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/time_format.hpp"

namespace rtjobs::store_detail {
namespace {

using namespace std::chrono_literals;

const Timestamp kDue = *parse_timestamp("2026-03-10T09:00:00.000Z");
const Timestamp kNow = kDue + 48h;
const std::string kStatusId = "0194d3a0-0000-7000-8000-0000000000aa";

// A job the bank accepted (FINISHED SUCCEEDED under reference "ref-1") whose settlement is
// `settlement` (absent: final at once), as each current state leaves it.
Job accepted(std::optional<SettlementStatus> settlement) {
  Job j;
  j.id = "0194d3a0-0000-7000-8000-000000000001";
  j.recurring_transfer_id = "0194d3a0-0000-7000-8000-000000000002";
  j.sequence = 3;
  j.due_at = kDue;
  j.status = JobStatus::kFinished;
  j.result = JobResult::kSucceeded;
  j.retries = 1;
  j.provider = "bank-a";
  j.idempotency_key = "key";
  j.provider_reference = "ref-1";
  j.bank_status = "PENDING";
  j.finished_at = kDue + 1s;
  j.updated_at = kDue + 1s;
  j.settlement_status = settlement;
  if (settlement == SettlementStatus::kPending) j.settlement_check_at = kDue + 1h;
  if (settlement == SettlementStatus::kSettled) j.settled_at = kDue + 2h;
  if (settlement == SettlementStatus::kReturned) {
    j.result = JobResult::kReturned;
    j.return_code = "R10";
  }
  if (settlement == SettlementStatus::kCanceled) j.result = JobResult::kDeclined;
  return j;
}

SettlementUpdate update(SettlementStatus settlement) {
  SettlementUpdate u;
  u.provider = "bank-a";
  u.reference = "ref-1";
  u.settlement = settlement;
  u.bank_status = "BANK_SAYS";
  u.now = kNow;
  u.http_status = 200;
  u.response_body = R"({"status":"x"})";
  u.message = "from the bank";
  if (settlement == SettlementStatus::kReturned) u.return_code = "R10";
  if (settlement == SettlementStatus::kSettled) u.settled_at = kNow - 1h;
  if (settlement == SettlementStatus::kPending) u.next_check_at = kNow + 1h;
  return u;
}

SettlementUpdate returned(std::string code) {
  SettlementUpdate u = update(SettlementStatus::kReturned);
  u.return_code = std::move(code);
  return u;
}

std::string name(const std::optional<SettlementStatus>& s) {
  return s ? std::string(to_string(*s)) : "null";
}

// --- The table: each settlement against each current state ---

// What a case should do: the outcome, and whether the job (and a provider-status row) is
// written; `after` is the job's settlement afterwards when written.
struct Case {
  std::optional<SettlementStatus> current;
  SettlementStatus incoming;
  SettlementOutcome outcome;
  bool writes_job;
  bool writes_status;
  std::optional<SettlementStatus> after;
};

constexpr auto P = SettlementStatus::kPending;
constexpr auto S = SettlementStatus::kSettled;
constexpr auto R = SettlementStatus::kReturned;
constexpr auto C = SettlementStatus::kCanceled;
constexpr auto U = SettlementStatus::kUnknown;
constexpr auto kApplied = SettlementOutcome::kApplied;
constexpr auto kUnchanged = SettlementOutcome::kUnchanged;

const std::vector<Case> kTable = {
    // Still pending: only a pending job takes it (its next look-up moves), nothing recorded.
    {std::nullopt, P, kUnchanged, false, false, std::nullopt},
    {P, P, kUnchanged, true, false, P},
    {U, P, kUnchanged, false, false, std::nullopt},
    {S, P, kUnchanged, false, false, std::nullopt},
    {R, P, kUnchanged, false, false, std::nullopt},
    {C, P, kUnchanged, false, false, std::nullopt},
    // Settled: forward from pending and unknown only.
    {std::nullopt, S, kUnchanged, false, false, std::nullopt},
    {P, S, kApplied, true, true, S},
    {U, S, kApplied, true, true, S},
    {S, S, kUnchanged, false, false, std::nullopt},
    {R, S, kUnchanged, false, false, std::nullopt},
    {C, S, kUnchanged, false, false, std::nullopt},
    // Returned: after anything but a return or a cancel (ACH returns come after settlement).
    {std::nullopt, R, kApplied, true, true, R},
    {P, R, kApplied, true, true, R},
    {U, R, kApplied, true, true, R},
    {S, R, kApplied, true, true, R},
    {R, R, kUnchanged, false, false, std::nullopt},
    {C, R, kUnchanged, false, false, std::nullopt},
    // Canceled: as a return, the job becomes DECLINED.
    {std::nullopt, C, kApplied, true, true, C},
    {P, C, kApplied, true, true, C},
    {U, C, kApplied, true, true, C},
    {S, C, kApplied, true, true, C},
    {R, C, kUnchanged, false, false, std::nullopt},
    {C, C, kUnchanged, false, false, std::nullopt},
    // Unknown (the follow window ran out): only from pending.
    {std::nullopt, U, kUnchanged, false, false, std::nullopt},
    {P, U, kApplied, true, true, U},
    {U, U, kUnchanged, false, false, std::nullopt},
    {S, U, kUnchanged, false, false, std::nullopt},
    {R, U, kUnchanged, false, false, std::nullopt},
    {C, U, kUnchanged, false, false, std::nullopt},
};

TEST(DecideSettlement, EachSettlementAgainstEachCurrentState) {
  for (const Case& c : kTable) {
    SCOPED_TRACE(name(c.current) + " <- " + std::string(to_string(c.incoming)));
    const Job before = accepted(c.current);
    SettlementDecision d =
        decide_settlement(before, TransferStatus::kActive, update(c.incoming), kStatusId);
    EXPECT_EQ(d.outcome, c.outcome);
    EXPECT_EQ(d.job.has_value(), c.writes_job);
    EXPECT_EQ(d.provider_status.has_value(), c.writes_status);
    EXPECT_FALSE(d.pause_reason);
    if (!d.job) continue;
    const Job& j = *d.job;
    EXPECT_EQ(j.settlement_status, c.after);
    EXPECT_EQ(j.bank_status, "BANK_SAYS");
    EXPECT_EQ(j.updated_at, kNow);
    EXPECT_EQ(j.provider_reference, "ref-1");
    EXPECT_EQ(j.presentment, 0);
    switch (c.incoming) {
      case SettlementStatus::kPending:
        EXPECT_EQ(j.status, JobStatus::kFinished);
        EXPECT_EQ(j.result, JobResult::kSucceeded);
        EXPECT_EQ(j.settlement_check_at, kNow + 1h);
        break;
      case SettlementStatus::kUnknown:
        EXPECT_EQ(j.result, JobResult::kSucceeded);
        EXPECT_FALSE(j.settlement_check_at);
        EXPECT_EQ(d.provider_status->code, "settlement_unknown");
        break;
      case SettlementStatus::kSettled:
        EXPECT_EQ(j.status, JobStatus::kFinished);
        EXPECT_EQ(j.result, JobResult::kSucceeded);
        EXPECT_EQ(j.settled_at, kNow - 1h);
        EXPECT_FALSE(j.settlement_check_at);
        EXPECT_EQ(d.provider_status->code, "settled");
        break;
      case SettlementStatus::kReturned:
        EXPECT_EQ(j.status, JobStatus::kFinished);
        EXPECT_EQ(j.result, JobResult::kReturned);
        EXPECT_EQ(j.return_code, "R10");
        EXPECT_EQ(j.finished_at, before.finished_at);
        EXPECT_FALSE(j.settlement_check_at);
        // A return after a settlement keeps when it settled.
        EXPECT_EQ(j.settled_at, before.settled_at);
        EXPECT_EQ(d.provider_status->code, "R10");
        ASSERT_TRUE(j.last_error);
        EXPECT_NE(j.last_error->find("R10"), std::string::npos) << *j.last_error;
        break;
      case SettlementStatus::kCanceled:
        EXPECT_EQ(j.status, JobStatus::kFinished);
        EXPECT_EQ(j.result, JobResult::kDeclined);
        EXPECT_FALSE(j.return_code);
        EXPECT_EQ(d.provider_status->code, "canceled");
        ASSERT_TRUE(j.last_error);
        EXPECT_NE(j.last_error->find("canceled"), std::string::npos) << *j.last_error;
        break;
    }
  }
}

TEST(DecideSettlement, ThePendingBanksStatusMovesTheNextLookUpOnly) {
  Job before = accepted(SettlementStatus::kPending);
  SettlementUpdate u = update(SettlementStatus::kPending);
  u.bank_status = "";  // the bank said nothing new: the job's status stays
  SettlementDecision d = decide_settlement(before, TransferStatus::kActive, u, kStatusId);
  ASSERT_TRUE(d.job);
  EXPECT_EQ(d.job->bank_status, "PENDING");
  EXPECT_EQ(d.job->settlement_check_at, kNow + 1h);
  EXPECT_EQ(d.job->last_error, before.last_error);

  // A webhook's pending news names no next look-up: the follower's stays.
  u = update(SettlementStatus::kPending);
  u.next_check_at.reset();
  d = decide_settlement(before, TransferStatus::kActive, u, kStatusId);
  ASSERT_TRUE(d.job);
  EXPECT_EQ(d.job->settlement_check_at, before.settlement_check_at);
  EXPECT_EQ(d.job->bank_status, "BANK_SAYS");
  // Nothing new at all: nothing to write.
  u.bank_status = before.bank_status.value();
  d = decide_settlement(before, TransferStatus::kActive, u, kStatusId);
  EXPECT_EQ(d.outcome, SettlementOutcome::kUnchanged);
  EXPECT_FALSE(d.job || d.provider_status);
}

TEST(DecideSettlement, TheProviderStatusRowRecordsTheBanksAnswer) {
  Job before = accepted(SettlementStatus::kPending);
  SettlementDecision d = decide_settlement(before, TransferStatus::kActive,
                                           update(SettlementStatus::kSettled), kStatusId);
  ASSERT_TRUE(d.provider_status);
  const ProviderStatus& row = *d.provider_status;
  EXPECT_EQ(row.id, kStatusId);
  EXPECT_EQ(row.job_id, before.id);
  EXPECT_EQ(row.recurring_transfer_id, before.recurring_transfer_id);
  EXPECT_EQ(row.provider, "bank-a");
  EXPECT_EQ(row.attempt, before.retries + 1);
  EXPECT_EQ(row.http_status, 200);
  EXPECT_EQ(row.code, "settled");
  EXPECT_EQ(row.message, "from the bank");
  EXPECT_EQ(row.response_body, R"({"status":"x"})");
  EXPECT_EQ(row.created_at, kNow);

  // A webhook without an HTTP answer of its own, and a canceled transfer with the bank's reason.
  SettlementUpdate canceled = update(SettlementStatus::kCanceled);
  canceled.http_status.reset();
  canceled.code = "account_closed";
  d = decide_settlement(before, TransferStatus::kActive, canceled, kStatusId);
  ASSERT_TRUE(d.provider_status && d.job);
  EXPECT_FALSE(d.provider_status->http_status);
  EXPECT_EQ(d.provider_status->code, "account_closed");
  EXPECT_EQ(d.job->result, JobResult::kDeclined);
  EXPECT_NE(d.job->last_error->find("from the bank"), std::string::npos);

  // A settlement without a date from the bank settles now.
  SettlementUpdate settled = update(SettlementStatus::kSettled);
  settled.settled_at.reset();
  d = decide_settlement(before, TransferStatus::kActive, settled, kStatusId);
  ASSERT_TRUE(d.job);
  EXPECT_EQ(d.job->settled_at, kNow);
}

TEST(DecideSettlement, OnlyAJobTheBankAcceptedIsFollowed) {
  struct NotAccepted {
    JobStatus status;
    std::optional<JobResult> result;
  };
  const std::vector<NotAccepted> cases = {
      {JobStatus::kPending, std::nullopt},    {JobStatus::kInFly, std::nullopt},
      {JobStatus::kProcessing, std::nullopt}, {JobStatus::kRetry, std::nullopt},
      {JobStatus::kFailed, std::nullopt},     {JobStatus::kSkipped, std::nullopt},
      {JobStatus::kCancelled, std::nullopt},  {JobStatus::kFinished, JobResult::kDeclined},
  };
  for (const NotAccepted& n : cases) {
    SCOPED_TRACE(std::string(to_string(n.status)));
    Job j = accepted(std::nullopt);
    j.status = n.status;
    j.result = n.result;
    for (SettlementStatus s : {P, S, R, C, U}) {
      SettlementDecision d = decide_settlement(j, TransferStatus::kActive, update(s), kStatusId);
      EXPECT_EQ(d.outcome, SettlementOutcome::kNotFollowed) << to_string(s);
      EXPECT_FALSE(d.job || d.provider_status || d.pause_reason);
    }
  }
}

TEST(DecideSettlement, ANewsOfAReturnedTransferChangesNothingWhileItIsPresentedAgain) {
  // R01 presented again: the job is RETRY with the return it answers.
  Job j = accepted(SettlementStatus::kReturned);
  j.status = JobStatus::kRetry;
  j.result.reset();
  j.presentment = 1;
  for (SettlementStatus s : {P, S, R, C, U}) {
    SettlementDecision d = decide_settlement(j, TransferStatus::kActive, update(s), kStatusId);
    EXPECT_EQ(d.outcome, SettlementOutcome::kUnchanged) << to_string(s);
    EXPECT_FALSE(d.job || d.provider_status || d.pause_reason);
  }
}

TEST(DecideSettlement, AnEarlierPresentmentsReferenceChangesNothing) {
  for (std::optional<SettlementStatus> current :
       {std::optional<SettlementStatus>{}, std::optional(P), std::optional(U), std::optional(S)}) {
    Job j = accepted(current);
    j.provider_reference = "ref-2";  // presented again under a new transfer at the bank
    for (SettlementStatus s : {P, S, R, C, U}) {
      SettlementDecision d = decide_settlement(j, TransferStatus::kActive, update(s), kStatusId);
      EXPECT_EQ(d.outcome, SettlementOutcome::kUnchanged)
          << name(current) << " <- " << to_string(s);
      EXPECT_FALSE(d.job || d.provider_status || d.pause_reason);
    }
  }
  Job no_reference = accepted(P);
  no_reference.provider_reference.reset();
  EXPECT_FALSE(decide_settlement(no_reference, TransferStatus::kActive, update(S), kStatusId).job);
}

TEST(DecideSettlement, TheOrderOfArrivalNeverMovesAJobBack) {
  // returned, then a late settled and a late pending: still returned.
  Job j = accepted(P);
  auto apply = [&](SettlementStatus s) {
    SettlementDecision d = decide_settlement(j, TransferStatus::kActive, update(s), kStatusId);
    if (d.job) j = *d.job;
    return d.outcome;
  };
  EXPECT_EQ(apply(R), kApplied);
  EXPECT_EQ(apply(S), kUnchanged);
  EXPECT_EQ(apply(P), kUnchanged);
  EXPECT_EQ(j.settlement_status, R);
  EXPECT_EQ(j.result, JobResult::kReturned);
  EXPECT_FALSE(j.settled_at);

  // settled, then a late pending: settled; then a return: returned, keeping settled_at.
  j = accepted(P);
  EXPECT_EQ(apply(S), kApplied);
  EXPECT_EQ(apply(P), kUnchanged);
  EXPECT_EQ(apply(U), kUnchanged);
  EXPECT_EQ(j.settlement_status, S);
  EXPECT_EQ(apply(R), kApplied);
  EXPECT_EQ(j.settlement_status, R);
  EXPECT_EQ(j.settled_at, kNow - 1h);
}

// --- Re-presentment (R01, R09) ---

TEST(DecideSettlement, AnR01OrR09IsPresentedAgainUnderItsOwnKey) {
  for (const std::string code : {"R01", "R09"}) {
    SCOPED_TRACE(code);
    Job before = accepted(S);
    before.retries = 2;
    SettlementUpdate u = returned(code);
    u.represent_max = 2;
    u.represent_after = 72h;
    SettlementDecision d = decide_settlement(before, TransferStatus::kActive, u, kStatusId);
    EXPECT_EQ(d.outcome, SettlementOutcome::kRepresented);
    EXPECT_FALSE(d.pause_reason);
    ASSERT_TRUE(d.job && d.provider_status);
    const Job& j = *d.job;
    EXPECT_EQ(j.status, JobStatus::kRetry);
    EXPECT_FALSE(j.result);
    EXPECT_EQ(j.retries, 0);
    EXPECT_EQ(j.presentment, 1);
    EXPECT_EQ(j.next_attempt_at, kNow + 72h);
    EXPECT_FALSE(j.finished_at);
    EXPECT_EQ(j.settlement_status, R);
    EXPECT_EQ(j.return_code, code);
    EXPECT_EQ(bank_key(j), "key:r1");
    EXPECT_EQ(bank_key(before), "key");
    EXPECT_EQ(d.provider_status->code, code);
    EXPECT_EQ(d.provider_status->attempt, 3);
  }
}

TEST(DecideSettlement, ASecondPresentmentAndNoThird) {
  Job before = accepted(P);
  before.presentment = 1;
  SettlementUpdate u = returned("R01");
  u.represent_max = 2;
  SettlementDecision d = decide_settlement(before, TransferStatus::kActive, u, kStatusId);
  EXPECT_EQ(d.outcome, SettlementOutcome::kRepresented);
  ASSERT_TRUE(d.job);
  EXPECT_EQ(d.job->presentment, 2);
  EXPECT_EQ(bank_key(*d.job), "key:r2");
  EXPECT_EQ(d.job->next_attempt_at, kNow + u.represent_after);

  before.presentment = 2;  // presentment == represent_max: it stays returned
  d = decide_settlement(before, TransferStatus::kActive, u, kStatusId);
  EXPECT_EQ(d.outcome, kApplied);
  ASSERT_TRUE(d.job);
  EXPECT_EQ(d.job->status, JobStatus::kFinished);
  EXPECT_EQ(d.job->result, JobResult::kReturned);
  EXPECT_EQ(d.job->presentment, 2);
  EXPECT_EQ(d.job->finished_at, before.finished_at);
}

TEST(DecideSettlement, NoPresentmentWhenNotAllowed) {
  struct NoRepresent {
    std::string why;
    int represent_max;
    TransferStatus transfer;
    Timestamp now;
    std::string code;
  };
  const Timestamp window_end = kDue + 180 * 24h;
  const std::vector<NoRepresent> cases = {
      {"represent_max 0 (the default)", 0, TransferStatus::kActive, kNow, "R01"},
      {"transfer cancelled", 2, TransferStatus::kCancelled, kNow, "R01"},
      {"180 days after the due date", 2, TransferStatus::kActive, window_end, "R09"},
      {"long after", 2, TransferStatus::kActive, window_end + 24h, "R01"},
      {"not a funds return", 2, TransferStatus::kActive, kNow, "R10"},
  };
  for (const NoRepresent& n : cases) {
    SCOPED_TRACE(n.why);
    SettlementUpdate u = returned(n.code);
    u.represent_max = n.represent_max;
    u.now = n.now;
    SettlementDecision d = decide_settlement(accepted(P), n.transfer, u, kStatusId);
    EXPECT_EQ(d.outcome, kApplied);
    ASSERT_TRUE(d.job);
    EXPECT_EQ(d.job->status, JobStatus::kFinished);
    EXPECT_EQ(d.job->result, JobResult::kReturned);
    EXPECT_EQ(d.job->return_code, n.code);
    EXPECT_EQ(d.job->presentment, 0);
    EXPECT_FALSE(d.pause_reason);
  }
  // Just inside the window, and a PAUSED transfer: presented again.
  SettlementUpdate u = returned("R01");
  u.represent_max = 1;
  u.now = window_end - 1s;
  EXPECT_EQ(decide_settlement(accepted(P), TransferStatus::kPaused, u, kStatusId).outcome,
            SettlementOutcome::kRepresented);
}

// --- Account-level returns ---

TEST(DecideSettlement, AnAccountLevelReturnPausesAnActiveTransfer) {
  for (const std::string code : {"R02", "R03", "R04", "R16", "R20"}) {
    SCOPED_TRACE(code);
    EXPECT_TRUE(is_account_return(code));
    SettlementUpdate u = returned(code);
    u.represent_max = 2;  // no bearing on an account return
    SettlementDecision d = decide_settlement(accepted(P), TransferStatus::kActive, u, kStatusId);
    EXPECT_EQ(d.outcome, SettlementOutcome::kTransferPaused);
    EXPECT_EQ(d.pause_reason, "account_return:" + code);
    ASSERT_TRUE(d.job && d.provider_status);
    EXPECT_EQ(d.job->status, JobStatus::kFinished);
    EXPECT_EQ(d.job->result, JobResult::kReturned);
    EXPECT_EQ(d.job->return_code, code);
    EXPECT_EQ(d.provider_status->code, code);

    // Not when the transfer is not ACTIVE, nor without pause_on_account_return.
    for (TransferStatus t :
         {TransferStatus::kPaused, TransferStatus::kCancelled, TransferStatus::kCompleted}) {
      d = decide_settlement(accepted(P), t, u, kStatusId);
      EXPECT_EQ(d.outcome, kApplied) << to_string(t);
      EXPECT_FALSE(d.pause_reason);
      EXPECT_EQ(d.job->result, JobResult::kReturned);
    }
    u.pause_on_account_return = false;
    d = decide_settlement(accepted(P), TransferStatus::kActive, u, kStatusId);
    EXPECT_EQ(d.outcome, kApplied);
    EXPECT_FALSE(d.pause_reason);
    EXPECT_EQ(d.job->result, JobResult::kReturned);
  }
}

TEST(DecideSettlement, OtherReturnCodesOnlyReturnTheJob) {
  for (const std::string code : {"R10", "R05", "R29", "R01"}) {
    SCOPED_TRACE(code);
    EXPECT_FALSE(is_account_return(code));
    SettlementDecision d =
        decide_settlement(accepted(P), TransferStatus::kActive, returned(code), kStatusId);
    EXPECT_EQ(d.outcome, kApplied);
    EXPECT_FALSE(d.pause_reason);
    ASSERT_TRUE(d.job);
    EXPECT_EQ(d.job->status, JobStatus::kFinished);
    EXPECT_EQ(d.job->result, JobResult::kReturned);
    EXPECT_EQ(d.job->return_code, code);
  }
  EXPECT_TRUE(is_representable_return("R01"));
  EXPECT_TRUE(is_representable_return("R09"));
  EXPECT_FALSE(is_representable_return("R02"));
  EXPECT_FALSE(is_representable_return(""));
}

TEST(SettlementOutcome, HasANameForTheInbox) {
  EXPECT_EQ(to_string(SettlementOutcome::kApplied), "applied");
  EXPECT_EQ(to_string(SettlementOutcome::kRepresented), "represented");
  EXPECT_EQ(to_string(SettlementOutcome::kTransferPaused), "transfer_paused");
  EXPECT_EQ(to_string(SettlementOutcome::kUnchanged), "unchanged");
  EXPECT_EQ(to_string(SettlementOutcome::kNotFollowed), "not_followed");
  EXPECT_EQ(to_string(SettlementOutcome::kUnknownTransfer), "unknown_transfer");
}

}  // namespace
}  // namespace rtjobs::store_detail
