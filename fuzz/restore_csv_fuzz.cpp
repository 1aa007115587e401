// The CSV reader of `rtjobs restore` (backup/csv.hpp, backup_tables.hpp): a fuzzed file read as
// the restore's check pass reads it (header row, then each record checked as a row of its
// table). The first byte sets the size of the chunks the file is fed in. Invariants:
//   - the records do not depend on how the file is cut into chunks;
//   - every record written back as CSV (append_record) reads back as itself, NULL and "" apart;
//   - a refusal names a line;
//   - a row restore_row accepts, written back under its table's own header, is accepted again
//     as the same values: the stored forms are canonical.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "backup/backup_tables.hpp"
#include "backup/csv.hpp"
#include "fuzz_check.hpp"

namespace {

using rtjobs::csv::Record;

struct Parsed {
  std::vector<Record> records;
  std::optional<rtjobs::Error> error;
};

Parsed parse(std::string_view text, size_t chunk) {
  Parsed out;
  rtjobs::csv::CsvParser parser([&](Record& r) -> rtjobs::Result<void> {
    out.records.push_back(r);
    return {};
  });
  rtjobs::Result<void> r;
  for (size_t i = 0; r && i < text.size(); i += chunk) r = parser.feed(text.substr(i, chunk));
  if (r) r = parser.finish();
  if (!r) out.error = r.error();
  FUZZ_CHECK(parser.records() == static_cast<int64_t>(out.records.size()));
  return out;
}

std::string as_csv(const Record& record) {
  std::vector<std::optional<std::string_view>> fields;
  for (const auto& f : record)
    fields.emplace_back(f ? std::optional<std::string_view>(*f) : std::nullopt);
  std::string out;
  rtjobs::csv::append_record(out, fields);
  return out;
}

Record as_record(const rtjobs::BackupStore::Row& row) {
  Record out;
  for (const auto& v : row) {
    if (const auto* i = std::get_if<int64_t>(&v)) {
      out.emplace_back(std::to_string(*i));
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      out.emplace_back(*s);
    } else {
      out.emplace_back(std::nullopt);
    }
  }
  return out;
}

// The check pass over the records: what restore would load.
void check_rows(const std::vector<Record>& records) {
  if (records.empty()) return;
  auto layout = rtjobs::backup::layout_for_header(records[0]);
  if (!layout) return;
  const auto& spec = rtjobs::backup::table_spec(layout->table);
  std::string header;
  rtjobs::backup::append_header(spec, header);
  for (size_t i = 1; i < records.size(); ++i) {
    auto row = rtjobs::backup::restore_row(*layout, records[i]);
    if (!row) {
      FUZZ_CHECK(!row.error().field.empty() && !row.error().message.empty());
      continue;
    }
    FUZZ_CHECK(row->size() == spec.columns.size());
    FUZZ_CHECK(!rtjobs::backup::restore_order_key(layout->table, *row).empty());
    // Written back as a backup of one row, under the table's own header.
    Parsed again = parse(header + as_csv(as_record(*row)), 4096);
    FUZZ_CHECK(!again.error && again.records.size() == 2);
    auto own_layout = rtjobs::backup::layout_for_header(again.records[0]);
    FUZZ_CHECK(own_layout && own_layout->table == layout->table);
    auto row_again = rtjobs::backup::restore_row(*own_layout, again.records[1]);
    FUZZ_CHECK(row_again.has_value());
    FUZZ_CHECK(*row_again == *row);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 1 + data[0] % 64;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);

  Parsed whole = parse(text, text.size() + 1);
  Parsed cut = parse(text, chunk);
  FUZZ_CHECK(whole.records == cut.records);
  FUZZ_CHECK(whole.error.has_value() == cut.error.has_value());
  if (whole.error) {
    FUZZ_CHECK(whole.error->message == cut.error->message);
    FUZZ_CHECK(whole.error->message.find("line ") != std::string::npos);
  }

  for (const Record& record : whole.records) {
    Parsed again = parse(as_csv(record), 4096);
    FUZZ_CHECK(!again.error && again.records.size() == 1);
    // A record of one NULL field is an empty line, which reads as one NULL field too.
    FUZZ_CHECK(again.records[0] == record);
  }
  check_rows(whole.records);
  return 0;
}
